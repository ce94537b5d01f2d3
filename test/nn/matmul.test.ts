// Float linear y = x·Wᵀ + b: forward against a naive triple loop, backward against finite differences,
// accumulate/write semantics; and the residual helpers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.ts';
import { linearBackward, linearForward } from '../../src/nn/ops/matmul.ts';
import { add, addInPlace } from '../../src/nn/ops/elementwise.ts';
import { assertClose, dot, finiteDiff, randn } from './gradcheck.ts';

const N = 5;
const K = 7;
const M = 3;

describe('linear', () => {
  test('forward is x·Wᵀ + b (f64 1e-14, f32 1e-6)', () => {
    const rng = new Rng(40);
    const x = randn(rng, N * K);
    const w = randn(rng, M * K);
    const b = randn(rng, M);
    const want = new Float64Array(N * M);
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++) {
        want[n * M + m] = b[m];
        for (let k = 0; k < K; k++) want[n * M + m] += x[n * K + k] * w[m * K + k];
      }
    assertClose(linearForward(x, w, b, N, K, M), want, 1e-14, 'y');
    const y32 = linearForward(Float32Array.from(x), Float32Array.from(w), Float32Array.from(b), N, K, M);
    assert.ok(y32 instanceof Float32Array);
    assertClose(y32, want, 1e-6, 'y f32');
  });

  test('backward dx, dW, db match finite differences (f64, tol 1e-6); dW, db accumulate', () => {
    const rng = new Rng(41);
    const x = randn(rng, N * K);
    const w = randn(rng, M * K);
    const b = randn(rng, M);
    const r = randn(rng, N * M);
    const loss = (): number => dot(r, linearForward(x, w, b, N, K, M));
    const fdx = finiteDiff(x, loss);
    const fdw = finiteDiff(w, loss);
    const fdb = finiteDiff(b, loss);
    const dw = new Float64Array(M * K);
    const db = new Float64Array(M);
    const dx = linearBackward(r, x, w, N, K, M, dw, db, new Float64Array(N * K).fill(4));
    assert.ok(dx);
    assertClose(dx, fdx, 1e-6, 'dx');
    assertClose(dw, fdw, 1e-6, 'dW');
    assertClose(db, fdb, 1e-6, 'db');
    assert.equal(linearBackward(r, x, w, N, K, M, dw, db, null), null, 'dx skipped');
    assertClose(
      dw,
      fdw.map((v) => 2 * v),
      1e-6,
      'dW accumulated',
    );
    assertClose(
      db,
      fdb.map((v) => 2 * v),
      1e-6,
      'db accumulated',
    );
  });
});

describe('elementwise', () => {
  test('add and addInPlace', () => {
    const a = Float32Array.of(1, 2, 3);
    const b = Float32Array.of(0.5, -2, 10);
    assert.deepEqual(Array.from(add(a, b)), [1.5, 0, 13]);
    addInPlace(a, b);
    assert.deepEqual(Array.from(a), [1.5, 0, 13]);
    assert.throws(() => addInPlace(a, Float32Array.of(1)), /src has 1 elements but dst's shape needs 3/);
  });
});
