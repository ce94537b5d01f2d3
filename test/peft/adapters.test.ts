// LoRA and HUT adapters on their own, in f64: forward against the formulas written out as loops, backward
// against central finite differences (dropout included, by replaying the same seeded mask), and the
// initialisation PEFT uses (A Kaiming-uniform with a = √5, B = 0).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { Rng } from '../../src/core/rng.ts';
import { HutAdapter } from '../../src/peft/hut.ts';
import { LoraAdapter } from '../../src/peft/lora.ts';
import { assertClose, dot, finiteDiff, randn } from '../nn/gradcheck.ts';

const N = 5,
  K = 7,
  M = 6,
  r = 3,
  alpha = 4;
const projection = 'model.layers.1.mlp.up_proj.weight';

function lora(dropout: number, seed = 17): LoraAdapter {
  return new LoraAdapter({ projection, inFeatures: K, outFeatures: M, rank: r, alpha, dropout, seed, precision: 'f64', backend: referenceBackend });
}

function hut(seed = 17): HutAdapter {
  return new HutAdapter({ projection, inFeatures: K, outFeatures: M, rank: r, alpha, seed, precision: 'f64', backend: referenceBackend });
}

describe('LoRA adapter', () => {
  test('init: A ~ U(−1/√in, 1/√in) not all equal, B = 0, PEFT tensor names, scale α/r', () => {
    const a = lora(0);
    const bound = 1 / Math.sqrt(K);
    assert.ok(a.a.data.every((v) => Math.abs(v) <= bound));
    assert.ok(new Set(a.a.data).size === a.a.data.length);
    assert.ok(a.b.data.every((v) => v === 0));
    assert.equal(a.a.name, 'base_model.model.model.layers.1.mlp.up_proj.lora_A.weight');
    assert.equal(a.b.name, 'base_model.model.model.layers.1.mlp.up_proj.lora_B.weight');
    assert.deepEqual(
      [a.a.shape, a.b.shape],
      [
        [r, K],
        [M, r],
      ],
    );
    assert.equal(a.scale, alpha / r);
    assert.notDeepEqual(lora(0, 18).a.data, a.a.data);
  });

  test('forward is s·B·A·x (no dropout)', () => {
    const rng = new Rng(1);
    const a = lora(0);
    rng.fillNormal(a.b.data, 1);
    const x = randn(rng, N * K);
    const { y } = a.forward(x, N);
    const want = new Float64Array(N * M);
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++) {
        let s = 0;
        for (let j = 0; j < r; j++) for (let k = 0; k < K; k++) s += a.b.data[m * r + j] * a.a.data[j * K + k] * x[n * K + k];
        want[n * M + m] = (alpha / r) * s;
      }
    assertClose(y, want, 1e-12, 'LoRA forward');
  });

  for (const dropout of [0, 0.3]) {
    test(`backward matches finite differences (dropout ${dropout})`, () => {
      const rng = new Rng(2);
      const A = randn(rng, r * K, 0.5),
        B = randn(rng, M * r, 0.5),
        x = randn(rng, N * K),
        R = randn(rng, N * M);
      // A fresh adapter per evaluation replays the same dropout mask (same seed, first forward).
      const run = () => {
        const a = lora(dropout, 99);
        a.a.data.set(A);
        a.b.data.set(B);
        return a;
      };
      const loss = () => dot(run().forward(x, N).y, R);
      const a = run();
      const { tape, y } = a.forward(x, N);
      const dx = a.backward(tape, R, N);
      assertClose(dx, finiteDiff(x, loss), 1e-7, 'dx');
      assertClose(a.a.grad!, finiteDiff(A, loss), 1e-7, 'dA');
      assertClose(a.b.grad!, finiteDiff(B, loss), 1e-7, 'dB');
    });
  }

  test('dropout: masks about p of the inputs while training, none when training = false', () => {
    const rng = new Rng(3);
    const a = lora(0.5, 5);
    rng.fillNormal(a.b.data, 1);
    const x = randn(rng, 40 * K);
    const y1 = a.forward(x, 40).y;
    const y2 = a.forward(x, 40).y;
    assert.notDeepEqual(y1, y2, 'two training forwards draw different masks');
    const { tape } = a.forward(x, 40) as { tape: { mask: Uint8Array } };
    const kept = tape.mask.reduce((s, v) => s + v, 0) / tape.mask.length;
    assert.ok(kept > 0.4 && kept < 0.6, `kept fraction ${kept}`);
    a.training = false;
    const plain = lora(0, 5);
    plain.a.data.set(a.a.data);
    plain.b.data.set(a.b.data);
    assert.deepEqual(a.forward(x, 40).y, plain.forward(x, 40).y);
  });

  test('rejects a wrong input size and a dropout outside [0, 1)', () => {
    assert.throws(() => lora(0).forward(new Float64Array(N * K + 1), N), /expected \[5, 7\]/);
    assert.throws(() => lora(1), /dropout must be in \[0, 1\)/);
  });
});

describe('HUT adapter', () => {
  test("W' = W0 + s·W0⊙(B·A), and W' = W0 at init (B = 0)", () => {
    const rng = new Rng(4);
    const h = hut();
    const w0 = randn(rng, M * K);
    assert.deepEqual(h.effectiveWeight(w0), w0);
    rng.fillNormal(h.b.data, 1);
    const w = h.effectiveWeight(w0);
    for (let m = 0; m < M; m++)
      for (let k = 0; k < K; k++) {
        let ba = 0;
        for (let j = 0; j < r; j++) ba += h.b.data[m * r + j] * h.a.data[j * K + k];
        const want = w0[m * K + k] * (1 + (alpha / r) * ba);
        assert.ok(Math.abs(w[m * K + k] - want) < 1e-12, `W'[${m},${k}]`);
      }
    assert.equal(h.a.name, 'base_model.model.model.layers.1.mlp.up_proj.hut_A.weight');
  });

  test("backward from G matches finite differences of Σ G⊙W'", () => {
    const rng = new Rng(5);
    const A = randn(rng, r * K, 0.5),
      B = randn(rng, M * r, 0.5),
      w0 = randn(rng, M * K),
      G = randn(rng, M * K);
    const h = hut();
    h.a.data.set(A);
    h.b.data.set(B);
    const loss = () => {
      h.a.data.set(A);
      h.b.data.set(B);
      return dot(h.effectiveWeight(w0), G);
    };
    h.backward(w0, G);
    const dA = Float64Array.from(h.a.grad!),
      dB = Float64Array.from(h.b.grad!);
    assertClose(dA, finiteDiff(A, loss), 1e-7, 'dA');
    assertClose(dB, finiteDiff(B, loss), 1e-7, 'dB');
    // Accumulates: a second call doubles the gradients.
    loss(); // puts the unperturbed factors back
    h.backward(w0, G);
    assertClose(
      h.a.grad!,
      dA.map((v) => 2 * v),
      1e-12,
      'dA accumulates',
    );
  });

  test('rejects a weight of the wrong size', () => {
    assert.throws(() => hut().effectiveWeight(new Float64Array(3)), /expected \[6, 7\]/);
  });
});
