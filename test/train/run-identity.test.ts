// The trainer's side of a run's identity and of finite weights (src/train/trainer.ts): a checkpoint of another
// run, or of a model whose tensors differ, is refused before any weight is touched; metrics.jsonl's `tokens`
// continues across a resume exactly as in an uninterrupted run; a step that leaves a weight non-finite stops
// training with E_NUMERIC and no checkpoint of it, while non-finite weights present from the start (loaded
// with --allow-nonfinite) are not blamed on training.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import type { Batch } from '../../src/data/batch.ts';
import { encodeRecords } from '../../src/data/encode.ts';
import { readJsonl } from '../../src/data/jsonl.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import type { CausalLM, LossResult } from '../../src/models/causal-lm.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import { listCheckpoints } from '../../src/train/checkpoint.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { train, type TrainOptions } from '../../src/train/trainer.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-identity-'));
const modelDir = path.join(tmp, 'tiny');
const otherDir = path.join(tmp, 'tiny-wider');
writeTinyModelFolder(modelDir, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, vocab: 512, seed: 3 });
writeTinyModelFolder(otherDir, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 96, vocab: 512, seed: 3 });
const tok = loadTokenizer(modelDir);
const dataFile = path.join(tmp, 'data.jsonl');
fs.writeFileSync(
  dataFile,
  Array.from({ length: 24 }, (_, i) => JSON.stringify({ prompt: `What is ${i} plus ${2 * i}?`, completion: `${3 * i}` })).join('\n') + '\n',
);
const trainSet = encodeRecords(readJsonl(dataFile).records, tok, { maxSeqLen: 64 }).examples;
let runs = 0;

function model(dir = modelDir): LlamaModel {
  const src = loadModelFolder(dir, { dtype: 'f32' });
  return new LlamaModel(src.config, src.weights, { halo: haloConfig({ level: 'halo2', format: 'int8' }), backend: referenceBackend });
}

function opts(extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir: path.join(tmp, `run${runs++}`),
    epochs: 1,
    maxSteps: 4,
    lr: 1e-3,
    schedule: 'constant',
    warmupSteps: 0,
    minLrRatio: 0,
    weightDecay: 0,
    batchSize: 4,
    gradAccum: 1,
    maxGradNorm: 1,
    seed: 1,
    padId: 0,
    evalEvery: 0,
    saveEvery: 1,
    keepCheckpoints: 10,
    resume: false,
    logEvery: 100,
    maxBadSteps: 3,
    quiet: true,
    ...extra,
  };
}

/** A real model whose `poisonAt`-th forwardBackward call (0-based) writes NaN into a weight afterwards. */
class Poisoning implements CausalLM {
  calls = 0;
  constructor(
    readonly inner: LlamaModel,
    readonly poisonAt: number,
    readonly name: string,
  ) {}
  get config() {
    return this.inner.config;
  }
  parameters() {
    return this.inner.parameters();
  }
  forwardBackward(b: Batch, scale: number): LossResult {
    const r = this.inner.forwardBackward(b, scale);
    if (this.calls++ === this.poisonAt) this.inner.param(this.name).data[3] = NaN;
    return r;
  }
  loss(b: Batch): LossResult {
    return this.inner.loss(b);
  }
  weightsChanged() {
    this.inner.weightsChanged();
  }
  stateDict() {
    return this.inner.stateDict();
  }
}

const snapshot = (m: LlamaModel) => new Map(m.parameters().map((p) => [p.name, Float32Array.from(p.data)]));

describe('run identity in checkpoints', () => {
  test('a checkpoint of another run is refused before any weight changes; its own run resumes', () => {
    const o = opts({ runId: 'run-A', stopAtStep: 2 });
    train(model(), trainSet, [], o);
    const m = model();
    const before = snapshot(m);
    assert.throws(
      () => train(m, trainSet, [], { ...o, stopAtStep: undefined, resume: true, runId: 'run-B' }),
      (e: unknown) => {
        assert.ok(e instanceof HaloError && e.code === 'E_ARG');
        assert.match(e.message, /checkpoint .*step-0000002 belongs to run run-A, not to run run-B/);
        return true;
      },
    );
    for (const [name, data] of snapshot(m)) assert.deepEqual(data, before.get(name), name);
    const s = train(model(), trainSet, [], { ...o, stopAtStep: undefined, resume: true });
    assert.equal(s.steps, 4);
  });

  test('a checkpoint of a model with other tensor sizes is refused naming the tensor', () => {
    const o = opts({ runId: 'r', stopAtStep: 1 });
    train(model(), trainSet, [], o);
    assert.throws(
      () => train(model(otherDir), trainSet, [], { ...o, stopAtStep: undefined, resume: true }),
      /--resume: checkpoint .* has 2048 values for model\.layers\.0\.mlp\.gate_proj\.weight, this run's has 3072/,
    );
  });

  test("metrics.jsonl's tokens continue across a resume as in an uninterrupted run", () => {
    const whole = opts({ runId: 'w' });
    train(model(), trainSet, [], whole);
    const cut = opts({ runId: 'c', stopAtStep: 2 });
    train(model(), trainSet, [], cut);
    train(model(), trainSet, [], { ...cut, stopAtStep: undefined, resume: true });
    const tokens = (dir: string) => readMetrics(path.join(dir, 'metrics.jsonl')).map((r) => r.tokens);
    assert.deepEqual(tokens(cut.outDir), tokens(whole.outDir));
    assert.ok((tokens(whole.outDir)[3] as number) > (tokens(whole.outDir)[2] as number));
  });
});

describe('finite weights', () => {
  test('a step that leaves a weight non-finite stops training, and no checkpoint of it is written', () => {
    const name = 'model.layers.1.mlp.down_proj.weight';
    const o = opts();
    assert.throws(
      () => train(new Poisoning(model(), 2, name), trainSet, [], o),
      (e: unknown) => {
        assert.ok(e instanceof HaloError && e.code === 'E_NUMERIC');
        assert.match(
          e.message,
          new RegExp(`after step 3 1 weight tensor hold non-finite values \\(${name.replace(/\./g, '\\.')}: 1 NaN/Inf\\); nothing was saved`),
        );
        return true;
      },
    );
    assert.deepEqual(
      listCheckpoints(o.outDir).map((c) => c.step),
      [1, 2],
    );
  });

  test('non-finite values present at the start are not blamed on training', () => {
    const m = model();
    m.param('model.layers.0.input_layernorm.weight').data[0] = Infinity; // also makes every loss non-finite
    const o = opts({ maxBadSteps: 10, maxSteps: 2 });
    const s = train(m, trainSet, [], o);
    assert.equal(s.skippedSteps, 2);
    assert.deepEqual(
      listCheckpoints(o.outDir).map((c) => c.step),
      [1, 2],
    );
  });
});
