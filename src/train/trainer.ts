// The training loop: batches → forward/backward (with gradient accumulation) → clip → AdamW → schedule,
// with periodic evaluation, metrics.jsonl, atomic checkpoints and exact resume (weights, optimizer moments,
// data-loader position and step all come back from the checkpoint, so a resumed run computes the same
// losses as an uninterrupted one).
//
// train() is the composition of the step-level pieces a program can also drive itself, one step at a time:
// restoreRun (restore-run.ts: a fresh or resumed run in its folder), trainStep (train-step.ts: one optimizer
// step, no files), evaluateAndSave (evaluate-save.ts: eval, metrics line, progress, checkpoint) and finishRun.
import type { Example } from '../data/encode.ts';
import type { CausalLM } from '../models/causal-lm.ts';
import { evaluateAndSave } from './evaluate-save.ts';
import { checkFinite } from './finite-weights.ts';
import { restoreRun, type TrainRun } from './restore-run.ts';
import type { TrainOptions } from './train-options.ts';
import { BadStepsError, trainStep } from './train-step.ts';

export { evaluateLoss } from './evaluate-loss.ts';
export type { TrainOptions } from './train-options.ts';
export type { StepRecord } from './train-step.ts';

export interface TrainSummary {
  steps: number;
  tokens: number;
  /** Wall time of the whole loop, evaluation and checkpoints included. */
  seconds: number;
  /** Seconds spent in training steps only (forward, backward, clipping, optimizer). */
  trainSeconds: number;
  /** tokens / trainSeconds: evaluation and checkpoint writes are not training speed. */
  tokensPerSecond: number;
  finalTrainLoss: number;
  evalLosses: { step: number; loss: number }[];
  skippedSteps: number;
  resumedFrom: string | null;
  /** Checkpoint folders newer than the one resumed from that were passed over, with the reason. */
  resumeSkipped: { dir: string; reason: string }[];
}

export function train(model: CausalLM, trainSet: readonly Example[], evalSet: readonly Example[], o: TrainOptions): TrainSummary {
  const run = restoreRun(model, trainSet, evalSet, o);
  for (;;) {
    let record;
    try {
      record = trainStep(run.state);
    } catch (e) {
      // The step that stopped the run is logged like any other.
      if (e instanceof BadStepsError && run.lead) run.metrics.append(e.record);
      throw e;
    }
    if (record === null) break;
    evaluateAndSave(run, record);
    if (o.stopAtStep !== undefined && run.state.step >= o.stopAtStep) break;
    if (o.shouldStop?.()) break;
  }
  return finishRun(run);
}

/**
 * The end of a run: E_NUMERIC if training left a weight non-finite (no final save of such weights: the caller
 * saves the model after this returns), else the run's summary.
 */
export function finishRun(run: TrainRun): TrainSummary {
  const { state } = run;
  checkFinite(state.trainable, run.nonFiniteAtStart, state.step, run.options.outDir, run.options.parallel);
  const seconds = (performance.now() - run.startedAt) / 1000;
  return {
    steps: state.step,
    tokens: state.tokensSeen,
    seconds,
    trainSeconds: state.trainMs / 1000,
    tokensPerSecond: state.tokensSeen / (state.trainMs / 1000),
    finalTrainLoss: state.lastLoss,
    evalLosses: state.evalLosses,
    skippedSteps: state.skippedSteps,
    resumedFrom: run.resumedFrom,
    resumeSkipped: run.resumeSkipped,
  };
}
