// The start of a run in its output folder: a fresh TrainState (train-state.ts), and with --resume the newest
// complete checkpoint put back into it — weights, optimizer moments, data-loader position, step and counters —
// so the run computes the same losses as an uninterrupted one. Also what the rest of the run writes to:
// metrics.jsonl (a fresh run starts it over, a resumed one drops what was logged after its checkpoint) and
// the progress bar.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import type { LoaderState } from '../data/batch.ts';
import type { Example } from '../data/encode.ts';
import type { CausalLM, Param } from '../models/causal-lm.ts';
import { checkResumeOptimizer } from '../optim/optimizer.ts';
import { pickResumeCheckpoint, type Checkpoint } from './checkpoint.ts';
import { countNonFiniteParams } from './finite-weights.ts';
import { MetricsLog, readMetrics } from './metrics.ts';
import type { TrainParallel } from './parallel.ts';
import { ProgressBar } from './progress.ts';
import type { TrainOptions } from './train-options.ts';
import { createTrainState, resumeTrainState, type RunPosition, type TrainState } from './train-state.ts';

/** A run in its output folder: the training state and what steps are logged and checkpointed to. */
export interface TrainRun {
  readonly state: TrainState;
  readonly options: TrainOptions;
  readonly evalSet: readonly Example[];
  /** Rank 0 (or the only process): the one that writes files. */
  readonly lead: boolean;
  readonly metrics: MetricsLog;
  readonly bar: ProgressBar | null;
  /** performance.now() when the run was ready to step (the summary's wall time counts from here). */
  readonly startedAt: number;
  /** Non-finite values per trainable tensor at the start (weights loaded with --allow-nonfinite are not the run's doing). */
  readonly nonFiniteAtStart: Float64Array;
  /** The checkpoint resumed from, and newer ones passed over (with the reason). */
  readonly resumedFrom: string | null;
  readonly resumeSkipped: { dir: string; reason: string }[];
}

/** Starts a run in o.outDir: fresh, or (o.resume) from the newest complete checkpoint there. */
export function restoreRun(model: CausalLM, trainSet: readonly Example[], evalSet: readonly Example[], o: TrainOptions): TrainRun {
  const state = createTrainState(model, trainSet, o);
  fs.mkdirSync(o.outDir, { recursive: true });
  const par = o.parallel;
  const lead = (par?.rank ?? 0) === 0;
  const metrics = new MetricsLog(path.join(o.outDir, 'metrics.jsonl'));
  let resumedFrom: string | null = null;
  let resumeSkipped: { dir: string; reason: string }[] = [];
  if (o.resume) {
    const pick = pickResumeCheckpoint(o.outDir);
    resumeSkipped = pick.skipped;
    if (!o.quiet) for (const s of pick.skipped) process.stderr.write(`--resume: skipping incomplete checkpoint ${s.dir}: ${s.reason}\n`);
    const ck = pick.checkpoint;
    if (ck) {
      checkResumable(ck, state.trainable, o.runId, par);
      checkResumeOptimizer(ck.optimizer, state.optimizerChoice, ck.dir);
      resumeTrainState(state, positionOf(ck, metrics.file));
      if (lead) metrics.truncateAfter(state.step);
      resumedFrom = ck.dir;
      if (!o.quiet) process.stderr.write(`resuming from ${ck.dir} (step ${state.step})\n`);
    } else {
      // Lines a killed run logged before its first checkpoint would otherwise be logged twice.
      if (lead) fs.rmSync(metrics.file, { force: true });
      if (!o.quiet) process.stderr.write(`--resume: no complete checkpoint in ${o.outDir}, starting fresh\n`);
    }
  } else if (lead) {
    fs.rmSync(metrics.file, { force: true });
  }
  const bar = o.quiet || !lead ? null : new ProgressBar('train', state.totalSteps, { startAt: state.step, logEvery: o.logEvery });
  return {
    state,
    options: o,
    evalSet,
    lead,
    metrics,
    bar,
    startedAt: performance.now(),
    nonFiniteAtStart: countNonFiniteParams(state.trainable, par),
    resumedFrom,
    resumeSkipped,
  };
}

/** A checkpoint as a RunPosition (tokens from metrics.jsonl where an older checkpoint did not store them). */
function positionOf(ck: Checkpoint, metricsFile: string): RunPosition {
  const s = ck.state;
  return {
    step: s.step,
    params: ck.params,
    optimizer: ck.optimizer,
    loader: s.loader as LoaderState | undefined,
    evalLosses: (s.evalLosses as { step: number; loss: number }[]) ?? [],
    skippedSteps: typeof s.skippedSteps === 'number' ? s.skippedSteps : 0,
    badInARow: typeof s.badInARow === 'number' ? s.badInARow : 0,
    tokens: resumedTokens(s.tokens, metricsFile, s.step),
  };
}

/**
 * Before a checkpoint's values touch the model: it must be this run's (when the run has an id) and hold every
 * trainable parameter at its size, so a changed --rank or model is an error naming the tensor, not a stack
 * trace or weights half overwritten.
 */
function checkResumable(ck: Checkpoint, trainable: readonly Param[], runId: string | undefined, par: TrainParallel | undefined): void {
  if (runId !== undefined && ck.state.runId !== runId) {
    const theirs = typeof ck.state.runId === 'string' ? `run ${ck.state.runId}` : 'no run (an older halo wrote it)';
    throw new HaloError(
      'E_ARG',
      `--resume: checkpoint ${ck.dir} belongs to ${theirs}, not to run ${runId} of ${path.dirname(path.dirname(ck.dir))}/run.json; start over with --overwrite, or remove that checkpoint`,
    );
  }
  for (const p of trainable) {
    const saved = ck.params.get(p.name);
    const want = par ? par.wholeShape(p.name).reduce((a, b) => a * b, 1) : p.data.length;
    if (!saved) throw new HaloError('E_ARG', `--resume: checkpoint ${ck.dir} has no ${p.name}, which this run trains (different --peft, --rank or model?)`);
    if (saved.length !== want)
      throw new HaloError(
        'E_ARG',
        `--resume: checkpoint ${ck.dir} has ${saved.length} values for ${p.name}, this run's has ${want} (different --rank or model?)`,
      );
  }
}

/** metrics.jsonl's running token count at `step`: from the checkpoint, or (older checkpoints) the log's line for that step. */
function resumedTokens(saved: unknown, metricsFile: string, step: number): number {
  if (typeof saved === 'number' && Number.isFinite(saved) && saved >= 0) return saved;
  if (!fs.existsSync(metricsFile)) return 0;
  const at = readMetrics(metricsFile).filter((r) => r.step === step && typeof r.tokens === 'number');
  return at.length ? (at[at.length - 1].tokens as number) : 0;
}
