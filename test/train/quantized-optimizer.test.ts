// --optimizer adamw8bit / adamw-fp8 through the trainer: fine-tuning still lowers the eval loss, an interrupted
// run resumed from its checkpoint (8-bit codes + scales) reproduces the uninterrupted one exactly, a
// checkpoint refuses to resume with another optimizer, the checkpoint file round-trips and rejects damage,
// `adamw` checkpoints are byte-for-byte what they were, and the memory plan counts each optimizer's bytes.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeAvailable, nativeBackend } from '../../src/backend/native/index.ts';
import { nnKernels } from '../../src/backend/nn-kernels.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { encodeRecords } from '../../src/data/encode.ts';
import { readJsonl } from '../../src/data/jsonl.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { getPreset, presetConfigJson } from '../../src/models/presets.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { emptyQuantizedMoments } from '../../src/optim/adamw8bit.ts';
import type { OptimizerChoice, OptimizerState } from '../../src/optim/optimizer.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { memoryPlan } from '../../src/train/memory-plan.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { optimizerFromTensors, optimizerTensors } from '../../src/train/optimizer-file.ts';
import { evaluateLoss, train, type TrainOptions } from '../../src/train/trainer.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-optim8-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const modelDir = path.join(tmp, 'tiny');
// hidden 64: the 64×64 projections and the [512, 64] tables have ≥ 4096 values, so they get 8-bit moments.
writeTinyModelFolder(modelDir, { hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, vocab: 512, seed: 7 });
const tok = loadTokenizer(modelDir);
const trainSet = encodeRecords(readJsonl('data/sql/train.jsonl').records.slice(0, 32), tok, { maxSeqLen: 192 }).examples;
const evalSet = encodeRecords(readJsonl('data/sql/eval.jsonl').records.slice(0, 12), tok, { maxSeqLen: 192 }).examples;

function fresh(be: Backend = referenceBackend): LlamaModel {
  const src = loadModelFolder(modelDir, { dtype: 'f32' });
  return new LlamaModel(src.config, src.weights, { halo: haloConfig({ level: 'halo2', format: 'int8' }), backend: be });
}

function opts(outDir: string, optimizer: OptimizerChoice, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir,
    epochs: 1,
    maxSteps: 8,
    lr: 3e-3,
    schedule: 'linear',
    warmupSteps: 2,
    minLrRatio: 0,
    weightDecay: 0.01,
    batchSize: 4,
    gradAccum: 1,
    maxGradNorm: 1,
    seed: 1,
    padId: tok.padId ?? tok.eosId ?? 0,
    evalEvery: 0,
    saveEvery: 0,
    keepCheckpoints: 2,
    resume: false,
    logEvery: 100,
    maxBadSteps: 3,
    quiet: true,
    optimizer,
    ...extra,
  };
}

const avail = nativeAvailable();
const nativeSkip = avail.ok ? false : avail.reason;
const losses = (dir: string) => readMetrics(path.join(dir, 'metrics.jsonl')).map((r) => r.loss);

