// Adapters inside LlamaModel: every adapter tensor's gradient against finite differences of the whole
// model's loss in f64 (LoRA and HUT; plain linears, and HALO-2 with its rotations on and quantization off),
// a frozen base that gets no gradient and no optimizer state, B = 0 meaning step 0 is the base model, the
// base's weight-gradient GEMM skipped under LoRA, and the base rotated+quantized once for a LoRA run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../src/backend/backend.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { Rng } from '../../src/core/rng.ts';
import type { Example } from '../../src/data/encode.ts';
import { haloConfig, type Level } from '../../src/halo/config.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { AdamW } from '../../src/optim/adamw.ts';
import { buildAdapters, type PeftMethod } from '../../src/peft/build.ts';
import { createPeftModel } from '../../src/peft/peft-model.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { checkpointDir } from '../../src/train/checkpoint.ts';
import { train } from '../../src/train/trainer.ts';
import { batchOf, maxRelDiff, randomizeAdapters, tinyModel } from './helpers.ts';

function peftModel(
  method: PeftMethod,
  level: Level,
  precision: 'f32' | 'f64',
  format: 'fp32' | 'int8' = 'fp32',
  backend: Backend = referenceBackend,
  dropout = 0,
) {
  const { config, weights } = tinyModel();
  const adapters = buildAdapters(config, { method, rank: 3, alpha: 6, dropout, seed: 7 }, { precision, backend });
  const model = new LlamaModel(config, weights, { halo: haloConfig({ level, format }), backend, precision, trainable: () => false, adapters });
  return { model, adapters, config, weights };
}

describe('adapter gradients through the model match finite differences (f64)', () => {
  for (const method of ['lora', 'hut'] as const) {
    for (const level of ['none', 'halo2'] as const) {
      test(`${method}, level ${level} (fp32 operands)`, () => {
        const { model, adapters } = peftModel(method, level, 'f64');
        randomizeAdapters(adapters, 11);
        const batch = batchOf([6, 4], model.config.vocab_size, 12);
        model.forwardBackward(batch, 1);
        const rng = new Rng(13);
        const h = 1e-5;
        let checked = 0;
        for (const a of adapters.values()) {
          for (const p of a.params()) {
            for (let trial = 0; trial < 2; trial++) {
              const i = rng.int(p.data.length);
              const old = p.data[i];
              const at = (v: number) => {
                p.data[i] = v;
                model.weightsChanged();
                return model.loss(batch).lossSum;
              };
              const fd = (at(old + h) - at(old - h)) / (2 * h);
              at(old);
              assert.ok(Math.abs(fd - p.grad![i]) <= 1e-6 * Math.max(1, Math.abs(fd)), `${p.name}[${i}]: fd ${fd} vs backward ${p.grad![i]}`);
              checked++;
            }
          }
        }
        assert.equal(checked, 2 * 2 * 7 * 2);
      });
    }
  }
});

describe('frozen base', () => {
  for (const method of ['lora', 'hut'] as const) {
    test(`${method}: no base gradient; AdamW state only for adapter tensors; first step moves only B`, () => {
      const { model, adapters } = peftModel(method, 'halo2', 'f32', 'int8');
      const batch = batchOf([6, 5], model.config.vocab_size, 3);
      model.forwardBackward(batch, 1 / 8);
      const adapterNames = new Set([...adapters.values()].flatMap((a) => a.params().map((p) => p.name)));
      for (const p of model.parameters()) {
        if (adapterNames.has(p.name)) assert.ok(p.grad !== null, p.name);
        else assert.equal(p.grad, null, `${p.name} is frozen`);
      }
      const trainable = model.parameters().filter((p) => p.grad !== null);
      const opt = new AdamW(
        trainable.map((p) => ({ name: p.name, param: p.data, grad: p.grad! })),
        { lr: 1e-2 },
      );
      opt.step();
      const state = opt.state();
      assert.deepEqual(Object.keys(state.m).sort(), [...adapterNames].sort());
      assert.deepEqual(Object.keys(state.v).sort(), [...adapterNames].sort());
      assert.ok(Object.keys(state.m).every((n) => n.startsWith('base_model.model.model.layers.') && /\.(lora|hut)_[AB]\.weight$/.test(n)));
      // B = 0 makes dA = Bᵀ·(…) = 0 on the first step, while B gets a gradient.
      for (const a of adapters.values()) {
        const [A, B] = a.params();
        assert.ok(
          A.grad!.every((g) => g === 0),
          `${A.name}: zero gradient while B = 0`,
        );
        assert.ok(
          B.grad!.some((g) => g !== 0),
          `${B.name}: has a gradient`,
        );
      }
    });
  }

  test('B = 0 at init: the adapted model is exactly the base model (LoRA and HUT, HALO-2 INT8)', () => {
    const { config, weights } = tinyModel();
    const halo = haloConfig({ level: 'halo2', format: 'int8' });
    const batch = batchOf([7, 3], config.vocab_size, 4);
    const base = new LlamaModel(config, weights, { halo, backend: referenceBackend }).logits(batch);
    for (const method of ['lora', 'hut'] as const) {
      const { model } = peftModel(method, 'halo2', 'f32', 'int8');
      assert.deepEqual(model.logits(batch), base, method);
    }
  });

  test('random adapters do change the output (the comparison above can fail)', () => {
    const { model, adapters } = peftModel('lora', 'none', 'f32');
    const batch = batchOf([5], model.config.vocab_size, 4);
    const before = model.logits(batch);
    randomizeAdapters(adapters, 1);
    assert.ok(maxRelDiff(model.logits(batch), before) > 1e-3);
  });
});

