// Shared helpers of the native-backend tests: a test() that skips (with the reason printed) when the addon is
// not built, or FAILS when HALO_REQUIRE_NATIVE=1 (CI builds the addon and must not silently skip); seeded
// inputs; and comparisons that print the first mismatches and the largest difference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeAvailable } from '../../src/backend/native/index.ts';
import { loadAddon, type NativeAddon } from '../../src/backend/native/binding.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';

const avail = nativeAvailable();
const required = process.env.HALO_REQUIRE_NATIVE === '1';

export function nativeTest(name: string, fn: () => void | Promise<void>): void {
  if (avail.ok) {
    test(name, fn);
  } else if (required) {
    test(name, () => assert.fail(`HALO_REQUIRE_NATIVE=1 but ${avail.reason}`));
  } else {
    test(name, { skip: avail.reason }, () => {});
  }
}

/** The raw addon (only call inside nativeTest bodies). */
export function rawAddon(): NativeAddon {
  const r = loadAddon();
  if (!r.addon) throw new Error(r.error);
  return r.addon;
}

/** Every code path this CPU can run: 2 (AVX-512), 1 (AVX2), 0 (portable), highest first. */
export function tiers(): number[] {
  const top = rawAddon().cpuFeatures().tier;
  const out: number[] = [];
  for (let t = top; t >= 0; t--) out.push(t);
  return out;
}

/** Runs fn with halo's kernels capped at `tier`, then restores the best tier. */
export function withTier<T>(tier: number, fn: () => T): T {
  const a = rawAddon();
  a.setKernelTier(tier);
  try {
    return fn();
  } finally {
    a.setKernelTier(2);
  }
}

export function randomF32(shape: readonly number[], seed: number, std = 1): Tensor<'f32'> {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(shape, 'f32', new Rng(seed).fillNormal(new Float32Array(n), std));
}

/** Bit-for-bit equality of two typed arrays (NaN patterns and -0 included). */
export function assertBitsEqual(actual: ArrayBufferView, expected: ArrayBufferView, what: string): void {
  assert.equal(actual.byteLength, expected.byteLength, `${what}: byte lengths differ`);
  const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  const bytes = (actual as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < a.length; i += bytes) {
    let same = true;
    for (let j = 0; j < bytes; j++) if (a[i + j] !== b[i + j]) same = false;
    if (!same) {
      count++;
      const e = i / bytes;
      if (bad.length < 5) bad.push(`[${e}] got ${(actual as unknown as ArrayLike<number>)[e]} want ${(expected as unknown as ArrayLike<number>)[e]}`);
    }
  }
  assert.equal(count, 0, `${what}: ${count} element(s) differ; first: ${bad.join(', ')}`);
}

/** |a − b| ≤ atol + rtol·bound[i] for every element (bound defaults to |b|). */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { rtol: number; atol?: number; bound?: ArrayLike<number> },
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: lengths differ`);
  const atol = opts.atol ?? 0;
  let worst = 0,
    worstAt = -1,
    count = 0;
  const bad: string[] = [];
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    const lim = atol + opts.rtol * (opts.bound ? opts.bound[i]! : Math.abs(expected[i]!));
    if (!(d <= lim)) {
      count++;
      if (bad.length < 5) bad.push(`[${i}] got ${actual[i]} want ${expected[i]} (limit ${lim.toExponential(2)})`);
    }
    if (d > worst) [worst, worstAt] = [d, i];
  }
  assert.equal(count, 0, `${what}: ${count} element(s) out of tolerance (max |diff| ${worst.toExponential(3)} at ${worstAt}); first: ${bad.join(', ')}`);
}
