// Learning-rate schedules as a multiplier of the base LR, indexed by the number of optimizer steps already
// taken (0 for the first step), like Hugging Face's get_*_schedule_with_warmup and Composer's
// LinearWithWarmupScheduler (HALO: linear_decay_with_warmup, t_warmup 20 batches, alpha_f 0):
//   warmup   (step < W):  step / W                       (so the very first step has LR 0, as in both)
//   constant (step ≥ W):  1
//   linear   (step ≥ W):  r + (1 − r)·(1 − p)
//   cosine   (step ≥ W):  r + (1 − r)·½(1 + cos πp)
// with p = (step − W) / (S − W) clamped to [0, 1], S = totalSteps, r = minRatio (Composer's alpha_f).
// https://github.com/huggingface/transformers/blob/main/src/transformers/optimization.py
import { HaloError } from '../core/errors.ts';

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface ScheduleConfig {
  kind: ScheduleKind;
  /** Linear warmup from 0 over this many steps. Default 0. */
  warmupSteps?: number;
  /** Total optimizer steps of the run (needed by 'linear' and 'cosine'). */
  totalSteps?: number;
  /** Final LR as a fraction of the base LR (decay ends there and stays). Default 0. */
  minRatio?: number;
}

/** Checks a config; E_ARG with what is wrong. */
export function validateSchedule(cfg: ScheduleConfig): void {
  const w = cfg.warmupSteps ?? 0;
  const r = cfg.minRatio ?? 0;
  if (cfg.kind !== 'constant' && cfg.kind !== 'linear' && cfg.kind !== 'cosine') {
    throw new HaloError('E_ARG', `unknown LR schedule '${String(cfg.kind)}'; use constant, linear or cosine`);
  }
  if (!Number.isInteger(w) || w < 0) throw new HaloError('E_ARG', `warmup steps must be an integer ≥ 0, got ${w}`);
  if (!(r >= 0 && r <= 1)) throw new HaloError('E_ARG', `minimum LR ratio must be in [0, 1], got ${r}`);
  if (cfg.kind !== 'constant') {
    const s = cfg.totalSteps;
    if (s === undefined || !Number.isInteger(s) || s < 1) {
      throw new HaloError('E_ARG', `the ${cfg.kind} schedule needs totalSteps (an integer ≥ 1), got ${s}`);
    }
    if (w > s) throw new HaloError('E_ARG', `warmup (${w} steps) is longer than the run (${s} steps)`);
  }
}

/** LR multiplier for the optimizer step that follows `step` completed steps. */
export function lrMultiplier(step: number, cfg: ScheduleConfig): number {
  const w = cfg.warmupSteps ?? 0;
  const r = cfg.minRatio ?? 0;
  if (step < w) return step / w;
  if (cfg.kind === 'constant') return 1;
  const S = cfg.totalSteps!;
  const p = S > w ? Math.min(1, Math.max(0, (step - w) / (S - w))) : 1;
  const f = cfg.kind === 'linear' ? 1 - p : 0.5 * (1 + Math.cos(Math.PI * p));
  return r + (1 - r) * f;
}

/** A validated schedule: step → learning rate. */
export function makeSchedule(baseLr: number, cfg: ScheduleConfig): (step: number) => number {
  validateSchedule(cfg);
  if (!(baseLr >= 0) || !Number.isFinite(baseLr)) throw new HaloError('E_ARG', `learning rate must be finite and ≥ 0, got ${baseLr}`);
  return (step) => baseLr * lrMultiplier(step, cfg);
}
