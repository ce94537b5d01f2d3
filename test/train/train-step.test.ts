// train()'s step-level pieces driven by hand, as a program with a loop of its own would: restoreRun + trainStep +
// evaluateAndSave + finishRun give train()'s results bit for bit (metrics.jsonl, checkpoints, weights); the
// file-free core (createTrainState, trainStep, resumeTrainState from an in-memory RunPosition) writes nothing
// and resumes exactly; a run stopped by non-finite steps hands back the last step's record.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { IGNORE_INDEX, type Example } from '../../src/data/encode.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { tinyConfigJson, tinyWeights } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { evaluateAndSave } from '../../src/train/evaluate-save.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { restoreRun } from '../../src/train/restore-run.ts';
import { trainOptions, type TrainOptions } from '../../src/train/train-options.ts';
import { createTrainState, resumeTrainState } from '../../src/train/train-state.ts';
import { BadStepsError, trainStep, type StepMetrics } from '../../src/train/train-step.ts';
import { finishRun, train } from '../../src/train/trainer.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-step-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const config = parseModelConfig(tinyConfigJson({ hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: 270, seed: 3 }));
const weights = tinyWeights(config, 5, 'f32', 0.3);
const model = () => new LlamaModel(config, weights, { halo: haloConfig({ level: 'halo2', format: 'int8' }), backend: referenceBackend });

function examples(n: number, seed: number): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ids = Int32Array.from({ length: 6 + rng.int(10) }, () => rng.int(config.vocab_size));
    return { ids, labels: Int32Array.from(ids, (id, t) => (t < 2 ? IGNORE_INDEX : id)), truncated: false };
  });
}
const trainSet = examples(24, 1);
const evalSet = examples(6, 2);

const opts = (name: string, extra: Partial<TrainOptions> = {}): TrainOptions =>
  trainOptions({
    outDir: path.join(tmp, name),
    maxSteps: 6,
    lr: 3e-3,
    warmupSteps: 1,
    batchSize: 4,
    gradAccum: 2,
    evalEvery: 2,
    saveEvery: 3,
    quiet: true,
    ...extra,
  });

/** metrics.jsonl without its timing field. */
const metricsOf = (dir: string) => readMetrics(path.join(dir, 'metrics.jsonl')).map(({ tokensPerSecond: _, ...r }) => r);
const weightsOf = (m: LlamaModel) => m.parameters().map((p) => Array.from(p.data));

describe('train() one step at a time', () => {
  test('restoreRun + trainStep + evaluateAndSave + finishRun = train(), file for file', () => {
    const whole = model();
    const summary = train(whole, trainSet, evalSet, opts('whole'));
    const m = model();
    const run = restoreRun(m, trainSet, evalSet, opts('by-hand'));
    const records: StepMetrics[] = [];
    for (let r; (r = trainStep(run.state)) !== null; ) {
      records.push(r);
      evaluateAndSave(run, r);
    }
    const byHand = finishRun(run);
    assert.equal(byHand.steps, 6);
    assert.deepEqual(byHand.evalLosses, summary.evalLosses);
    assert.equal(byHand.finalTrainLoss, summary.finalTrainLoss);
    assert.deepEqual(metricsOf(path.join(tmp, 'by-hand')), metricsOf(path.join(tmp, 'whole')));
    assert.deepEqual(
      records.map((r) => r.step),
      [1, 2, 3, 4, 5, 6],
    );
    for (const f of ['model.safetensors', 'optimizer.safetensors']) {
      assert.deepEqual(
        fs.readFileSync(path.join(tmp, 'by-hand/checkpoints/step-0000006', f)),
        fs.readFileSync(path.join(tmp, 'whole/checkpoints/step-0000006', f)),
        f,
      );
    }
    assert.deepEqual(weightsOf(m), weightsOf(whole));
    assert.equal(trainStep(run.state), null, 'a finished run takes no more steps');
  });

  test('the file-free core trains like train() and resumes exactly from an in-memory position', () => {
    const o = opts('unused', { evalEvery: 0 });
    const want = metricsOf((train(model(), trainSet, [], opts('ref', { evalEvery: 0 })), path.join(tmp, 'ref'))).map((r) => r.loss);
    const m = model();
    const s = createTrainState(m, trainSet, o);
    const losses = [trainStep(s)!.loss, trainStep(s)!.loss, trainStep(s)!.loss];
    // What a checkpoint would hold after step 3, kept in memory.
    const at = {
      step: s.step,
      params: new Map(s.trainable.map((p) => [p.name, Float32Array.from(p.data)])),
      optimizer: structuredClone(s.optimizer.state()),
      loader: s.loader.state(),
      evalLosses: [],
      skippedSteps: s.skippedSteps,
      badInARow: s.badInARow,
      tokens: s.tokensTotal,
    };
    const fresh = model();
    const r = createTrainState(fresh, trainSet, o);
    resumeTrainState(r, at);
    for (let rec; (rec = trainStep(r)) !== null; ) losses.push(rec.loss);
    assert.deepEqual(losses, want);
    assert.equal(r.tokensTotal, readMetrics(path.join(tmp, 'ref/metrics.jsonl')).at(-1)!.tokens);
    assert.ok(!fs.existsSync(o.outDir), 'nothing written');
  });

  test("non-finite steps in a row stop the run with BadStepsError carrying the last step's record", () => {
    const s = createTrainState(model(), trainSet, opts('unused', { lr: 1e9, maxGradNorm: 0, maxBadSteps: 2, maxSteps: 10 }));
    let err: unknown;
    try {
      while (trainStep(s) !== null);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof BadStepsError && err instanceof HaloError && err.code === 'E_NUMERIC', String(err));
    assert.equal(err.record.step, s.step);
    assert.equal(err.record.skipped, true);
    assert.equal(s.badInARow, 2);
    assert.match(err.message, /2 optimizer steps in a row/);
  });
});
