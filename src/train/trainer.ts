// The training loop: batches → forward/backward (with gradient accumulation) → clip → AdamW → schedule,
// with periodic evaluation, metrics.jsonl, atomic checkpoints and exact resume (weights, optimizer moments,
// data-loader position and step all come back from the checkpoint, so a resumed run computes the same
// losses as an uninterrupted one).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { countNonFinite } from '../core/finite.ts';
import { BatchLoader, collate, type Batch, type LoaderState } from '../data/batch.ts';
import type { Example } from '../data/encode.ts';
import { gradOf, isTrainable, type CausalLM, type Param } from '../models/causal-lm.ts';
import { clipGradNorm } from '../optim/adamw.ts';
import { checkResumeOptimizer, makeOptimizer, type OptimizerChoice } from '../optim/optimizer.ts';
import { makeSchedule, type ScheduleKind } from '../optim/schedule.ts';
import { pickResumeCheckpoint, saveCheckpoint, type Checkpoint } from './checkpoint.ts';
import { MetricsLog, readMetrics } from './metrics.ts';
import { nextBatch, type TrainParallel } from './parallel.ts';
import { ProgressBar } from './progress.ts';

export interface TrainOptions {
  outDir: string;
  epochs: number;
  /** Stop after this many optimizer steps (default: epochs × steps per epoch). */
  maxSteps?: number;
  lr: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  minLrRatio: number;
  weightDecay: number;
  /**
   * AdamW's β2 (default 0.999, torch's). LLM pretraining usually takes 0.95, a shorter memory of gradient
   * sizes: with 0.999 the large gradients of the first steps keep later updates small for thousands of steps.
   */
  adamBeta2?: number;
  /** adamw (default), or 8-bit / FP8 block-quantized moments (src/optim/optimizer.ts); a checkpoint resumes only with its own. */
  optimizer?: OptimizerChoice;
  batchSize: number;
  gradAccum: number;
  maxGradNorm: number; // 0 = no clipping
  seed: number;
  padId: number;
  evalEvery: number; // optimizer steps; 0 = only at the end
  saveEvery: number; // optimizer steps; 0 = only at the end (unless finalCheckpoint is false)
  /** Write a checkpoint after the last step (default true); false with saveEvery 0 writes none at all. */
  finalCheckpoint?: boolean;
  /** Checkpoints kept on disk, newest first (HF's save_total_limit; at least 1). */
  keepCheckpoints: number;
  /** Continue from the newest complete checkpoint in outDir (manifest present, checksums valid). */
  resume: boolean;
  logEvery: number;
  /**
   * A step whose loss or gradient norm is not finite (or whose forward/backward raised E_NUMERIC) is skipped:
   * no update, counted, logged. This many such steps in a row stop training with E_NUMERIC.
   */
  maxBadSteps: number;
  /** Counts quantized values at the format's max per HALO layer; each step's counts go into metrics.jsonl. */
  quantStats?: { reset(): void; take(): Record<string, unknown> | null };
  quiet?: boolean;
  /** Stop after this step as if interrupted (no final save): lets tests compare a resumed run to a whole one. */
  stopAtStep?: number;
  /**
   * Called after each optimizer step (its metrics.jsonl record, plus the run's total steps): progress for a
   * program (the API's onProgress). Runs synchronously inside the loop.
   */
  onStep?: (record: StepRecord) => void;
  /**
   * Asked after each step (and its checkpoint, if any): true stops the loop there, as stopAtStep does (no final
   * checkpoint). The loop is synchronous, so a stop asked for during a step takes effect when that step ends.
   */
  shouldStop?: () => boolean;
  /**
   * One rank of a data-parallel job (src/dist/fsdp.ts): batches are sharded by rank, token counts, losses and
   * the gradient norm are global, checkpoints hold whole tensors and only rank 0 writes files.
   */
  parallel?: TrainParallel;
  /** Extra JSON stored in trainer_state.json (model/HALO settings). */
  runConfig?: Record<string, unknown>;
  /**
   * The run this training belongs to (OUT/run.json, src/train/run-folder.ts): stored in every checkpoint, and
   * --resume refuses a checkpoint that carries another run's id (or none).
   */
  runId?: string;
}

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

