// One optimizer step of a run (train-state.ts): gradAccum micro-batches → forward/backward (gradients
// accumulated, scaled by the step's token count) → clip → AdamW at the schedule's rate. A step whose loss or
// gradient norm is not finite, or whose forward/backward raised E_NUMERIC, is skipped — no update — and counted;
// maxBadSteps of them in a row stop the run. No files: the caller logs the record the step returns
// (evaluate-save.ts), which is what lets a loop outside Node (a browser page) run the very same steps.
import { HaloError } from '../core/errors.ts';
import { gradOf } from '../models/causal-lm.ts';
import type { Batch } from '../data/batch.ts';
import { clipGradNorm } from '../optim/adamw.ts';
import { nextBatch } from './parallel.ts';
import type { TrainState } from './train-state.ts';

/** One optimizer step as metrics.jsonl logs it (evalLoss on the steps that evaluated), and the run's length. */
export interface StepRecord {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Tokens since the run began (across resumes). */
  tokens: number;
  tokensPerSecond: number;
  epoch: number;
  skipped: boolean;
  evalLoss?: number;
}

/**
 * The metrics.jsonl record of one step: StepRecord's fields but totalSteps, the run's skipped-step count, the
 * E_NUMERIC message of a step that raised one, and the quantStats counts of the step.
 */
export type StepMetrics = Omit<StepRecord, 'totalSteps'> & { skippedSteps: number; numericError?: string } & Record<string, unknown>;

/** E_NUMERIC after maxBadSteps non-finite steps in a row; `record` is the last of them (the caller may log it). */
export class BadStepsError extends HaloError {
  constructor(
    readonly record: StepMetrics,
    message: string,
  ) {
    super('E_NUMERIC', message);
  }
}

/**
 * Runs the next optimizer step and returns its record, or null when the run has done its totalSteps (or the
 * data ran out). Throws BadStepsError when this step makes maxBadSteps non-finite ones in a row; the weights
 * are then those after the last good step.
 */
export function trainStep(s: TrainState): StepMetrics | null {
  if (s.step >= s.totalSteps) return null;
  const o = s.options;
  const par = o.parallel;
  const micro: Batch[] = [];
  for (let i = 0; i < o.gradAccum; i++) {
    const b = nextBatch(s.loader, par);
    if (b) micro.push(b);
  }
  if (micro.length === 0) return null;
  const stepStart = performance.now();
  const counts = Float64Array.of(
    micro.reduce((sum, b) => sum + b.lossTokens, 0),
    micro.reduce((sum, b) => sum + b.lengths.reduce((a, c) => a + c, 0), 0),
  );
  par?.sum(counts);
  const tokens = counts[0];
  s.optimizer.zeroGrad();
  o.quantStats?.reset();
  let lossSum = 0;
  let numericError: string | null = null;
  try {
    for (const b of micro) lossSum += s.model.forwardBackward(b, tokens > 0 ? 1 / tokens : 0).lossSum;
  } catch (e) {
    // A NaN/Inf met by a quantizer or the loss is a bad step like a NaN loss, not a crash.
    // Not across ranks: the others would wait forever in this rank's next collective.
    if (!(e instanceof HaloError && e.code === 'E_NUMERIC') || par) throw e;
    numericError = e.message;
    lossSum = NaN;
  }
  if (par) {
    const l = Float64Array.of(lossSum);
    par.sum(l);
    lossSum = l[0];
  }
  const loss = tokens > 0 ? lossSum / tokens : 0;
  const sumOverRanks = par
    ? (x: number) => {
        const a = Float64Array.of(x);
        par.sum(a);
        return a[0];
      }
    : undefined;
  const { norm } = o.maxGradNorm > 0 && numericError === null ? clipGradNorm(s.trainable.map(gradOf), o.maxGradNorm, { sumOverRanks }) : { norm: NaN };
  const lr = s.lrAt(s.step);
  const finite = numericError === null && Number.isFinite(loss) && (o.maxGradNorm <= 0 || Number.isFinite(norm));
  if (finite) {
    s.optimizer.step(lr);
    s.model.weightsChanged();
    s.badInARow = 0;
  } else {
    s.skippedSteps++;
    s.badInARow++;
  }
  s.step++;
  s.trainMs += performance.now() - stepStart;
  s.tokensSeen += counts[1];
  s.tokensTotal += counts[1];
  s.lastLoss = loss;
  const record: StepMetrics = {
    step: s.step,
    loss,
    lr,
    gradNorm: norm,
    tokens: s.tokensTotal,
    tokensPerSecond: s.tokensSeen / (s.trainMs / 1000),
    epoch: micro[0].epoch,
    skipped: !finite,
    skippedSteps: s.skippedSteps,
  };
  if (numericError !== null) record.numericError = numericError;
  const qs = o.quantStats?.take();
  if (qs) Object.assign(record, qs);
  if (s.badInARow >= o.maxBadSteps) {
    const { step, badInARow } = s;
    throw new BadStepsError(
      record,
      `${badInARow} optimizer steps in a row (steps ${step - badInARow + 1}–${step}) had a non-finite loss or gradient norm ` +
        `(last: loss ${loss}, grad norm ${norm}${numericError ? `; ${numericError}` : ''}); stopping (--max-bad-steps ${o.maxBadSteps}). ` +
        `The last checkpoint is still good; lower the learning rate or use a wider format.`,
    );
  }
  return record;
}
