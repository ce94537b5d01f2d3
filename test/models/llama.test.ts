// Whole-model checks of LlamaModel: every parameter gradient of a 2-layer model (Llama with GQA and tied
// embeddings, and Qwen2 with q/k/v biases) against finite differences in f64, the HALO levels with
// quantization off against the plain model, and padding that must not change the loss of real tokens.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { collate } from '../../src/data/batch.ts';
import { haloConfig, type Level } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { tinyConfigJson, tinyWeights } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { Rng } from '../../src/core/rng.ts';
import { batchOf } from '../helpers/random-batch.ts';

function tiny(arch: 'llama' | 'qwen2', tied: boolean) {
  const config = parseModelConfig(tinyConfigJson({ arch, hidden: 16, layers: 2, heads: 4, kvHeads: 2, intermediate: 24, vocab: 270, tied, seed: 3 }));
  return { config, weights: tinyWeights(config, 5, 'f32', 0.3) };
}

function model(arch: 'llama' | 'qwen2', tied: boolean, level: Level, precision: 'f32' | 'f64' = 'f64') {
  const { config, weights } = tiny(arch, tied);
  return new LlamaModel(config, weights, { halo: haloConfig({ level, format: 'fp32' }), backend: referenceBackend, precision });
}

describe('LlamaModel gradients match finite differences (f64)', () => {
  for (const [arch, tied, level] of [
    ['llama', true, 'none'],
    ['qwen2', false, 'none'],
    ['llama', false, 'halo2'],
  ] as const) {
    test(`${arch}${tied ? ' tied' : ''} ${level}: every parameter tensor`, () => {
      const m = model(arch, tied, level);
      const batch = batchOf([7, 5], m.config.vocab_size, 11);
      const base = m.forwardBackward(batch, 1);
      assert.ok(base.tokens > 0);
      const rng = new Rng(99);
      const h = 1e-5;
      for (const p of m.parameters()) {
        // A few random coordinates per tensor keep the check fast while touching every parameter tensor.
        for (let trial = 0; trial < 3; trial++) {
          const i = rng.int(p.data.length);
          const old = p.data[i];
          p.data[i] = old + h;
          m.weightsChanged();
          const lp = m.loss(batch).lossSum;
          p.data[i] = old - h;
          m.weightsChanged();
          const lm = m.loss(batch).lossSum;
          p.data[i] = old;
          m.weightsChanged();
          const fd = (lp - lm) / (2 * h);
          const g = p.grad![i];
          assert.ok(Math.abs(fd - g) <= 1e-6 * Math.max(1, Math.abs(fd)), `${p.name}[${i}]: fd ${fd} vs backward ${g}`);
        }
      }
    });
  }
});

describe('LlamaModel forward', () => {
  test("HALO levels with quantization off give the plain model's loss", () => {
    const batch = batchOf([9, 6, 3], 270, 5);
    const ref = model('llama', false, 'none', 'f32').loss(batch);
    for (const level of ['halo0', 'halo1', 'halo2'] as const) {
      const got = model('llama', false, level, 'f32').loss(batch);
      assert.equal(got.tokens, ref.tokens);
      assert.ok(Math.abs(got.lossSum - ref.lossSum) <= 1e-4 * Math.abs(ref.lossSum), `${level}: ${got.lossSum} vs ${ref.lossSum}`);
    }
  });
  test('right padding does not change the loss of the real tokens', () => {
    const m = model('qwen2', false, 'none', 'f64');
    const alone = batchOf([6], 270, 8);
    const padded = collate([{ ids: alone.ids, labels: alone.labels, truncated: false }], { padId: 0, padTo: 11 });
    const a = m.loss(alone);
    const b = m.loss(padded);
    assert.equal(a.tokens, b.tokens);
    assert.ok(Math.abs(a.lossSum - b.lossSum) < 1e-10, `${a.lossSum} vs ${b.lossSum}`);
  });
  test('INT8 HALO-2 loss stays close to full precision on a tiny model', () => {
    const { config, weights } = tiny('llama', false);
    const batch = batchOf([9, 8], 270, 5);
    const ref = new LlamaModel(config, weights, { halo: haloConfig({ level: 'none', format: 'fp32' }), backend: referenceBackend }).loss(batch);
    const q = new LlamaModel(config, weights, { halo: haloConfig({ level: 'halo2', format: 'int8' }), backend: referenceBackend }).loss(batch);
    const rel = Math.abs(q.lossSum - ref.lossSum) / ref.lossSum;
    assert.ok(rel < 0.02, `relative loss difference ${rel}`);
  });
});
