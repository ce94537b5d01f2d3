// TrainOptions — what train() and its step-level pieces (restore-run.ts, train-step.ts, evaluate-save.ts) are
// told — and its defaults: a caller names the output folder and what it changes, the rest is the
// `halo finetune` defaults (HF Trainer-like: linear schedule, 20 warmup steps, batch 4, clip at 1, …), so
// the ~20 fields are not written out by hand at every call site.
import type { OptimizerChoice } from '../optim/optimizer.ts';
import type { ScheduleKind } from '../optim/schedule.ts';
import type { TrainParallel } from './parallel.ts';
import type { StepRecord } from './train-step.ts';

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

/** Every TrainOptions field that has a default, with it. */
export const TRAIN_DEFAULTS = {
  epochs: 1,
  lr: 5e-5,
  schedule: 'linear',
  warmupSteps: 20,
  minLrRatio: 0,
  weightDecay: 0,
  adamBeta2: 0.999,
  batchSize: 4,
  gradAccum: 1,
  maxGradNorm: 1,
  seed: 42,
  padId: 0,
  evalEvery: 0,
  saveEvery: 50,
  keepCheckpoints: 2,
  resume: false,
  logEvery: 10,
  maxBadSteps: 10,
} as const satisfies Partial<TrainOptions>;

/** Full TrainOptions from `outDir` and the fields that differ from TRAIN_DEFAULTS (undefined ones keep the default). */
export function trainOptions(partial: Partial<TrainOptions> & { outDir: string }): TrainOptions {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<TrainOptions> & { outDir: string };
  return { ...TRAIN_DEFAULTS, ...given };
}
