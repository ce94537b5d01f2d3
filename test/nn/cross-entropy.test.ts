// Cross-entropy: loss against a naive log-softmax, ignore index and mask, stability at large logits,
// dlogits against finite differences (mean and a given normaliser), and in-place backward.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { crossEntropyBackward, crossEntropyForward } from '../../src/nn/ops/cross-entropy.ts';
import { assertClose, finiteDiff, randn } from './gradcheck.ts';

const N = 6;
const V = 9;

/** −log softmax(logits[n])[target] without max subtraction (fine for O(1) logits), summed over kept rows. */
function naiveSum(logits: ArrayLike<number>, targets: Int32Array, keep: (n: number) => boolean): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    if (!keep(n)) continue;
    let z = 0;
    for (let i = 0; i < V; i++) z += Math.exp(logits[n * V + i]);
    sum += Math.log(z) - logits[n * V + targets[n]];
    count++;
  }
  return { sum, count };
}

describe('cross-entropy', () => {
  test('loss = mean over counted rows; −100 and the mask exclude rows', () => {
    const rng = new Rng(30);
    const logits = randn(rng, N * V, 2);
    const targets = Int32Array.of(3, -100, 0, 8, -100, 5);
    const mask = Uint8Array.of(1, 1, 1, 0, 1, 1);
    const plain = crossEntropyForward(logits, targets, N, V);
    const want = naiveSum(logits, targets, (n) => targets[n] !== -100);
    assert.equal(plain.count, 4);
    assert.ok(Math.abs(plain.lossSum - want.sum) < 1e-13 && Math.abs(plain.loss - want.sum / 4) < 1e-13);
    const masked = crossEntropyForward(logits, targets, N, V, { mask });
    const wantMasked = naiveSum(logits, targets, (n) => targets[n] !== -100 && mask[n] !== 0);
    assert.equal(masked.count, 3);
    assert.ok(Math.abs(masked.loss - wantMasked.sum / 3) < 1e-13);
    // A custom ignore index: −1 ignores, −100 becomes an error (outside the vocabulary).
    const t2 = Int32Array.of(3, -1, 0, 8, -1, 5);
    assert.equal(crossEntropyForward(logits, t2, N, V, { ignoreIndex: -1 }).count, 4);
    assert.throws(() => crossEntropyForward(logits, targets, N, V, { ignoreIndex: -1 }), /target -100 at row 1 is outside the vocabulary \[0, 9\)/);
    // Nothing counted: loss 0, zero gradient.
    const none = crossEntropyForward(logits, new Int32Array(N).fill(-100), N, V);
    assert.equal(none.loss, 0);
    assert.equal(none.count, 0);
    const g = crossEntropyBackward(logits, new Int32Array(N).fill(-100), none.lse, N, V);
    assert.ok(g.every((x) => x === 0));
  });

  test('stable at large logits: f32 logits around 1000 give the loss of the shifted logits (1e-6)', () => {
    const rng = new Rng(31);
    const base = randn(rng, N * V, 3);
    const big = Float32Array.from(base, (x) => 1000 + x);
    const targets = Int32Array.of(0, 1, 2, 3, 4, 5);
    const shifted = Float64Array.from(big, (x) => x - 1000); // exact: the f32 values minus 1000
    const r = crossEntropyForward(big, targets, N, V);
    assert.ok(Number.isFinite(r.loss));
    assert.ok(r.lse instanceof Float32Array);
    assert.ok(Math.abs(r.loss - naiveSum(shifted, targets, () => true).sum / N) < 1e-6, `${r.loss}`);
    const g = crossEntropyBackward(big, targets, r.lse, N, V);
    assert.ok(g.every(Number.isFinite));
    assert.throws(
      () => crossEntropyForward(Float32Array.of(NaN, 0), Int32Array.of(0), 1, 2),
      (e: unknown) => e instanceof HaloError && e.code === 'E_NUMERIC',
    );
  });

  test('backward matches finite differences of the mean (f64, tol 1e-6), ignored rows get 0', () => {
    const rng = new Rng(32);
    const logits = randn(rng, N * V, 2);
    const targets = Int32Array.of(3, -100, 0, 8, 2, 5);
    const mask = Uint8Array.of(1, 1, 1, 1, 0, 1);
    const fd = finiteDiff(logits, () => crossEntropyForward(logits, targets, N, V, { mask }).loss);
    const { lse } = crossEntropyForward(logits, targets, N, V, { mask });
    const g = crossEntropyBackward(logits, targets, lse, N, V, { mask });
    assertClose(g, fd, 1e-6, 'dlogits');
    for (const n of [1, 4])
      assert.ok(
        g.subarray(n * V, n * V + V).every((x) => x === 0),
        `row ${n} ignored`,
      );
    // Each counted row of dlogits sums to 0 (softmax minus one-hot).
    let rowSum = 0;
    for (let i = 0; i < V; i++) rowSum += g[i];
    assert.ok(Math.abs(rowSum) < 1e-15);
  });

  test('a given normaliser scales the gradient of the loss sum (micro-batch accumulation); in place works', () => {
    const rng = new Rng(33);
    const logits = randn(rng, N * V, 2);
    const targets = Int32Array.of(3, -100, 0, 8, 2, 5);
    const Z = 40; // counted tokens of the whole optimizer step, across micro-batches
    const fd = finiteDiff(logits, () => crossEntropyForward(logits, targets, N, V).lossSum / Z);
    const { lse } = crossEntropyForward(logits, targets, N, V);
    const g = crossEntropyBackward(logits, targets, lse, N, V, { normalizer: Z });
    assertClose(g, fd, 1e-6, 'dlogits / Z');
    const inPlace = Float64Array.from(logits);
    crossEntropyBackward(inPlace, targets, lse, N, V, { normalizer: Z }, inPlace);
    assertClose(inPlace, g, 0, 'dlogits over logits');
    assert.throws(() => crossEntropyBackward(logits, targets, lse, N, V, { normalizer: 0 }), /normalizer must be a positive finite number/);
  });
});
