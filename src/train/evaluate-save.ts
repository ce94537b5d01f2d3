// What follows each optimizer step of a run in its output folder: the eval loss when one is due (every
// evalEvery steps and after the last), the step's line in metrics.jsonl, the progress bar, onStep, and a
// checkpoint when one is due (every saveEvery steps and after the last). A checkpoint holds whole tensors, so
// a run resumes at any world size; it is written atomically and never over weights gone non-finite.
import type { FloatArray } from '../core/dtype.ts';
import { saveCheckpoint } from './checkpoint.ts';
import { evaluateLoss } from './evaluate-loss.ts';
import { checkFinite } from './finite-weights.ts';
import type { TrainRun } from './restore-run.ts';
import type { StepMetrics } from './train-step.ts';

/** Evaluates (when due), logs and reports the step trainStep just returned `record` for, then checkpoints (when due). */
export function evaluateAndSave(run: TrainRun, record: StepMetrics): void {
  const { state, options: o } = run;
  const { step, totalSteps } = state;
  if ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === totalSteps) {
    if (run.evalSet.length) {
      const el = evaluateLoss(state.model, run.evalSet, o.batchSize, o.padId);
      state.evalLosses.push({ step, loss: el });
      record.evalLoss = el;
    }
  }
  if (run.lead) run.metrics.append(record);
  run.bar?.update(step, { loss: record.loss, lr: record.lr, tokens: state.tokensSeen });
  o.onStep?.({ ...record, totalSteps });
  if ((o.saveEvery > 0 && step % o.saveEvery === 0) || (step === totalSteps && (o.finalCheckpoint ?? true))) saveRunCheckpoint(run);
}

/**
 * Checkpoints the run where it stands: weights, optimizer state, data position and counters, in
 * outDir/checkpoints (the newest keepCheckpoints kept). A collective under FSDP: every rank gathers, rank 0
 * writes. E_NUMERIC instead when training made a weight non-finite.
 */
export function saveRunCheckpoint(run: TrainRun): void {
  const { state, options: o } = run;
  const { trainable, step } = state;
  const par = o.parallel;
  checkFinite(trainable, run.nonFiniteAtStart, step, o.outDir, par);
  let params: ReadonlyMap<string, FloatArray> = new Map(trainable.map((p) => [p.name, p.data]));
  let opt = state.optimizer.state();
  if (par) {
    // Whole tensors, so a run can resume at any world size; every rank gathers, rank 0 writes.
    params = par.unshard(params);
    opt = {
      step: opt.step,
      m: Object.fromEntries(par.unshard(new Map(Object.entries(opt.m)))),
      v: Object.fromEntries(par.unshard(new Map(Object.entries(opt.v)))),
    };
  }
  if (run.lead) {
    const saved = {
      step,
      loader: state.loader.state(),
      config: o.runConfig ?? {},
      evalLosses: state.evalLosses,
      skippedSteps: state.skippedSteps,
      badInARow: state.badInARow,
      tokens: state.tokensTotal,
      runId: o.runId,
    };
    saveCheckpoint(o.outDir, params, opt, saved, o.keepCheckpoints, new Map(trainable.map((p) => [p.name, par ? par.wholeShape(p.name) : p.shape])));
  }
  par?.barrier();
}