/** A backend that records the [rows, cols] of every GEMM output and every rotated+quantized matrix. */
function spy(): { be: Backend; gemms: string[]; quantized: string[] } {
  const gemms: string[] = [];
  const quantized: string[] = [];
  const be: Backend = {
    ...referenceBackend,
    name: 'spy',
    matmul(a, b, opts) {
      const out = referenceBackend.matmul(a, b, opts);
      gemms.push(out.shape.join('x'));
      return out;
    },
    matmulT(a, b, alpha) {
      const out = referenceBackend.matmulT(a, b, alpha);
      gemms.push(out.shape.join('x'));
      return out;
    },
    rotateQuantize(x, rot, format, gran, opts) {
      if (format !== 'bf16') quantized.push(x.shape.join('x')); // not lm_head's bf16 operands (a quantized model's default head)
      return referenceBackend.rotateQuantize(x, rot, format, gran, opts);
    },
  };
  return { be, gemms, quantized };
}

describe('what the frozen base costs', () => {
  // Projection weight shapes of the tiny model: q/o 16x16, k/v 8x16, gate/up 24x16, down 16x24. The batch
  // has T = 3 tokens (padded to 4 for HALO-2's token rotation), so no attention, input-gradient or adapter GEMM
  // has one of these shapes.
  const projShapes = ['16x16', '8x16', '24x16', '16x24'];

  test('LoRA: backward runs no weight-gradient GEMM for the base; HUT needs it', () => {
    for (const [method, expectWeightGrads] of [
      ['lora', false],
      ['hut', true],
    ] as const) {
      const s = spy();
      const { model } = peftModel(method, 'halo2', 'f32', 'int8', s.be);
      const batch = batchOf([3], model.config.vocab_size, 9);
      model.loss(batch); // forward only: prepares the weights
      s.gemms.length = 0;
      model.forwardBackward(batch, 1);
      const weightGrads = s.gemms.filter((g) => projShapes.includes(g));
      if (expectWeightGrads) assert.equal(weightGrads.length, 7 * 2, `${method}: one G per projection`);
      else assert.deepEqual(weightGrads, [], `${method}: no G GEMM`);
    }
  });

  test('LoRA: the base is rotated and quantized once for a whole training run; HUT every step', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-peft-'));
    try {
      for (const method of ['lora', 'hut'] as const) {
        const s = spy();
        const { config, weights } = tinyModel();
        const pm = createPeftModel(config, weights, {
          halo: haloConfig({ level: 'halo2', format: 'int8' }),
          backend: s.be,
          peft: { method, rank: 2, alpha: 4, dropout: 0, seed: 1 },
        });
        const rng = new Rng(2);
        const examples: Example[] = Array.from({ length: 6 }, () => {
          const ids = Int32Array.from({ length: 5 }, () => rng.int(config.vocab_size));
          return { ids, labels: ids, truncated: false };
        });
        const steps = 3;
        train(pm, examples, [], {
          outDir: path.join(dir, method),
          epochs: 1,
          maxSteps: steps,
          lr: 1e-3,
          schedule: 'constant',
          warmupSteps: 0,
          minLrRatio: 0,
          weightDecay: 0,
          batchSize: 2,
          gradAccum: 1,
          maxGradNorm: 1,
          seed: 1,
          padId: 0,
          evalEvery: 0,
          saveEvery: 0,
          keepCheckpoints: 1,
          resume: false,
          logEvery: 100,
          maxBadSteps: 2,
          quiet: true,
        });
        const weightQuantizations = s.quantized.filter((q) => projShapes.includes(q)).length;
        assert.equal(weightQuantizations, method === 'lora' ? 14 : 14 * steps, method);
        // What the trainer saved: adapter tensors and their AdamW moments only, none of the frozen base.
        const ck = checkpointDir(path.join(dir, method), steps);
        const adapterNames = pm
          .adapterParameters()
          .map((p) => p.name)
          .sort();
        assert.deepEqual([...readSafetensors(path.join(ck, 'model.safetensors')).tensors.keys()].sort(), adapterNames, `${method} checkpoint`);
        const moments = [...readSafetensors(path.join(ck, 'optimizer.safetensors')).tensors.keys()].sort();
        assert.deepEqual(moments, [...adapterNames.map((n) => `m.${n}`), ...adapterNames.map((n) => `v.${n}`)].sort(), `${method} optimizer state`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('PeftModel: LoRA dropout runs in forwardBackward, not in loss', () => {
    const { config, weights } = tinyModel();
    const pm = createPeftModel(config, weights, {
      halo: haloConfig({ level: 'none', format: 'fp32' }),
      backend: referenceBackend,
      peft: { method: 'lora', rank: 2, alpha: 4, dropout: 0.5, seed: 1 },
    });
    randomizeAdapters(pm.adapters, 3);
    const batch = batchOf([6], config.vocab_size, 1);
    const l1 = pm.loss(batch).lossSum;
    pm.forwardBackward(batch, 1);
    assert.equal(pm.loss(batch).lossSum, l1, 'evaluation is deterministic');
    const t1 = pm.forwardBackward(batch, 1).lossSum;
    const t2 = pm.forwardBackward(batch, 1).lossSum;
    assert.notEqual(t1, t2, 'training draws fresh dropout masks');
  });
});

describe('compactBase: a frozen LoRA base kept as 8-bit codes only', () => {
  test('same logits and gradients, f32 projection weights released, stateDict refused; HUT and FP32 refused', () => {
    const { config, weights } = tinyModel();
    const make = (method: 'lora' | 'hut', format: 'int8' | 'fp32') =>
      createPeftModel(config, weights, {
        halo: haloConfig({ level: format === 'int8' ? 'halo2' : 'none', format }),
        backend: referenceBackend,
        peft: { method, rank: 2, alpha: 4, dropout: 0, seed: 1 },
      });
    const batch = batchOf([6, 4], config.vocab_size, 2);
    const full = make('lora', 'int8');
    const compact = make('lora', 'int8');
    randomizeAdapters(full.adapters, 5);
    randomizeAdapters(compact.adapters, 5);
    const freed = compact.compactBase();
    assert.equal(freed, 4 * 2 * (16 * 16 * 2 + 8 * 16 * 2 + 24 * 16 * 3));
    assert.equal(compact.model.param('model.layers.0.mlp.up_proj.weight').data.length, 0);
    assert.equal(compact.model.param('model.norm.weight').data.length, 16, 'only projections are compacted');
    assert.deepEqual(compact.model.logits(batch), full.model.logits(batch));
    full.forwardBackward(batch, 1);
    compact.forwardBackward(batch, 1);
    compact.weightsChanged();
    assert.deepEqual(
      compact.adapterParameters().map((p) => p.grad),
      full.adapterParameters().map((p) => p.grad),
    );
    assert.deepEqual(compact.loss(batch), full.loss(batch));
    assert.throws(() => compact.stateDict(), /kept as 8-bit codes only.*halo merge/);
    assert.throws(() => make('hut', 'int8').compactBase(), /HUT rebuilds W' from the f32 W0/);
    assert.throws(() => make('lora', 'fp32').compactBase(), /needs a quantized base/);
  });
});
