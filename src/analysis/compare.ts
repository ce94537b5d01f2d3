// `halo experiment compare`: HALO against the prior INT8 training methods (SwitchBack, Jetfire) and BF16 in
// the paper's pairings of format and level (Table 3 / 6: INT8 → HALO-2, FP6 E3M2 → HALO-1, FP8 E4M3 →
// HALO-0), fine-tuned over several seeds on several tasks. The runs themselves are ablation.ts's (runOne,
// aggregate, meanStd): this file only says which methods and per-task budgets the comparison uses, and adds
// what a comparison needs on top of an ablation — rows keyed by task, and each method's eval loss against
// BF16's on the same seed (the seed sets the data order, so paired differences cancel most of the
// seed-to-seed spread, which on halo-tiny is larger than the differences between methods).
import { HaloError } from '../core/errors.ts';
import { describeConfig, FORMATS, haloConfig, LEVELS, type Format, type Level } from '../halo/config.ts';
import { aggregate, meanStd, type AblationConfig, type AggregateRow, type RunResult } from './ablation.ts';
import type { TaskName } from './tasks.ts';

/** BF16, the two INT8 baselines, then HALO in each format at the level the paper pairs it with. */
export const DEFAULT_COMPARE_METHODS = ['bf16', 'switchback-int8', 'jetfire-int8', 'halo2-int8', 'halo1-fp6', 'halo0-fp8'] as const;

export const DEFAULT_COMPARE_TASKS: readonly TaskName[] = ['sql', 'arith'];

/**
 * A method id: 'fp32', 'bf16', or LEVEL-FORMAT with a quantizing level (halo0|1|2, switchback, jetfire) and a
 * quantized format (int8, fp8, fp8e5m2, fp6) — e.g. 'switchback-int8', 'halo1-fp6'.
 */
export function methodConfig(id: string): AblationConfig {
  if (id === 'fp32' || id === 'bf16') {
    const halo = haloConfig({ level: 'none', format: id });
    return { id, label: describeConfig(halo), halo };
  }
  const m = /^([a-z0-9]+)-([a-z0-9]+)$/.exec(id);
  const level = m?.[1] as Level | undefined;
  const format = m?.[2] as Format | undefined;
  const levels: readonly Level[] = LEVELS.filter((l) => l !== 'none' && l !== 'ideal');
  const formats: readonly Format[] = FORMATS.filter((f) => f !== 'bf16' && f !== 'fp32');
  if (!level || !format || !levels.includes(level) || !formats.includes(format)) {
    throw new HaloError(
      'E_ARG',
      `unknown method '${id}'; use fp32, bf16 or LEVEL-FORMAT with LEVEL one of ${levels.join(', ')} and FORMAT one of ${formats.join(', ')} (e.g. ${DEFAULT_COMPARE_METHODS.join(', ')})`,
    );
  }
  const halo = haloConfig({ level, format });
  return { id, label: describeConfig(halo), halo };
}

/** Comma-separated method ids, in the order given (each once). */
export function selectMethods(list: string): AblationConfig[] {
  const ids = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new HaloError('E_ARG', '--methods names no method');
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new HaloError('E_ARG', `--methods names '${dup}' twice`);
  return ids.map(methodConfig);
}

/** A task's fine-tuning budget and evaluation size in the comparison (each overridable from the CLI). */
export interface CompareRecipe {
  steps: number;
  lr: number;
  /** Held-out examples for eval loss / exact match (the first N of the eval split). */
  evalLossLimit: number;
  evalLimit: number;
  maxNewTokens: number;
}

/**
 * Chosen so both default tasks × 6 methods × 3 seeds fit in about 40 minutes on 2 cores. SQL is ablation's
 * budget (docs/results.md §3). arith needs more steps to be learned at all: at 300 steps of 8 with lr 2e-3
 * FP32 gets about half its eval questions right, the middle of its learning curve, where a method that
 * learns slower shows (on a wordier draft of the data, 300 → 600 steps took FP32 from 11% to 78%: much
 * longer, and every method would saturate).
 * Real GSM8K is here for completeness: halo-tiny scores 0 on it after any budget this command can afford.
 */
export const COMPARE_RECIPES: { readonly [T in TaskName]: CompareRecipe } = {
  sql: { steps: 40, lr: 1e-3, evalLossLimit: 100, evalLimit: 40, maxNewTokens: 48 },
  arith: { steps: 300, lr: 2e-3, evalLossLimit: 200, evalLimit: 200, maxNewTokens: 32 },
  gsm8k: { steps: 40, lr: 1e-3, evalLossLimit: 100, evalLimit: 20, maxNewTokens: 160 },
};

export interface CompareRow extends AggregateRow {
  task: TaskName;
  /** The scorer whose accuracy `exactMatch` is: the task's first (HALO's own rule). */
  exactMatchScorer: string;
  exactMatch: { mean: number; std: number };
  /**
   * 100 · (eval loss − BF16's) / BF16's on the same seed, mean ± std over the seeds both ran; null for BF16
   * itself or when BF16 is not among the methods.
   */
  vsBf16: { mean: number; std: number; seeds: number } | null;
}

/** One task's runs, aggregated per method (ablation.ts's mean ± sample std), in the order of `methods`. */
export function compareRows(task: TaskName, runs: readonly RunResult[], methods: readonly AblationConfig[], exactMatchScorer: string): CompareRow[] {
  const bf16 = new Map(runs.filter((r) => r.config === 'bf16').map((r) => [r.seed, r.evalLoss]));
  return aggregate(runs, methods).map((row) => {
    let vsBf16: CompareRow['vsBf16'] = null;
    if (row.config !== 'bf16') {
      const diffs = runs.filter((r) => r.config === row.config && bf16.has(r.seed)).map((r) => (100 * (r.evalLoss - bf16.get(r.seed)!)) / bf16.get(r.seed)!);
      if (diffs.length > 0) vsBf16 = { ...meanStd(diffs), seeds: diffs.length };
    }
    return { ...row, task, exactMatchScorer, exactMatch: row.accuracy[exactMatchScorer] ?? { mean: NaN, std: NaN }, vsBf16 };
  });
}

/** "+1.23% ± 0.45", or just the mean when there is no spread to show. */
export function signedPct(v: { mean: number; std: number } | null): string {
  if (!v || !Number.isFinite(v.mean)) return '-';
  const m = `${v.mean >= 0 ? '+' : ''}${v.mean.toFixed(2)}%`;
  return Number.isFinite(v.std) ? `${m} ± ${v.std.toFixed(2)}` : m;
}
