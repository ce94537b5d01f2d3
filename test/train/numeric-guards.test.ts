// Numeric guards of the training loop, on a tiny model with injected faults: a NaN gradient or an E_NUMERIC
// from forward/backward skips the step (no update: the weights equal a run that never took it), counts and
// logs it; K bad steps in a row stop training with E_NUMERIC and a message naming the steps; the finetune CLI
// passes --max-bad-steps and --save-total-limit.
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
import { main } from '../../src/cli/main.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-guards-'));
const modelDir = path.join(tmp, 'tiny');
writeTinyModelFolder(modelDir, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, vocab: 512, seed: 3 });
const tok = loadTokenizer(modelDir);
// Short prompt/completion records keep each step to milliseconds.
const dataFile = path.join(tmp, 'data.jsonl');
fs.writeFileSync(
  dataFile,
  Array.from({ length: 24 }, (_, i) => JSON.stringify({ prompt: `What is ${i} plus ${2 * i}?`, completion: `${3 * i}` })).join('\n') + '\n',
);
const trainSet = encodeRecords(readJsonl(dataFile).records, tok, { maxSeqLen: 64 }).examples;
let runs = 0;

function model(): LlamaModel {
  const src = loadModelFolder(modelDir, { dtype: 'f32' });
  return new LlamaModel(src.config, src.weights, { halo: haloConfig({ level: 'halo2', format: 'int8' }), backend: referenceBackend });
}

function opts(extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir: path.join(tmp, `run${runs++}`),
    epochs: 1,
    maxSteps: 5,
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
    saveEvery: 0,
    keepCheckpoints: 1,
    resume: false,
    logEvery: 100,
    maxBadSteps: 3,
    quiet: true,
    ...extra,
  };
}

/** Delegates to a real model; on the listed forwardBackward calls (0-based) poisons a gradient or throws. */
class Faulty implements CausalLM {
  calls = 0;
  constructor(
    readonly inner: LlamaModel,
    readonly faults: Map<number, 'nan-grad' | 'throw'>,
  ) {}
  get config() {
    return this.inner.config;
  }
  parameters() {
    return this.inner.parameters();
  }
  forwardBackward(b: Batch, scale: number): LossResult {
    const fault = this.faults.get(this.calls++);
    if (fault === 'throw') throw new HaloError('E_NUMERIC', 'cannot quantize to int8: 3 non-finite value(s) (injected)');
    const r = this.inner.forwardBackward(b, scale);
    if (fault === 'nan-grad') this.parameters().find((p) => p.grad)!.grad![5] = NaN;
    return r;
  }
  loss(b: Batch) {
    return this.inner.loss(b);
  }
  weightsChanged() {
    this.inner.weightsChanged();
  }
  stateDict() {
    return this.inner.stateDict();
  }
}

const weights = (m: CausalLM) => m.parameters().map((p) => Float32Array.from(p.data));

describe('a non-finite step is skipped, counted and logged', () => {
  for (const fault of ['nan-grad', 'throw'] as const) {
    test(`${fault} on the last step: no update (weights equal a run that stopped before it)`, () => {
      const clean = new Faulty(model(), new Map());
      train(clean, trainSet, [], opts({ maxSteps: 3 }));
      const faulty = new Faulty(model(), new Map([[3, fault]]));
      const o = opts({ maxSteps: 4 });
      const s = train(faulty, trainSet, [], o);
      assert.equal(s.steps, 4);
      assert.equal(s.skippedSteps, 1);
      assert.deepEqual(weights(faulty), weights(clean));
      const rec = readMetrics(path.join(o.outDir, 'metrics.jsonl'));
      assert.deepEqual(
        rec.map((r) => r.skipped),
        [false, false, false, true],
      );
      assert.deepEqual(
        rec.map((r) => r.skippedSteps),
        [0, 0, 0, 1],
      );
      assert.equal(rec[3]!.gradNorm, null); // NaN in JSON
      if (fault === 'throw') assert.match(String(rec[3]!.numericError), /injected/);
      for (const w of weights(faulty)) assert.ok(w.every(Number.isFinite));
    });
  }
  test('a good step resets the run of bad ones', () => {
    const faults = new Map<number, 'nan-grad'>([
      [1, 'nan-grad'],
      [2, 'nan-grad'],
      [4, 'nan-grad'],
      [5, 'nan-grad'],
    ]);
    const s = train(new Faulty(model(), faults), trainSet, [], opts({ maxSteps: 7, maxBadSteps: 3 }));
    assert.equal(s.steps, 7);
    assert.equal(s.skippedSteps, 4);
  });
});

describe('K bad steps in a row stop training', () => {
  test('with E_NUMERIC naming the steps, after logging them; checkpoints before it stay', () => {
    const faults = new Map<number, 'nan-grad' | 'throw'>([
      [2, 'nan-grad'],
      [3, 'throw'],
      [4, 'nan-grad'],
      [5, 'nan-grad'],
    ]);
    const o = opts({ maxSteps: 10, maxBadSteps: 3, saveEvery: 1, keepCheckpoints: 5 });
    assert.throws(
      () => train(new Faulty(model(), faults), trainSet, [], o),
      (e: unknown) => {
        assert.ok(e instanceof HaloError && e.code === 'E_NUMERIC', String(e));
        assert.match(e.message, /3 optimizer steps in a row \(steps 3–5\)/);
        assert.match(e.message, /--max-bad-steps 3/);
        return true;
      },
    );
    const rec = readMetrics(path.join(o.outDir, 'metrics.jsonl'));
    assert.deepEqual(
      rec.map((r) => r.skipped),
      [false, false, true, true, true],
    );
    assert.deepEqual(
      listCheckpoints(o.outDir).map((c) => c.step),
      [1, 2, 3, 4],
    );
  });
});

describe('halo finetune flags', () => {
  test('--save-total-limit keeps N checkpoints; --max-bad-steps 0 is an argument error', async () => {
    const out = path.join(tmp, 'cli');
    const common = ['finetune', '--model', modelDir, '--data', dataFile, '--out', out, '--max-seq-len', '64', '--batch-size', '4', '--backend', 'reference'];
    assert.equal(await main([...common, '--max-steps', '4', '--save-every', '1', '--save-total-limit', '3']), 0);
    assert.deepEqual(
      listCheckpoints(out).map((c) => c.step),
      [2, 3, 4],
    );
    assert.notEqual(await main([...common, '--max-steps', '1', '--max-bad-steps', '0']), 0);
  });
});
