// The level × format ablation of the paper's Table 6 (and Table 3's FP8 row): which configurations are run,
// how a configuration × seed fine-tuning run is summarised, and how seeds are aggregated (mean ± sample std).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../backend/backend.ts';
import { HaloError } from '../core/errors.ts';
import type { Example } from '../data/encode.ts';
import type { EvalItem } from '../data/records.ts';
import { evaluateGeneration } from '../eval/evaluate.ts';
import type { Scorer } from '../eval/scorers.ts';
import { describeConfig, haloConfig, type HaloConfig } from '../halo/config.ts';
import type { HfModel } from '../io/hf-folder.ts';
import type { CausalLM } from '../models/causal-lm.ts';
import { LlamaModel } from '../models/llama.ts';
import { HALO_PEFT_DEFAULTS, type PeftMethod } from '../peft/build.ts';
import { createPeftModel } from '../peft/peft-model.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';
import { evaluateLoss, train } from '../train/trainer.ts';

export interface AblationConfig {
  id: string;
  label: string;
  halo: HaloConfig;
}

/** FP32, BF16, then HALO-0/1/2 × INT8/FP8/FP6 (the paper's Table 6 rows plus FP8 and the FP32 reference). */
export function ablationConfigs(): AblationConfig[] {
  const out: AblationConfig[] = [
    { id: 'fp32', label: 'FP32', halo: haloConfig({ level: 'none', format: 'fp32' }) },
    { id: 'bf16', label: 'BF16', halo: haloConfig({ level: 'none', format: 'bf16' }) },
  ];
  for (const format of ['int8', 'fp8', 'fp6'] as const) {
    for (const level of ['halo0', 'halo1', 'halo2'] as const) {
      const halo = haloConfig({ level, format });
      out.push({ id: `${level}-${format}`, label: describeConfig(halo), halo });
    }
  }
  return out;
}

/** The paper's Table 4 rows for PEFT (HALO_PEFT in INT8, FP6, FP8; here on HALO-2) plus FP32 and BF16 bases. */
export const PEFT_DEFAULT_CONFIGS = ['fp32', 'bf16', 'halo2-int8', 'halo2-fp8', 'halo2-fp6'] as const;

export function selectConfigs(list: string | undefined, peft: PeftMethod | null = null): AblationConfig[] {
  const all = ablationConfigs();
  if (!list) return peft ? all.filter((c) => (PEFT_DEFAULT_CONFIGS as readonly string[]).includes(c.id)) : all;
  const want = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = want.find((w) => !all.some((c) => c.id === w));
  if (bad) throw new HaloError('E_ARG', `unknown --configs entry '${bad}'; use some of ${all.map((c) => c.id).join(', ')}`);
  return all.filter((c) => want.includes(c.id));
}

export interface RunResult {
  config: string;
  label: string;
  seed: number;
  steps: number;
  evalLoss: number;
  /** Accuracy of each scorer (the first is the paper's exact match). */
  accuracy: Record<string, number>;
  trainSeconds: number;
  tokensPerSecond: number;
  evalSeconds: number;
}

export interface RunSetup {
  source: HfModel;
  tok: TextTokenizer;
  be: Backend;
  trainSet: readonly Example[];
  evalSet: readonly Example[];
  evalItems: readonly EvalItem[];
  scorers: readonly Scorer[];
  padId: number;
  steps: number;
  batchSize: number;
  lr: number;
  maxNewTokens: number;
  /** Train LoRA / HUT adapters (HALO's recipe: r 16, α 8, all seven projections) on a frozen base instead of every weight. */
  peft: PeftMethod | null;
}

/** One fine-tuning run from the source weights, then eval loss and exact match with the same linears. */
export function runOne(s: RunSetup, cfg: AblationConfig, seed: number, dir: string): RunResult {
  let model: CausalLM;
  let decoder: LlamaModel;
  if (s.peft) {
    const pm = createPeftModel(s.source.config, s.source.weights, { halo: cfg.halo, backend: s.be, peft: { method: s.peft, ...HALO_PEFT_DEFAULTS, seed } });
    model = pm;
    decoder = pm.model;
  } else {
    decoder = new LlamaModel(s.source.config, s.source.weights, { halo: cfg.halo, backend: s.be });
    model = decoder;
  }
  const summary = train(model, s.trainSet, [], {
    outDir: dir,
    epochs: 1e9,
    maxSteps: s.steps,
    lr: s.lr,
    schedule: 'linear',
    warmupSteps: Math.max(1, Math.round(s.steps / 10)),
    minLrRatio: 0,
    weightDecay: 0,
    batchSize: s.batchSize,
    gradAccum: 1,
    maxGradNorm: 1,
    seed,
    padId: s.padId,
    evalEvery: 0,
    saveEvery: 0,
    keepCheckpoints: 1,
    resume: false,
    logEvery: 10,
    maxBadSteps: 5,
    quiet: true,
    runConfig: { halo: cfg.halo },
  });
  // The trainer always checkpoints its last step; an ablation keeps only the numbers (metrics.jsonl stays).
  fs.rmSync(path.join(dir, 'checkpoints'), { recursive: true, force: true });
  const t0 = performance.now();
  const evalLoss = evaluateLoss(model, s.evalSet, 8, s.padId); // PeftModel.loss switches LoRA dropout off
  const gen = evaluateGeneration(decoder, s.tok, s.evalItems, s.scorers, { maxNewTokens: s.maxNewTokens, progress: false });
  return {
    config: cfg.id,
    label: cfg.label,
    seed,
    steps: summary.steps,
    evalLoss,
    accuracy: Object.fromEntries(gen.scores.map((x) => [x.scorer, x.accuracy])),
    trainSeconds: summary.seconds,
    tokensPerSecond: summary.tokensPerSecond,
    evalSeconds: (performance.now() - t0) / 1000,
  };
}

/** Mean and sample standard deviation (n − 1; NaN for a single value: one seed has no spread). */
export function meanStd(v: readonly number[]): { mean: number; std: number } {
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, std };
}

export interface AggregateRow {
  config: string;
  label: string;
  seeds: number;
  evalLoss: { mean: number; std: number };
  accuracy: Record<string, { mean: number; std: number }>;
  trainSeconds: number;
  tokensPerSecond: number;
}

export function aggregate(runs: readonly RunResult[], configs: readonly AblationConfig[]): AggregateRow[] {
  return configs.flatMap((c) => {
    const rs = runs.filter((r) => r.config === c.id);
    if (rs.length === 0) return [];
    const scorers = Object.keys(rs[0].accuracy);
    return [
      {
        config: c.id,
        label: c.label,
        seeds: rs.length,
        evalLoss: meanStd(rs.map((r) => r.evalLoss)),
        accuracy: Object.fromEntries(scorers.map((k) => [k, meanStd(rs.map((r) => r.accuracy[k] * 100))])),
        trainSeconds: meanStd(rs.map((r) => r.trainSeconds)).mean,
        tokensPerSecond: meanStd(rs.map((r) => r.tokensPerSecond)).mean,
      },
    ];
  });
}

/** "12.34 ± 0.56", or just the mean when there is no spread to show. */
export function pm(v: { mean: number; std: number }, digits: number): string {
  if (!Number.isFinite(v.mean)) return '-';
  return Number.isFinite(v.std) ? `${v.mean.toFixed(digits)} ± ${v.std.toFixed(digits)}` : v.mean.toFixed(digits);
}
