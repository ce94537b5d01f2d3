// The model's memory-saving modes must not change what it computes: activation checkpointing (each block
// recomputed in the backward) gives bit-identical losses and gradients, LoRA dropout included (the replay
// draws the same masks); a frozen base turned into 8-bit codes as it is read equals one compacted after the
// f32 load; bf16 tensors load as their exact f32 values; an adopted source is not copied.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/backend.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { haloConfig, type Level } from '../../src/halo/config.ts';
import { castTensor } from '../../src/io/cast.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { buildAdapters } from '../../src/peft/build.ts';
import { createPeftModel } from '../../src/peft/peft-model.ts';
import { batchOf, randomizeAdapters, tinyModel } from '../peft/helpers.ts';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { nativeTest } from '../native/native-test.ts';

function grads(m: LlamaModel): Float32Array[] {
  return m
    .parameters()
    .filter((p) => p.grad)
    .map((p) => Float32Array.from(p.grad!));
}

function fullModel(level: Level, format: 'fp32' | 'int8', gradCheckpointing: boolean, be: Backend) {
  const { config, weights } = tinyModel();
  return new LlamaModel(config, weights, { halo: haloConfig({ level, format }), backend: be, gradCheckpointing });
}

describe('activation checkpointing', () => {
  const cases = [
    ['none', 'fp32'],
    ['halo2', 'int8'],
  ] as const;
  const check = (level: Level, format: 'fp32' | 'int8', be: Backend) => {
    const plain = fullModel(level, format, false, be);
    const ckpt = fullModel(level, format, true, be);
    for (const seed of [1, 2]) {
      const batch = batchOf([7, 5], plain.config.vocab_size, seed);
      assert.deepEqual(ckpt.forwardBackward(batch, 1 / 9), plain.forwardBackward(batch, 1 / 9));
    }
    const a = grads(plain);
    const b = grads(ckpt);
    assert.equal(a.length, b.length);
    a.forEach((g, i) => assert.deepEqual(b[i], g, `gradient ${i}`));
    assert.ok(a.some((g) => g.some((v) => v !== 0)));
  };
  for (const [level, format] of cases) {
    test(`reference, ${level} ${format}: same loss and every gradient bit for bit, two micro-batches`, () => check(level, format, referenceBackend));
    nativeTest(`native, ${level} ${format}: same loss and every gradient bit for bit`, () => check(level, format, nativeBackend));
  }

  test('LoRA with dropout: the recomputed blocks draw the same masks, and the next step too', () => {
    const { config, weights } = tinyModel();
    const make = (gradCheckpointing: boolean) => {
      const adapters = buildAdapters(config, { method: 'lora', rank: 3, alpha: 6, dropout: 0.3, seed: 7 }, { precision: 'f32', backend: referenceBackend });
      randomizeAdapters(adapters, 4);
      return new LlamaModel(config, weights, {
        halo: haloConfig({ level: 'halo2', format: 'int8' }),
        backend: referenceBackend,
        trainable: () => false,
        adapters,
        gradCheckpointing,
      });
    };
    const plain = make(false);
    const ckpt = make(true);
    for (const seed of [3, 4]) {
      const batch = batchOf([6, 4], config.vocab_size, seed);
      assert.deepEqual(ckpt.forwardBackward(batch, 1), plain.forwardBackward(batch, 1));
      grads(plain).forEach((g, i) => assert.deepEqual(grads(ckpt)[i], g));
    }
  });
});

