// Embedding: gather forward, scatter-add backward (repeated ids sum, existing gradients are kept), and the
// error for an id outside the vocabulary.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { embeddingBackward, embeddingForward } from '../../src/nn/ops/embedding.ts';
import { assertClose, dot, finiteDiff, randn } from './gradcheck.ts';

const V = 11;
const C = 7;

describe('embedding', () => {
  test('forward copies row ids[n] of wte into row n', () => {
    const rng = new Rng(1);
    const wte = randn(rng, V * C);
    const ids = Int32Array.of(3, 0, 10, 3, 7);
    const y = embeddingForward(ids, wte, V, C);
    assert.ok(y instanceof Float64Array);
    for (let n = 0; n < ids.length; n++) {
      for (let c = 0; c < C; c++) assert.equal(y[n * C + c], wte[ids[n] * C + c]);
    }
    const y32 = embeddingForward(ids, Float32Array.from(wte), V, C);
    assert.ok(y32 instanceof Float32Array);
  });

  test('backward matches finite differences (f64, tol 1e-6) and accumulates, summing repeated ids', () => {
    const rng = new Rng(2);
    const wte = randn(rng, V * C);
    const ids = Int32Array.of(3, 0, 10, 3, 7, 3);
    const r = randn(rng, ids.length * C);
    const loss = (): number => dot(r, embeddingForward(ids, wte, V, C));
    const fd = finiteDiff(wte, loss);
    const dwte = new Float64Array(V * C);
    embeddingBackward(r, ids, dwte, V, C);
    assertClose(dwte, fd, 1e-6, 'dwte');
    // Row 3 was read three times: its gradient is the sum of three output rows.
    for (let c = 0; c < C; c++) assert.ok(Math.abs(dwte[3 * C + c] - (r[c] + r[3 * C + c] + r[5 * C + c])) < 1e-12);
    // A second call adds on top (accumulate semantics, e.g. a tied lm_head's gradient already in dwte).
    embeddingBackward(r, ids, dwte, V, C);
    for (let i = 0; i < dwte.length; i++) assert.ok(Math.abs(dwte[i] - 2 * fd[i]) < 1e-6);
  });

  test('an id outside [0, V) is a HaloError naming the id and the vocabulary size', () => {
    const wte = new Float32Array(V * C);
    for (const bad of [V, -1, 1000]) {
      assert.throws(
        () => embeddingForward(Int32Array.of(1, bad), wte, V, C),
        (e: unknown) => {
          assert.ok(e instanceof HaloError);
          assert.equal(e.code, 'E_ARG');
          assert.match(e.message, new RegExp(`token id ${bad}\\b`));
          assert.match(e.message, /\[0, 11\)/);
          return true;
        },
      );
    }
    assert.throws(() => embeddingBackward(new Float32Array(C), Int32Array.of(V), new Float32Array(V * C), V, C), HaloError);
    assert.throws(() => embeddingForward(Int32Array.of(1), new Float32Array(V * C - 1), V, C), /wte has 76 elements but \[V, C\] needs 77/);
  });
});