describe('training with quantized moments', () => {
  test('adamw8bit lowers the eval loss about as much as adamw', () => {
    const before = evaluateLoss(fresh(), evalSet, 8, 0);
    const after = (choice: OptimizerChoice) => {
      const s = train(fresh(), trainSet, evalSet, opts(path.join(tmp, `fit-${choice.kind}`), choice));
      return s.evalLosses[s.evalLosses.length - 1]!.loss;
    };
    const a = after({ kind: 'adamw' });
    const q = after({ kind: 'adamw8bit' });
    assert.ok(q < before - 0.1, `adamw8bit: eval loss ${before} → ${q}`);
    assert.ok(Math.abs(q - a) < 0.05 * a, `adamw ${a} vs adamw8bit ${q}`);
  });

  for (const [kind, block] of [
    ['adamw8bit', undefined],
    ['adamw-fp8', 64],
  ] as const) {
    test(`${kind}: an interrupted run resumed from its checkpoint reproduces the uninterrupted losses and weights`, () => {
      const choice = { kind, block };
      const whole = path.join(tmp, `whole-${kind}`);
      const a = fresh();
      train(a, trainSet, [], opts(whole, choice, { gradAccum: 2 }));
      const cut = path.join(tmp, `cut-${kind}`);
      train(fresh(), trainSet, [], opts(cut, choice, { gradAccum: 2, saveEvery: 3, stopAtStep: 4 }));
      const b = fresh();
      const resumed = train(b, trainSet, [], opts(cut, choice, { gradAccum: 2, saveEvery: 3, resume: true }));
      assert.match(resumed.resumedFrom ?? '', /step-0000003$/);
      assert.equal(losses(cut).length, 8);
      assert.deepEqual(losses(cut), losses(whole));
      for (const p of b.parameters()) assert.deepEqual(p.data, a.parameters().find((q) => q.name === p.name)!.data, p.name);
      const ck = loadCheckpoint(path.join(cut, 'checkpoints/step-0000006'));
      assert.equal(ck.optimizer.kind, kind);
      assert.equal(ck.optimizer.block, block ?? 2048);
      assert.ok(Object.keys(ck.optimizer.quantized!).includes('model.embed_tokens.weight'));
      assert.ok(Object.keys(ck.optimizer.m).includes('model.norm.weight'), 'norms keep f32 moments');
    });
  }

  test('a checkpoint refuses, in one line, to resume with another optimizer or block size', () => {
    const run = path.join(tmp, 'switch');
    train(fresh(), trainSet, [], opts(run, { kind: 'adamw8bit' }, { maxSteps: 2, saveEvery: 2 }));
    for (const other of [{ kind: 'adamw' }, { kind: 'adamw-fp8' }, { kind: 'adamw8bit', block: 256 }] as OptimizerChoice[]) {
      assert.throws(
        () => train(fresh(), trainSet, [], opts(run, other, { maxSteps: 4, resume: true })),
        (e: unknown) =>
          e instanceof HaloError &&
          e.code === 'E_ARG' &&
          /was saved with --optimizer adamw8bit --optim-block 2048 but this run uses --optimizer/.test(e.message) &&
          !e.message.includes('\n'),
      );
    }
    const old = path.join(tmp, 'switch-adamw');
    train(fresh(), trainSet, [], opts(old, { kind: 'adamw' }, { maxSteps: 2, saveEvery: 2 }));
    assert.throws(
      () => train(fresh(), trainSet, [], opts(old, { kind: 'adamw8bit' }, { maxSteps: 4, resume: true })),
      /saved with --optimizer adamw but this run uses --optimizer adamw8bit/,
    );
  });

  test('the native kernels train to the same losses as the reference update (bit-identical steps)', { skip: nativeSkip }, () => {
    // The native backend's matmuls and row sums round differently, so both runs use the reference backend's
    // model and only the optimizer's updates come from the addon in one of them.
    const run = (dir: string, kernels: 'native' | 'reference') => {
      const m = fresh();
      const native = nnKernels(nativeBackend);
      if (kernels === 'native')
        Object.defineProperty(m, 'nn', { value: { ...m.nn, adamwUpdate: native.adamwUpdate, adamwBlockUpdate: native.adamwBlockUpdate } });
      train(m, trainSet, [], opts(path.join(tmp, dir), { kind: 'adamw8bit', block: 100 }, { maxSteps: 4 }));
      return m.parameters().map((p) => p.data);
    };
    assert.deepEqual(run('native-8', 'native'), run('ref-8', 'reference'));
  });
});

