// A training run's live state — model, trainable parameters, optimizer, learning-rate schedule, data loader
// and the counters a checkpoint stores — made once and advanced one optimizer step at a time by trainStep
// (train-step.ts). Nothing here touches files: restoreRun (restore-run.ts) reads a checkpoint into a
// RunPosition and evaluateAndSave (evaluate-save.ts) writes them, so a program without a file system (a
// browser training loop) can drive the same steps with its own storage.
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { BatchLoader, type LoaderState } from '../data/batch.ts';
import type { Example } from '../data/encode.ts';
import { gradOf, isTrainable, type CausalLM, type Param } from '../models/causal-lm.ts';
import { makeOptimizer, type Optimizer, type OptimizerChoice, type OptimizerState } from '../optim/optimizer.ts';
import { makeSchedule } from '../optim/schedule.ts';
import type { TrainOptions } from './train-options.ts';

/** The TrainOptions a step needs (no output folder, evaluation or checkpoint settings). */
export type StepOptions = Pick<
  TrainOptions,
  | 'epochs'
  | 'maxSteps'
  | 'lr'
  | 'schedule'
  | 'warmupSteps'
  | 'minLrRatio'
  | 'weightDecay'
  | 'adamBeta2'
  | 'optimizer'
  | 'batchSize'
  | 'gradAccum'
  | 'maxGradNorm'
  | 'seed'
  | 'padId'
  | 'maxBadSteps'
  | 'quantStats'
  | 'parallel'
>;

export interface TrainState {
  readonly model: CausalLM;
  readonly trainSet: readonly Example[];
  readonly options: StepOptions;
  /** The parameters that get gradients, in the model's order (this rank's shards under FSDP). */
  readonly trainable: readonly Param[];
  readonly optimizer: Optimizer;
  readonly optimizerChoice: OptimizerChoice;
  /** Optimizer steps the run takes: maxSteps, else epochs × steps per epoch. */
  readonly totalSteps: number;
  /** The learning rate of step s (0-based). */
  readonly lrAt: (step: number) => number;
  /** The seeded batch order; resumeTrainState puts it back at a checkpoint's position. */
  loader: BatchLoader;
  /** Optimizer steps done (across resumes). */
  step: number;
  /** Steps skipped as non-finite (across resumes), and how many of the latest were so in a row. */
  skippedSteps: number;
  badInARow: number;
  /** Tokens since the run began, across resumes (metrics.jsonl's `tokens`). */
  tokensTotal: number;
  /** Tokens and milliseconds of training steps in this process (tokens/s). */
  tokensSeen: number;
  trainMs: number;
  /** The latest step's train loss (NaN before the first). */
  lastLoss: number;
  /** Eval losses so far (across resumes): evaluateAndSave appends, checkpoints store them. */
  evalLosses: { step: number; loss: number }[];
}

/** Where a run stands, as a checkpoint stores it: whole tensors (not FSDP shards), counters, data position. */
export interface RunPosition {
  /** Optimizer steps done. */
  step: number;
  /** Trainable parameters by name. */
  params: ReadonlyMap<string, FloatArray>;
  optimizer: OptimizerState;
  /** The data loader's position (absent: the start of the data). */
  loader: LoaderState | undefined;
  evalLosses: { step: number; loss: number }[];
  skippedSteps: number;
  badInARow: number;
  /** Tokens since the run began. */
  tokens: number;
}

/** A fresh run: the optimizer over the model's trainable parameters, the schedule, the loader at the start. */
export function createTrainState(model: CausalLM, trainSet: readonly Example[], o: StepOptions): TrainState {
  if (trainSet.length === 0) throw new HaloError('E_ARG', 'the training set is empty');
  const trainable = model.parameters().filter(isTrainable);
  const optimizerChoice = o.optimizer ?? { kind: 'adamw' };
  // Quantized moments are per block of a whole tensor; FSDP's row shards would cut the blocks.
  if (o.parallel && optimizerChoice.kind !== 'adamw')
    throw new HaloError('E_UNSUPPORTED', `--optimizer ${optimizerChoice.kind} does not run with --fsdp yet; use --optimizer adamw`);
  if (o.parallel && trainable.some((p) => p.gradBf16))
    throw new HaloError('E_UNSUPPORTED', '--grad-dtype bf16 does not run with --fsdp/--hq-fsdp (their reduce-scatter is f32); use --grad-dtype f32');
  const optimizer = makeOptimizer(
    optimizerChoice,
    trainable.map((p) => ({ name: p.name, param: p.data, grad: gradOf(p), weightDecay: p.shape.length < 2 ? 0 : undefined })),
    { lr: o.lr, betas: [0.9, o.adamBeta2 ?? 0.999], weightDecay: o.weightDecay, update: model.nn?.adamwUpdate, blockUpdate: model.nn?.adamwBlockUpdate },
  );
  const microPerEpoch = Math.ceil(trainSet.length / o.batchSize);
  const stepsPerEpoch = Math.max(1, Math.floor(microPerEpoch / (o.gradAccum * (o.parallel?.size ?? 1))));
  const totalSteps = o.maxSteps ?? Math.max(1, Math.round(stepsPerEpoch * o.epochs));
  const lrAt = makeSchedule(o.lr, { kind: o.schedule, warmupSteps: Math.min(o.warmupSteps, totalSteps), totalSteps, minRatio: o.minLrRatio });
  return {
    model,
    trainSet,
    options: o,
    trainable,
    optimizer,
    optimizerChoice,
    totalSteps,
    lrAt,
    loader: makeLoader(trainSet, o, undefined),
    step: 0,
    skippedSteps: 0,
    badInARow: 0,
    tokensTotal: 0,
    tokensSeen: 0,
    trainMs: 0,
    lastLoss: NaN,
    evalLosses: [],
  };
}

/**
 * Puts a fresh state where `at` says a run stood: weights, optimizer moments, counters and data position,
 * so the steps that follow compute what the uninterrupted run would have. The caller has checked that `at`
 * fits this run (restore-run.ts: same run id, every trainable tensor at its size, the same optimizer).
 */
export function resumeTrainState(state: TrainState, at: RunPosition): void {
  const par = state.options.parallel;
  const params = par ? par.shard(at.params) : at.params;
  for (const p of state.model.parameters()) {
    const saved = params.get(p.name);
    if (saved) p.data.set(saved);
  }
  const opt = at.optimizer;
  state.optimizer.loadState(
    par
      ? { step: opt.step, m: Object.fromEntries(par.shard(new Map(Object.entries(opt.m)))), v: Object.fromEntries(par.shard(new Map(Object.entries(opt.v)))) }
      : opt,
  );
  state.step = at.step;
  state.evalLosses.push(...at.evalLosses);
  state.skippedSteps = at.skippedSteps;
  state.badInARow = at.badInARow;
  state.tokensTotal = at.tokens;
  state.model.weightsChanged();
  state.loader = makeLoader(state.trainSet, state.options, at.loader);
}

function makeLoader(trainSet: readonly Example[], o: StepOptions, at: LoaderState | undefined): BatchLoader {
  return new BatchLoader(trainSet, { batchSize: o.batchSize, padId: o.padId, seed: o.seed, state: at });
}
