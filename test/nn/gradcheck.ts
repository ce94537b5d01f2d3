// Helpers for the op tests: seeded f64 inputs, a random projection r·y as a scalar loss, central finite
// differences, and a closeness assertion that prints the worst element.
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.ts';
import type { FloatArray } from '../../src/core/dtype.ts';

export function randn(rng: Rng, n: number, std = 1): Float64Array {
  return rng.fillNormal(new Float64Array(n), std);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Central differences (f(x+h) − f(x−h)) / 2h for every element of x, perturbing x in place and restoring it.
 * With h = 1e-5 the truncation error is ~h²·f''' ≈ 1e-10 and the rounding error ~1e-16·|f|/h ≈ 1e-10 on
 * these O(1)–O(10) losses, both far below the 1e-6 tolerances the tests use.
 */
export function finiteDiff(x: Float64Array, f: () => number, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = x0 + h;
    const fp = f();
    x[i] = x0 - h;
    const fm = f();
    x[i] = x0;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** max |a − e| ≤ tol · max(1, max |e|): relative to the gradient's scale, absolute near zero. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = -1;
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (Number.isNaN(e)) assert.fail(`${what}: NaN at [${i}] (${actual[i]} vs ${expected[i]})`);
    if (e > err) {
      err = e;
      worst = i;
    }
  }
  assert.ok(err <= tol * scale, `${what}: max error ${err} at [${worst}] (${actual[worst]} vs ${expected[worst]}), allowed ${tol * scale}`);
}

export function toF32(a: FloatArray): Float32Array {
  return Float32Array.from(a);
}