describe('optimizer.safetensors', () => {
  const state = (): OptimizerState => {
    const q = emptyQuantizedMoments(5000, 2048);
    q.m.forEach((_, i) => (q.m[i] = (i * 37) & 255));
    q.v.fill(200);
    q.mScale.set([0.5, 0.25, 1e-3]);
    q.vScale.set([2, 3, 4]);
    return {
      step: 7,
      m: { 'model.norm.weight': Float32Array.of(1, -2) },
      v: { 'model.norm.weight': Float32Array.of(3, 4) },
      kind: 'adamw8bit',
      block: 2048,
      quantized: { w: q },
    };
  };

  test('8-bit codes, scales, kind and block survive a save and a load', () => {
    const run = path.join(tmp, 'roundtrip');
    const params = new Map([
      ['w', new Float32Array(5000)],
      ['model.norm.weight', new Float32Array(2)],
    ]);
    const dir = saveCheckpoint(run, params, state(), { step: 7, loader: {}, config: {} });
    const back = loadCheckpoint(dir).optimizer;
    assert.deepEqual({ ...back, quantized: { w: { ...back.quantized!.w! } } }, state());
    assert.equal(back.quantized!.w!.m.constructor, Uint8Array);
  });

  test('an adamw state is written exactly as before: tensors m.* and v.*, metadata { step }', () => {
    const { tensors, metadata } = optimizerTensors({ step: 3, m: { a: Float32Array.of(1) }, v: { a: Float32Array.of(2) } });
    assert.deepEqual([...tensors.keys()], ['m.a', 'v.a']);
    assert.deepEqual(metadata, { step: '3' });
  });

  test('damaged files are E_FORMAT naming the file: unknown optimizer, missing block, a missing part, a wrong dtype, a stray tensor', () => {
    const file = path.join(tmp, 'opt.safetensors');
    const { tensors, metadata } = optimizerTensors(state());
    const bad = (t: Map<string, Tensor>, md: Record<string, string>, re: RegExp) =>
      assert.throws(
        () => optimizerFromTensors(t, md, 0, file),
        (e: unknown) => e instanceof HaloError && e.code === 'E_FORMAT' && e.message.includes(file) && re.test(e.message),
      );
    bad(tensors, { ...metadata, optimizer: 'lion' }, /unknown optimizer 'lion'/);
    bad(tensors, { step: '7', optimizer: 'adamw8bit' }, /block/);
    bad(tensors, { step: '7' }, /8-bit moments in an adamw/);
    const noScale = new Map(tensors);
    noScale.delete('sv.w');
    bad(noScale, metadata, /lack some of/);
    bad(new Map([...tensors, ['qm.w', new Tensor([5000], 'f32', new Float32Array(5000))]]), metadata, /qm\.w is f32, want i8/);
    bad(new Map([...tensors, ['x.w', new Tensor([1], 'f32', new Float32Array(1))]]), metadata, /unexpected tensor 'x\.w'/);
    // And through a real file.
    writeSafetensors(file, tensors, { ...metadata, optimizer: 'lion' });
    const r = readSafetensors(file);
    assert.throws(() => optimizerFromTensors(r.tensors, r.metadata, 0, file), /unknown optimizer/);
  });
});

describe('memory plan', () => {
  const c = parseModelConfig(presetConfigJson(getPreset('llama-3.2-1b')), 'llama-3.2-1b');
  const halo2 = haloConfig({ level: 'halo2', format: 'int8' });
  const optBytes = (optimizer: OptimizerChoice, mode: 'full' | 'lora' = 'full') =>
    memoryPlan(c, { halo: halo2, mode, rank: 16, batchSize: 1, seqLen: 512, gradCheckpointing: true, optimizer }).items.find((i) =>
      i.name.startsWith('optimizer'),
    )!;

  test("llama-3.2-1b full: adamw8bit and adamw-fp8 state ≤ 0.27× adamw's, named in the plan", () => {
    const a = optBytes({ kind: 'adamw' });
    for (const kind of ['adamw8bit', 'adamw-fp8'] as const) {
      const q = optBytes({ kind });
      assert.ok(q.bytes / a.bytes <= 0.27 && q.bytes / a.bytes > 0.25, `${kind}: ${q.bytes / a.bytes}`);
      assert.match(q.name, new RegExp(`optimizer \\(${kind} \\(blocks of \\d+\\) moments\\)`));
    }
    assert.match(a.shrinkWith, /--optimizer adamw8bit/);
  });

  test('LoRA: the adapter factors are counted one by one (rank-16 factors ≥ 4096 values are 8-bit)', () => {
    const a = optBytes({ kind: 'adamw' }, 'lora');
    const q = optBytes({ kind: 'adamw8bit' }, 'lora');
    assert.ok(q.bytes < 0.27 * a.bytes, `${q.bytes} vs ${a.bytes}`);
  });
});