export function evaluateLoss(model: CausalLM, examples: readonly Example[], batchSize: number, padId: number): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const r = model.loss(collate(examples.slice(i, i + batchSize), { padId }));
    sum += r.lossSum;
    count += r.tokens;
  }
  return count > 0 ? sum / count : NaN;
}

export function train(model: CausalLM, trainSet: readonly Example[], evalSet: readonly Example[], o: TrainOptions): TrainSummary {
  if (trainSet.length === 0) throw new HaloError('E_ARG', 'the training set is empty');
  fs.mkdirSync(o.outDir, { recursive: true });
  const trainable = model.parameters().filter(isTrainable);
  const optChoice = o.optimizer ?? { kind: 'adamw' };
  // Quantized moments are per block of a whole tensor; FSDP's row shards would cut the blocks.
  if (o.parallel && optChoice.kind !== 'adamw') throw new HaloError('E_UNSUPPORTED', `--optimizer ${optChoice.kind} does not run with --fsdp yet; use --optimizer adamw`);
  if (o.parallel && trainable.some((p) => p.gradBf16)) throw new HaloError('E_UNSUPPORTED', '--grad-dtype bf16 does not run with --fsdp/--hq-fsdp (their reduce-scatter is f32); use --grad-dtype f32');
  const optimizer = makeOptimizer(
    optChoice,
    trainable.map((p) => ({ name: p.name, param: p.data, grad: gradOf(p), weightDecay: p.shape.length < 2 ? 0 : undefined })),
    { lr: o.lr, betas: [0.9, o.adamBeta2 ?? 0.999], weightDecay: o.weightDecay, update: model.nn?.adamwUpdate, blockUpdate: model.nn?.adamwBlockUpdate },
  );
  const microPerEpoch = Math.ceil(trainSet.length / o.batchSize);
  const par = o.parallel;
  const lead = (par?.rank ?? 0) === 0;
  const stepsPerEpoch = Math.max(1, Math.floor(microPerEpoch / (o.gradAccum * (par?.size ?? 1))));
  const totalSteps = o.maxSteps ?? Math.max(1, Math.round(stepsPerEpoch * o.epochs));
  const lrAt = makeSchedule(o.lr, { kind: o.schedule, warmupSteps: Math.min(o.warmupSteps, totalSteps), totalSteps, minRatio: o.minLrRatio });
  const metrics = new MetricsLog(path.join(o.outDir, 'metrics.jsonl'));

  let step = 0;
  let loaderState: LoaderState | undefined;
  let resumedFrom: string | null = null;
  let resumeSkipped: { dir: string; reason: string }[] = [];
  let skipped = 0;
  let badInARow = 0;
  /** Tokens since the run began, across resumes (metrics.jsonl's `tokens`); tokensSeen counts this process's. */
  let tokensTotal = 0;
  const evalLosses: { step: number; loss: number }[] = [];
  if (o.resume) {
    const pick = pickResumeCheckpoint(o.outDir);
    resumeSkipped = pick.skipped;
    if (!o.quiet) for (const s of pick.skipped) process.stderr.write(`--resume: skipping incomplete checkpoint ${s.dir}: ${s.reason}\n`);
    const ck = pick.checkpoint;
    if (ck) {
      const dir = ck.dir;
      checkResumable(ck, trainable, o.runId, par);
      checkResumeOptimizer(ck.optimizer, optChoice, dir);
      const params = par ? par.shard(ck.params) : ck.params;
      for (const p of model.parameters()) {
        const saved = params.get(p.name);
        if (saved) p.data.set(saved);
      }
      const opt = ck.optimizer;
      optimizer.loadState(par ? { step: opt.step, m: Object.fromEntries(par.shard(new Map(Object.entries(opt.m)))), v: Object.fromEntries(par.shard(new Map(Object.entries(opt.v)))) } : opt);
      step = ck.state.step;
      loaderState = ck.state.loader as LoaderState;
      evalLosses.push(...((ck.state.evalLosses as { step: number; loss: number }[]) ?? []));
      skipped = typeof ck.state.skippedSteps === 'number' ? ck.state.skippedSteps : 0;
      badInARow = typeof ck.state.badInARow === 'number' ? ck.state.badInARow : 0;
      model.weightsChanged();
      if (lead) metrics.truncateAfter(step);
      tokensTotal = resumedTokens(ck.state.tokens, metrics.file, step);
      resumedFrom = dir;
      if (!o.quiet) process.stderr.write(`resuming from ${dir} (step ${step})\n`);
    } else {
      // Lines a killed run logged before its first checkpoint would otherwise be logged twice.
      if (lead) fs.rmSync(metrics.file, { force: true });
      if (!o.quiet) process.stderr.write(`--resume: no complete checkpoint in ${o.outDir}, starting fresh\n`);
    }
  } else if (lead) {
    fs.rmSync(metrics.file, { force: true });
  }

  const loader = new BatchLoader(trainSet, { batchSize: o.batchSize, padId: o.padId, seed: o.seed, state: loaderState });
  const bar = o.quiet || !lead ? null : new ProgressBar('train', totalSteps, { startAt: step, logEvery: o.logEvery });
  const t0 = performance.now();
  let trainMs = 0;
  let tokensSeen = 0;
  let lastLoss = NaN;
  // Weights that were not finite at the start (loaded with --allow-nonfinite) are not this run's doing.
  const nonFiniteAtStart = countNonFiniteParams(trainable, par);

  const checkpoint = () => {
    checkFinite(trainable, nonFiniteAtStart, step, o.outDir, par);
    let params: ReadonlyMap<string, FloatArray> = new Map(trainable.map((p) => [p.name, p.data]));
    let opt = optimizer.state();
    if (par) {
      // Whole tensors, so a run can resume at any world size; every rank gathers, rank 0 writes.
      params = par.unshard(params);
      opt = { step: opt.step, m: Object.fromEntries(par.unshard(new Map(Object.entries(opt.m)))), v: Object.fromEntries(par.unshard(new Map(Object.entries(opt.v)))) };
    }
    if (lead) {
      const state = { step, loader: loader.state(), config: o.runConfig ?? {}, evalLosses, skippedSteps: skipped, badInARow, tokens: tokensTotal, runId: o.runId };
      saveCheckpoint(o.outDir, params, opt, state, o.keepCheckpoints, new Map(trainable.map((p) => [p.name, par ? par.wholeShape(p.name) : p.shape])));
    }
    par?.barrier();
  };

  while (step < totalSteps) {
    const micro: Batch[] = [];
    for (let i = 0; i < o.gradAccum; i++) {
      const b = nextBatch(loader, par);
      if (b) micro.push(b);
    }
    if (micro.length === 0) break;
    const stepStart = performance.now();
    const counts = Float64Array.of(micro.reduce((s, b) => s + b.lossTokens, 0), micro.reduce((s, b) => s + b.lengths.reduce((a, c) => a + c, 0), 0));
    par?.sum(counts);
    const tokens = counts[0];
    optimizer.zeroGrad();
    o.quantStats?.reset();
    let lossSum = 0;
    let numericError: string | null = null;
    try {
      for (const b of micro) lossSum += model.forwardBackward(b, tokens > 0 ? 1 / tokens : 0).lossSum;
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
    const sumOverRanks = par ? (x: number) => { const a = Float64Array.of(x); par.sum(a); return a[0]; } : undefined;
    const { norm } = o.maxGradNorm > 0 && numericError === null ? clipGradNorm(trainable.map(gradOf), o.maxGradNorm, { sumOverRanks }) : { norm: NaN };
    const lr = lrAt(step);
    const finite = numericError === null && Number.isFinite(loss) && (o.maxGradNorm <= 0 || Number.isFinite(norm));
    if (finite) {
      optimizer.step(lr);
      model.weightsChanged();
      badInARow = 0;
    } else {
      skipped++;
      badInARow++;
    }
    step++;
    trainMs += performance.now() - stepStart;
    tokensSeen += counts[1];
    tokensTotal += counts[1];
    lastLoss = loss;
    const record: Record<string, unknown> = {
      step, loss, lr, gradNorm: norm, tokens: tokensTotal, tokensPerSecond: tokensSeen / (trainMs / 1000), epoch: micro[0].epoch, skipped: !finite, skippedSteps: skipped,
    };
    if (numericError !== null) record.numericError = numericError;
    const qs = o.quantStats?.take();
    if (qs) Object.assign(record, qs);
    if (badInARow >= o.maxBadSteps) {
      if (lead) metrics.append(record);
      throw new HaloError(
        'E_NUMERIC',
        `${badInARow} optimizer steps in a row (steps ${step - badInARow + 1}–${step}) had a non-finite loss or gradient norm ` +
          `(last: loss ${loss}, grad norm ${norm}${numericError ? `; ${numericError}` : ''}); stopping (--max-bad-steps ${o.maxBadSteps}). ` +
          `The last checkpoint is still good; lower the learning rate or use a wider format.`,
      );
    }
    if ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === totalSteps) {
      if (evalSet.length) {
        const el = evaluateLoss(model, evalSet, o.batchSize, o.padId);
        evalLosses.push({ step, loss: el });
        record.evalLoss = el;
      }
    }
    if (lead) metrics.append(record);
    bar?.update(step, { loss, lr, tokens: tokensSeen });
    o.onStep?.({ ...(record as Omit<StepRecord, 'totalSteps'>), totalSteps });
    if ((o.saveEvery > 0 && step % o.saveEvery === 0) || (step === totalSteps && (o.finalCheckpoint ?? true))) checkpoint();
    if (o.stopAtStep !== undefined && step >= o.stopAtStep) break;
    if (o.shouldStop?.()) break;
  }
  // No final save of weights with NaN/Inf: the caller saves the model after this returns.
  checkFinite(trainable, nonFiniteAtStart, step, o.outDir, par);
  const seconds = (performance.now() - t0) / 1000;
  return {
    steps: step,
    tokens: tokensSeen,
    seconds,
    trainSeconds: trainMs / 1000,
    tokensPerSecond: tokensSeen / (trainMs / 1000),
    finalTrainLoss: lastLoss,
    evalLosses,
    skippedSteps: skipped,
    resumedFrom,
    resumeSkipped,
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
    throw new HaloError('E_ARG', `--resume: checkpoint ${ck.dir} belongs to ${theirs}, not to run ${runId} of ${path.dirname(path.dirname(ck.dir))}/run.json; start over with --overwrite, or remove that checkpoint`);
  }
  for (const p of trainable) {
    const saved = ck.params.get(p.name);
    const want = par ? par.wholeShape(p.name).reduce((a, b) => a * b, 1) : p.data.length;
    if (!saved) throw new HaloError('E_ARG', `--resume: checkpoint ${ck.dir} has no ${p.name}, which this run trains (different --peft, --rank or model?)`);
    if (saved.length !== want) throw new HaloError('E_ARG', `--resume: checkpoint ${ck.dir} has ${saved.length} values for ${p.name}, this run's has ${want} (different --rank or model?)`);
  }
}

