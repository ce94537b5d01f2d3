// RMSNorm: forward against the HF formula written out naively, backward (dx, dw) against finite differences,
// accumulate/write semantics, and the f32 path agreeing with f64.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { addRmsnormForward, rmsnormBackward, rmsnormBackwardAdd, rmsnormForward } from '../../src/nn/ops/rmsnorm.ts';
import { assertClose, dot, finiteDiff, randn } from './gradcheck.ts';

const N = 5;
const C = 7;
const EPS = 1e-5;

/** weight * (x / sqrt(mean(x²) + eps)), one row at a time, as LlamaRMSNorm reads. */
function naive(x: Float64Array, w: Float64Array): Float64Array {
  const y = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const row = Array.from(x.subarray(n * C, n * C + C));
    const variance = row.reduce((s, v) => s + v * v, 0) / C;
    row.forEach((v, c) => (y[n * C + c] = w[c] * (v / Math.sqrt(variance + EPS))));
  }
  return y;
}

describe('rmsnorm', () => {
  test('forward matches the naive formula (f64, 1e-14) and saves rstd; f32 agrees to 1e-6', () => {
    const rng = new Rng(3);
    const x = randn(rng, N * C, 2);
    const w = randn(rng, C);
    const { y, rstd } = rmsnormForward(x, w, N, C, EPS);
    assertClose(y, naive(x, w), 1e-14, 'y');
    for (let n = 0; n < N; n++) {
      let ss = 0;
      for (let c = 0; c < C; c++) ss += x[n * C + c] ** 2;
      assert.ok(Math.abs(rstd[n] - 1 / Math.sqrt(ss / C + EPS)) < 1e-14);
    }
    const f32 = rmsnormForward(Float32Array.from(x), Float32Array.from(w), N, C, EPS);
    assert.ok(f32.y instanceof Float32Array && f32.rstd instanceof Float32Array);
    assertClose(f32.y, y, 1e-6, 'y f32');
  });

  test('backward dx, dw match finite differences (f64, tol 1e-6)', () => {
    const rng = new Rng(4);
    const x = randn(rng, N * C);
    const w = randn(rng, C);
    const r = randn(rng, N * C);
    const loss = (): number => dot(r, rmsnormForward(x, w, N, C, EPS).y);
    const fdx = finiteDiff(x, loss);
    const fdw = finiteDiff(w, loss);
    const { rstd } = rmsnormForward(x, w, N, C, EPS);
    const dw = new Float64Array(C);
    const dx = rmsnormBackward(r, x, w, rstd, N, C, dw);
    assertClose(dx, fdx, 1e-6, 'dx');
    assertClose(dw, fdw, 1e-6, 'dw');
  });

  test('dw accumulates, dx is written (also in place over dy), frozen weight skips dw', () => {
    const rng = new Rng(5);
    const x = randn(rng, N * C);
    const w = randn(rng, C);
    const dy = randn(rng, N * C);
    const { rstd } = rmsnormForward(x, w, N, C, EPS);
    const dw1 = new Float64Array(C);
    const dx1 = rmsnormBackward(dy, x, w, rstd, N, C, dw1);
    const dw2 = Float64Array.from(dw1);
    const dx2 = new Float64Array(N * C).fill(123); // stale contents must be overwritten
    rmsnormBackward(dy, x, w, rstd, N, C, dw2, dx2);
    assertClose(dx2, dx1, 0, 'dx written');
    for (let c = 0; c < C; c++) assert.ok(Math.abs(dw2[c] - 2 * dw1[c]) < 1e-12, 'dw accumulated');
    const inPlace = Float64Array.from(dy);
    rmsnormBackward(inPlace, x, w, rstd, N, C, null, inPlace);
    assertClose(inPlace, dx1, 1e-15, 'dx in place');
  });

  test('shape and precision errors', () => {
    const x = new Float32Array(N * C);
    assert.throws(() => rmsnormForward(x, new Float32Array(C + 1), N, C, EPS), /w has 8 elements but \[C\] needs 7/);
    assert.throws(
      () => rmsnormForward(x, new Float64Array(C), N, C, EPS),
      (e: unknown) => e instanceof HaloError && e.code === 'E_DTYPE',
    );
    assert.throws(() => rmsnormForward(x, new Float32Array(C), N, 0, EPS), /C must be a positive integer/);
  });
  test('addRmsnormForward = add then rmsnormForward; rmsnormBackwardAdd = rmsnormBackward + res; aliases; misuse is E_ARG', () => {
    const rng = new Rng(9);
    for (const make of [(n: number) => randn(rng, n), (n: number) => Float32Array.from(randn(rng, n))]) {
      const a = make(N * C),
        b = make(N * C),
        w = make(C),
        dy = make(N * C),
        res = make(N * C);
      const x = a.map((v, i) => v + b[i]!);
      const want = rmsnormForward(x, w, N, C, EPS);
      const got = addRmsnormForward(a, b, w, N, C, EPS);
      assert.deepEqual(got.x, x);
      assert.deepEqual(got.y, want.y);
      assert.deepEqual(got.rstd, want.rstd);
      const bIn = b.slice();
      assert.equal(addRmsnormForward(a, bIn, w, N, C, EPS, { x: bIn }).x, bIn);
      assert.deepEqual(bIn, x);
      assert.throws(
        () => addRmsnormForward(a, b, w, N, C, EPS, { y: b }),
        (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
      );

      const dwA = make(C),
        dwB = dwA.slice();
      const dx = rmsnormBackward(dy, x, w, want.rstd, N, C, dwA).map((v, i) => v + res[i]!);
      assert.deepEqual(rmsnormBackwardAdd(dy, x, w, want.rstd, N, C, dwB, res), dx);
      assert.deepEqual(dwB, dwA);
      for (const over of ['dy', 'res'] as const) {
        const d = dy.slice(),
          r = res.slice();
        const buf = over === 'dy' ? d : r;
        assert.equal(rmsnormBackwardAdd(d, x, w, want.rstd, N, C, null, r, buf), buf);
        assert.deepEqual(buf, dx, `dx written over ${over}`);
      }
      assert.throws(
        () => rmsnormBackwardAdd(dy, x, w, want.rstd, N, C, null, res.subarray(1)),
        (e: unknown) => e instanceof HaloError && e.code === 'E_SHAPE',
      );
    }
  });
});
