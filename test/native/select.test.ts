// Backend selection: native by default when the addon loads, the reference when asked by name or by
// HALO_BACKEND, and E_ARG for an unknown name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/backend/select.ts';
import { nativeAvailable } from '../../src/backend/native/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { nativeTest, rawAddon } from './native-test.ts';

function withEnv<T>(value: string | undefined, fn: () => T): T {
  const old = process.env.HALO_BACKEND;
  if (value === undefined) delete process.env.HALO_BACKEND;
  else process.env.HALO_BACKEND = value;
  try {
    return fn();
  } finally {
    if (old === undefined) delete process.env.HALO_BACKEND;
    else process.env.HALO_BACKEND = old;
  }
}

test('explicit reference, and HALO_BACKEND=reference, give the reference backend', () => {
  assert.equal(getBackend('reference').name, 'reference');
  assert.equal(withEnv('reference', () => getBackend()).name, 'reference');
});

test('an unknown backend name is E_ARG', () => {
  assert.throws(() => withEnv('cuda', () => getBackend()), (e) => e instanceof HaloError && e.code === 'E_ARG');
});

test('the default is native when the addon loads, else the reference', () => {
  const want = nativeAvailable().ok ? 'native' : 'reference';
  assert.equal(withEnv(undefined, () => getBackend()).name, want);
  assert.equal(getBackend('native').name, want);
});

nativeTest('cpuFeatures reports a consistent tier', () => {
  const f = rawAddon().cpuFeatures();
  if (f.tier === 2) assert.ok(f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl);
  if (f.tier >= 1) assert.ok(f.avx2 && f.fma);
  assert.ok(rawAddon().getThreads() >= 1);
  assert.match(rawAddon().dnnlVersion(), /^\d+\.\d+\.\d+$/);
});
