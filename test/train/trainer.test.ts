// The training loop end to end on a tiny model: loss goes down for every HALO setting the issue names, a
// run interrupted and resumed from its checkpoint reproduces the uninterrupted run's losses exactly, and
// the output folder is a loadable HF folder.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { encodeRecords } from '../../src/data/encode.ts';
import { readJsonl } from '../../src/data/jsonl.ts';
import { haloConfig, type Format, type Level } from '../../src/halo/config.ts';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import { evaluateLoss, train, type TrainOptions } from '../../src/train/trainer.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { main } from '../../src/cli/main.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-train-'));
const modelDir = path.join(tmp, 'tiny');
writeTinyModelFolder(modelDir, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, vocab: 512, seed: 7 });
const tok = loadTokenizer(modelDir);
const records = readJsonl('data/sql/train.jsonl').records;
const trainSet = encodeRecords(records.slice(0, 64), tok, { maxSeqLen: 320 }).examples;
const evalSet = encodeRecords(readJsonl('data/sql/eval.jsonl').records.slice(0, 16), tok, { maxSeqLen: 320 }).examples;

function fresh(level: Level, format: Format): LlamaModel {
  const src = loadModelFolder(modelDir, { dtype: 'f32' });
  return new LlamaModel(src.config, src.weights, { halo: haloConfig({ level, format }), backend: referenceBackend });
}

function opts(outDir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir,
    epochs: 1,
    maxSteps: 12,
    lr: 3e-3,
    schedule: 'linear',
    warmupSteps: 2,
    minLrRatio: 0,
    weightDecay: 0,
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
    ...extra,
  };
}

describe('fine-tuning lowers the eval loss', () => {
  for (const [level, format] of [
    ['none', 'fp32'],
    ['halo0', 'int8'],
    ['halo2', 'int8'],
    ['halo0', 'fp8'],
  ] as const) {
    test(`${level} ${format}`, () => {
      const m = fresh(level, format);
      const before = evaluateLoss(m, evalSet, 8, 0);
      const s = train(m, trainSet, evalSet, opts(path.join(tmp, `run-${level}-${format}`)));
      const after = s.evalLosses[s.evalLosses.length - 1].loss;
      assert.equal(s.steps, 12);
      assert.ok(after < before - 0.1, `eval loss ${before} → ${after}`);
    });
  }
});

describe('AdamW β2', () => {
  test('adamBeta2 reaches the optimizer: unset is 0.999 exactly, 0.95 moves the weights differently', () => {
    const run = (name: string, extra: Partial<TrainOptions>) => {
      const m = fresh('none', 'fp32');
      train(m, trainSet, [], opts(path.join(tmp, name), { maxSteps: 3, ...extra }));
      return m.parameters().map((p) => Array.from(p.data));
    };
    const unset = run('beta-unset', {});
    assert.deepEqual(run('beta-999', { adamBeta2: 0.999 }), unset);
    const b95 = run('beta-95', { adamBeta2: 0.95 });
    assert.notDeepEqual(b95, unset);
  });

  test('a β2 outside [0, 1) is refused before any step', () => {
    assert.throws(() => train(fresh('none', 'fp32'), trainSet, [], opts(path.join(tmp, 'beta-bad'), { adamBeta2: 1 })), /beta2 must be in \[0, 1\), got 1/);
  });
});

describe('resume', () => {
  test('an interrupted run resumed from its checkpoint reproduces the uninterrupted losses', () => {
    const whole = path.join(tmp, 'whole');
    train(fresh('halo2', 'int8'), trainSet, [], opts(whole, { maxSteps: 8, gradAccum: 2 }));
    const cut = path.join(tmp, 'cut');
    train(fresh('halo2', 'int8'), trainSet, [], opts(cut, { maxSteps: 8, gradAccum: 2, saveEvery: 3, stopAtStep: 4 }));
    const resumed = train(fresh('halo2', 'int8'), trainSet, [], opts(cut, { maxSteps: 8, gradAccum: 2, saveEvery: 3, resume: true }));
    assert.match(resumed.resumedFrom ?? '', /step-0000003$/);
    const a = readMetrics(path.join(whole, 'metrics.jsonl')).map((r) => r.loss);
    const b = readMetrics(path.join(cut, 'metrics.jsonl')).map((r) => r.loss);
    assert.equal(b.length, 8);
    assert.deepEqual(b, a);
  });

  test("a checkpoint's model.safetensors keeps the tensors' shapes: beside a config and tokenizer it loads as a model folder", () => {
    const run = path.join(tmp, 'ckpt-as-folder');
    const m = fresh('none', 'fp32');
    train(m, trainSet, [], opts(run, { maxSteps: 2, saveEvery: 2 }));
    const folder = path.join(tmp, 'ckpt-folder');
    fs.mkdirSync(folder);
    for (const f of fs.readdirSync(modelDir)) if (f !== 'model.safetensors') fs.copyFileSync(path.join(modelDir, f), path.join(folder, f));
    fs.copyFileSync(path.join(run, 'checkpoints/step-0000002/model.safetensors'), path.join(folder, 'model.safetensors'));
    const loaded = loadModelFolder(folder, { dtype: 'f32' });
    for (const p of m.parameters()) assert.deepEqual(loaded.weights.get(p.name)!.data, p.data, p.name);
  });
});

describe('halo finetune (CLI)', () => {
  test('writes a loadable HF folder with halo_config.json', async () => {
    const out = path.join(tmp, 'cli-out');
    const code = await main([
      'finetune',
      '--model',
      modelDir,
      '--data',
      'data/sql/train.jsonl::16',
      '--out',
      out,
      '--level',
      'halo1',
      '--format',
      'fp6',
      '--max-steps',
      '2',
      '--batch-size',
      '4',
      '--max-seq-len',
      '320',
      '--backend',
      'reference',
    ]);
    assert.equal(code, 0);
    const loaded = loadModelFolder(out);
    assert.equal(loaded.config.hidden_size, 32);
    assert.ok(fs.existsSync(path.join(out, 'tokenizer.json')));
    const halo = JSON.parse(fs.readFileSync(path.join(out, 'halo_config.json'), 'utf8'));
    assert.equal(halo.level, 'halo1');
    assert.equal(halo.format, 'fp6');
  });
  test('a wrong model path is a clear error and a non-zero exit', async () => {
    const code = await main(['finetune', '--model', path.join(tmp, 'nope'), '--data', 'data/sql/train.jsonl', '--out', path.join(tmp, 'x')]);
    assert.equal(code, 2);
  });
});
