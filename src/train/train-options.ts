// TrainOptions with defaults: a caller names the output folder and what it changes, the rest is the
// `halo finetune` defaults (HF Trainer-like: linear schedule, 20 warmup steps, batch 4, clip at 1, …), so
// the ~20 fields are not written out by hand at every call site.
import type { TrainOptions } from './trainer.ts';

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