describe('loading for memory', () => {
  test('frozen projections turned into codes as they are read equal a base compacted after the load', () => {
    const { config, weights } = tinyModel();
    const halo = haloConfig({ level: 'halo2', format: 'int8' });
    const peft = { method: 'lora' as const, rank: 2, alpha: 4, dropout: 0, seed: 1 };
    const late = createPeftModel(config, weights, { halo, backend: referenceBackend, peft });
    late.compactBase();
    const adapters = buildAdapters(config, peft, { backend: referenceBackend });
    const early = new LlamaModel(config, weights, { halo, backend: referenceBackend, trainable: () => false, adapters, frozenProjections: 'codes' });
    assert.equal(early.param('model.layers.1.self_attn.k_proj.weight').data.length, 0);
    assert.equal(weights.get('model.layers.1.self_attn.k_proj.weight')!.data.length > 0, true, "the caller's tensors are not touched");
    const batch = batchOf([5, 3], config.vocab_size, 9);
    assert.deepEqual(early.logits(batch), late.model.logits(batch));
    assert.throws(() => early.stateDict(), /kept as 8-bit codes only/);
    assert.throws(
      () =>
        new LlamaModel(config, weights, {
          halo: haloConfig({ level: 'none', format: 'fp32' }),
          backend: referenceBackend,
          trainable: () => false,
          frozenProjections: 'codes',
        }),
      /needs a quantized format/,
    );
  });

  test('bf16 tensors become their exact f32 values; adopted f32 arrays are not copied, shared ones are', () => {
    const { config, weights } = tinyModel();
    const bf16 = new Map([...weights].map(([n, t]) => [n, castTensor(t, 'bf16')]));
    const halo = haloConfig({ level: 'none', format: 'fp32' });
    const m = new LlamaModel(config, bf16, { halo, backend: referenceBackend });
    const name = 'model.layers.0.mlp.up_proj.weight';
    assert.deepEqual(m.param(name).data, castTensor(bf16.get(name)!, 'f32').data);
    const fresh = new Map([...weights].map(([n, t]) => [n, new Tensor(t.shape, 'f32', Float32Array.from(t.data as Float32Array))]));
    const adopted = new LlamaModel(config, fresh, { halo, backend: referenceBackend, adoptWeights: true });
    assert.equal(adopted.param(name).data, fresh.get(name)!.data);
    const copied = new LlamaModel(config, weights, { halo, backend: referenceBackend });
    assert.notEqual(copied.param(name).data, weights.get(name)!.data);
    assert.deepEqual(copied.param(name).data, weights.get(name)!.data);
  });

  test('a frozen bf16 embedding and head kept as bf16 compute what the f32 copies with a bf16 head compute', () => {
    for (const tied of [true, false]) {
      const { config: c0, weights } = tinyModel();
      const config = { ...c0, tie_word_embeddings: tied };
      const bf16 = new Map([...weights].map(([n, t]) => [n, castTensor(t, 'bf16')]));
      if (!tied) bf16.set('lm_head.weight', castTensor(weights.get('model.embed_tokens.weight')!, 'bf16'));
      else bf16.delete('lm_head.weight');
      const make = (frozenTables: 'f32' | 'bf16') => {
        const adapters = buildAdapters(config, { method: 'lora', rank: 2, alpha: 4, dropout: 0, seed: 1 }, { backend: referenceBackend });
        randomizeAdapters(adapters, 2);
        return new LlamaModel(config, bf16, {
          halo: haloConfig({ level: 'halo2', format: 'int8', lmHead: 'bf16' }),
          backend: referenceBackend,
          trainable: () => false,
          adapters,
          frozenTables,
        });
      };
      const kept = make('bf16');
      const wide = make('f32');
      assert.equal(kept.param('model.embed_tokens.weight').data.length, 0, 'no f32 copy of the table');
      const batch = batchOf([6, 4], config.vocab_size, 5);
      assert.deepEqual(kept.logits(batch), wide.logits(batch));
      assert.deepEqual(kept.forwardBackward(batch, 1 / 8), wide.forwardBackward(batch, 1 / 8));
      grads(wide).forEach((g, i) => assert.deepEqual(grads(kept)[i], g));
      assert.deepEqual(kept.stateDict().get('model.embed_tokens.weight')!.data, wide.stateDict().get('model.embed_tokens.weight')!.data);
    }
  });
});
