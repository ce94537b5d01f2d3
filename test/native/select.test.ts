// Backend selection: native by default when the addon loads, the reference when asked by name or by
// HALO_BACKEND, and E_ARG for an unknown name; the addon's process-wide malloc setting and its opt-outs.
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/backend/select.ts';
import { nativeAvailable } from '../../src/backend/native/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { nativeTest, rawAddon } from './native-test.ts';

const ADDON = new URL('../../native/build/Release/halo_native.node', import.meta.url).pathname;

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
  assert.throws(
    () => withEnv('cuda', () => getBackend()),
    (e) => e instanceof HaloError && e.code === 'E_ARG',
  );
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

const isGlibc = () => (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime !== undefined;

// The malloc setting is process-wide, so each case loads the addon in a child with its own environment.
nativeTest('loading the addon keeps freed memory unless HALO_MALLOC=system or GLIBC_TUNABLES is set', () => {
  const keeps = (env: Record<string, string>) => {
    const clean = { ...process.env };
    delete clean.HALO_MALLOC;
    delete clean.GLIBC_TUNABLES;
    const out = execFileSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(ADDON)}).keepsFreedMemory)`], {
      env: { ...clean, ...env },
      encoding: 'utf8',
    });
    return out.trim() === 'true';
  };
  assert.equal(keeps({}), isGlibc());
  assert.equal(keeps({ HALO_MALLOC: 'system' }), false);
  assert.equal(keeps({ GLIBC_TUNABLES: 'glibc.malloc.check=0' }), false);
});
