// The optimizers a run can choose (--optimizer): adamw (f32 moments, src/optim/adamw.ts), adamw8bit and
// adamw-fp8 (block-wise quantized moments, src/optim/adamw8bit.ts). One interface for the trainer and the
// benches, the bytes each keeps per tensor (for the memory plan), and the check that a checkpoint resumes
// with the optimizer that wrote it.
import { HaloError } from '../core/errors.ts';
import { AdamW, type AdamWConfig, type AdamWState, type OptimParam } from './adamw.ts';
import { AdamW8bit, DEFAULT_BLOCK, MIN_QUANTIZED, type AdamW8bitConfig, type QuantizedAdamWState, type QuantizedKind } from './adamw8bit.ts';

export const OPTIMIZER_KINDS = ['adamw', 'adamw8bit', 'adamw-fp8'] as const;
export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];

export interface OptimizerChoice {
  kind: OptimizerKind;
  /** Values per scale of the quantized kinds (default DEFAULT_BLOCK[kind]); ignored by adamw. */
  block?: number;
}

/** A checkpointable optimizer state: adamw's, or a quantized one (kind and block set). */
export type OptimizerState = AdamWState & Partial<QuantizedAdamWState>;

export interface Optimizer {
  readonly kind: OptimizerKind;
  readonly stepCount: number;
  step(lr?: number): void;
  zeroGrad(): void;
  state(): OptimizerState;
  loadState(state: OptimizerState): void;
  stateBytes(): number;
}

export interface MakeOptimizerConfig extends AdamWConfig {
  /** The quantized kinds' per-tensor update (the backend's kernel; default the TypeScript oracle). */
  blockUpdate?: AdamW8bitConfig['blockUpdate'];
}

export function makeOptimizer(choice: OptimizerChoice, params: readonly OptimParam[], config: MakeOptimizerConfig): Optimizer {
  if (choice.kind === 'adamw') return new AdamW(params, config);
  return new AdamW8bit(params, { ...config, kind: choice.kind, block: choice.block });
}

/** The block size a choice runs with (null for adamw). */
export function blockOf(choice: OptimizerChoice): number | null {
  return choice.kind === 'adamw' ? null : (choice.block ?? DEFAULT_BLOCK[choice.kind as QuantizedKind]);
}

/** Optimizer state bytes for trainable tensors of these sizes (what makeOptimizer's stateBytes() will say). */
export function optimizerStateBytes(choice: OptimizerChoice, sizes: readonly number[]): number {
  const block = blockOf(choice);
  let bytes = 0;
  for (const n of sizes) bytes += block === null || n < MIN_QUANTIZED ? 8 * n : 2 * n + 8 * Math.ceil(n / block);
  return bytes;
}

/** "adamw8bit (blocks of 2048)" / "adamw". */
export function describeOptimizer(choice: OptimizerChoice): string {
  const block = blockOf(choice);
  return block === null ? choice.kind : `${choice.kind} (blocks of ${block})`;
}

/**
 * Throws a one-line E_ARG unless a checkpoint's optimizer state was written by the same optimizer (kind and
 * block size): the moments of one cannot be read as the other's.
 */
export function checkResumeOptimizer(saved: OptimizerState, choice: OptimizerChoice, dir: string): void {
  const kind: OptimizerKind = saved.kind ?? 'adamw';
  const savedChoice: OptimizerChoice = { kind, block: saved.block };
  if (kind !== choice.kind || blockOf(savedChoice) !== blockOf(choice)) {
    const flags = (c: OptimizerChoice) => `--optimizer ${c.kind}${blockOf(c) === null ? '' : ` --optim-block ${blockOf(c)}`}`;
    throw new HaloError(
      'E_ARG',
      `--resume: ${dir} was saved with ${flags(savedChoice)} but this run uses ${flags(choice)}; resume with ${flags(savedChoice)}, or start a new --out`,
    );
  }
}