/** metrics.jsonl's running token count at `step`: from the checkpoint, or (older checkpoints) the log's line for that step. */
function resumedTokens(saved: unknown, metricsFile: string, step: number): number {
  if (typeof saved === 'number' && Number.isFinite(saved) && saved >= 0) return saved;
  if (!fs.existsSync(metricsFile)) return 0;
  const at = readMetrics(metricsFile).filter((r) => r.step === step && typeof r.tokens === 'number');
  return at.length ? (at[at.length - 1].tokens as number) : 0;
}

/** Non-finite values per trainable parameter (summed over ranks). */
function countNonFiniteParams(trainable: readonly Param[], par: TrainParallel | undefined): Float64Array {
  const counts = Float64Array.from(trainable, (p) => countNonFinite(p.data, p.data instanceof Float64Array ? 'f64' : 'f32').count);
  par?.sum(counts);
  return counts;
}

/** E_NUMERIC when training made some weight non-finite: nothing is saved over the last good checkpoint. */
function checkFinite(trainable: readonly Param[], atStart: Float64Array, step: number, outDir: string, par: TrainParallel | undefined): void {
  const now = countNonFiniteParams(trainable, par);
  const bad = trainable.map((p, i) => ({ name: p.name, n: now[i] - atStart[i] })).filter((b) => b.n > 0);
  if (bad.length === 0) return;
  const first = bad[0];
  throw new HaloError(
    'E_NUMERIC',
    `after step ${step} ${bad.length} weight tensor${bad.length === 1 ? '' : 's'} hold non-finite values (${first.name}: ${first.n} NaN/Inf${bad.length > 1 ? `; ${bad[1].name}, …` : ''}); ` +
      `nothing was saved over ${outDir}'s last checkpoint. Lower the learning rate, keep --max-grad-norm on, or use a wider format.`,
  );
}
