// Builds the adapters of a PEFT run for a model config — one per targeted projection, keyed by the
// projection's weight name as LlamaModel's `adapters` option wants — and counts what they cost: LoRA and HUT
// both train r·(in + out) numbers per projection, so at the same rank their counts are equal.
import type { Backend } from '../backend/backend.ts';
import { referenceBackend } from '../backend/reference/index.ts';
import { HaloError } from '../core/errors.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { parameterCount } from '../io/model-tensors.ts';
import type { Adapter } from './adapter.ts';
import { HutAdapter } from './hut.ts';
import { LoraAdapter } from './lora.ts';
import { parseTargetModules, projections, type TargetModule } from './names.ts';

export const PEFT_METHODS = ['lora', 'hut'] as const;
export type PeftMethod = (typeof PEFT_METHODS)[number];

export interface PeftOptions {
  method: PeftMethod;
  rank: number;
  alpha: number;
  /** LoRA input dropout (HUT has none: its update acts on the weight, not on activations). */
  dropout: number;
  /** Short projection names; default all seven (PEFT's 'all-linear' for Llama). */
  targetModules?: readonly string[];
  /** Scale α/√r instead of α/r. */
  rslora?: boolean;
  seed: number;
}

/** HALO's PEFT recipe (spec §8, train_hqt.sh): r 16, α 8, dropout 0.05, all seven projections. */
export const HALO_PEFT_DEFAULTS = { rank: 16, alpha: 8, dropout: 0.05 } as const;

export interface BuildOptions {
  /** Precision of the adapter factors; must match the model's (default f32). */
  precision?: 'f32' | 'f64';
  /** Backend for the adapters' float GEMMs (default: the reference backend). */
  backend?: Backend;
}

/** One adapter per targeted projection, in model order. Seeds differ per projection and derive from opts.seed. */
export function buildAdapters(config: ModelConfig, opts: PeftOptions, build: BuildOptions = {}): Map<string, Adapter> {
  if (!(PEFT_METHODS as readonly string[]).includes(opts.method)) {
    throw new HaloError('E_ARG', `unknown PEFT method '${opts.method}'; use one of ${PEFT_METHODS.join(', ')}`);
  }
  if (!Number.isInteger(opts.rank) || opts.rank < 1) throw new HaloError('E_ARG', `--rank must be a positive integer, got ${opts.rank}`);
  const targets = parseTargetModules(opts.targetModules);
  const out = new Map<string, Adapter>();
  projections(config, targets).forEach((p, i) => {
    const common = {
      projection: p.weight,
      inFeatures: p.inFeatures,
      outFeatures: p.outFeatures,
      rank: opts.rank,
      alpha: opts.alpha,
      rslora: opts.rslora,
      precision: build.precision,
      backend: build.backend ?? referenceBackend,
      // Distinct, reproducible streams per projection (a large odd stride keeps neighbouring seeds apart).
      seed: (opts.seed + Math.imul(i + 1, 0x9e3779b1)) >>> 0,
    };
    out.set(p.weight, opts.method === 'lora' ? new LoraAdapter({ ...common, dropout: opts.dropout }) : new HutAdapter(common));
  });
  return out;
}

/** Switches LoRA dropout on (training) or off (evaluation, generation); HUT adapters have no mode. */
export function setAdaptersTraining(adapters: Iterable<Adapter>, training: boolean): void {
  for (const a of adapters) if (a instanceof LoraAdapter) a.training = training;
}

export interface ParamCount {
  method: PeftMethod;
  rank: number;
  targets: TargetModule[];
  /** Adapter parameters (the only trainable ones with a frozen base). */
  trainable: number;
  /** Base parameters the config implies. */
  base: number;
  /** base + trainable. */
  total: number;
}

/** Trainable vs total parameters of a PEFT setup, computed from the config alone. */
export function countPeftParams(config: ModelConfig, method: PeftMethod, rank: number, targetModules?: readonly string[]): ParamCount {
  const targets = parseTargetModules(targetModules);
  const trainable = projections(config, targets).reduce((s, p) => s + rank * (p.inFeatures + p.outFeatures), 0);
  const base = parameterCount(config);
  return { method, rank, targets, trainable, base, total: base + trainable };
}

/** A small text table of LoRA vs HUT at one rank (equal counts; HUT's update can have rank up to r·rank(W0)). */
export function describeParamCounts(config: ModelConfig, rank: number, targetModules?: readonly string[]): string {
  const rows = PEFT_METHODS.map((m) => countPeftParams(config, m, rank, targetModules));
  const lines = [`method  rank  trainable     total         trainable %`];
  for (const r of rows) {
    lines.push(
      `${r.method.padEnd(6)}  ${String(r.rank).padEnd(4)}  ${String(r.trainable).padEnd(12)}  ${String(r.total).padEnd(12)}  ${((100 * r.trainable) / r.total).toFixed(3)}%`,
    );
  }
  return lines.join('\n');
}
