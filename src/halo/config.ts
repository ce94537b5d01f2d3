// HALO's configuration space, as data: a level says WHERE the Hadamard rotations go, a format says in WHICH
// precision the GEMM operands are. The per-GEMM table below is the whole of spec §1's Table 1 — the linear
// layer (linear.ts) reads it instead of branching on level names (HALO's code dispatches on substrings of a
// kernel name and keeps three near-duplicate autograd classes; one table is easier to check).
import { HaloError } from '../core/errors.ts';
import type { Granularity, QuantFormat } from '../quant/index.ts';

export const LEVELS = ['none', 'ideal', 'halo0', 'halo1', 'halo2'] as const;
export type Level = (typeof LEVELS)[number];

/** User-facing formats. fp8 = E4M3FN (HALO's choice for all operands), fp6 = E3M2 (simulated: no FP6 GEMM exists). */
export const FORMATS = ['int8', 'fp8', 'fp8e5m2', 'fp6', 'bf16', 'fp32'] as const;
export type Format = (typeof FORMATS)[number];

export interface HaloConfig {
  level: Level;
  format: Format;
  /** Quantizer granularity. HALO uses one scale per tensor; 'row' and 'block32' are our extensions. */
  granularity: Granularity;
  /**
   * Channel-dimension Hadamard: 'auto' = full rotation when the size has a known Hadamard matrix, else a
   * block-diagonal one (largest power of two dividing it); a number forces that block size.
   */
  hadamardBlock: 'auto' | 'full' | number;
  /** Run every quantized GEMM as fake-quant (dequantize, then a float GEMM): the simulated twin of the real path. */
  emulate: boolean;
  /**
   * Which pass's GEMMs the level and format apply to (default 'both'); the other pass runs plain FP32 matmuls
   * on unrotated float operands. 'forward'/'backward' exist for analysis (the paper's Figure 2: is the forward
   * or the backward pass more sensitive to quantization?), not for training speed: they keep float X and W too.
   */
  passes?: Passes;
  /**
   * Precision of lm_head's GEMMs (never quantized): 'f32' (default) or 'bf16' operands with f32 accumulation,
   * as in HALO's BF16 reference code (src/models/lm-head.ts).
   */
  lmHead?: 'f32' | 'bf16';
}

export const PASSES = ['both', 'forward', 'backward'] as const;
export type Passes = (typeof PASSES)[number];

export const DEFAULT_CONFIG: HaloConfig = {
  level: 'halo2',
  format: 'int8',
  granularity: 'tensor',
  hadamardBlock: 'auto',
  emulate: false,
};

export function haloConfig(partial: Partial<HaloConfig> = {}): HaloConfig {
  const cfg = { ...DEFAULT_CONFIG, ...partial };
  if (!LEVELS.includes(cfg.level)) throw new HaloError('E_ARG', `unknown HALO level '${cfg.level}'; use one of ${LEVELS.join(', ')}`);
  if (!FORMATS.includes(cfg.format)) throw new HaloError('E_ARG', `unknown format '${cfg.format}'; use one of ${FORMATS.join(', ')}`);
  if (cfg.passes !== undefined && !PASSES.includes(cfg.passes)) throw new HaloError('E_ARG', `unknown passes '${cfg.passes}'; use one of ${PASSES.join(', ')}`);
  if (cfg.lmHead !== undefined && cfg.lmHead !== 'f32' && cfg.lmHead !== 'bf16') throw new HaloError('E_ARG', `unknown lm_head precision '${cfg.lmHead}'; use f32 or bf16`);
  return cfg;
}

/** The quantizer format of the GEMM operands, or null for plain f32 operands. */
export function operandFormat(cfg: HaloConfig): QuantFormat | null {
  if (cfg.level === 'none') return cfg.format === 'bf16' ? 'bf16' : null;
  switch (cfg.format) {
    case 'int8': return 'int8';
    case 'fp8': return 'fp8e4m3';
    case 'fp8e5m2': return 'fp8e5m2';
    case 'fp6': return 'fp6e3m2';
    case 'bf16': return 'bf16';
    case 'fp32': return null;
  }
}

/**
 * Where each level rotates (spec §1 Table 1, §5):
 *   rightXW:  forward (XH)_Q (WH)_Qᵀ; backward undoes ·Hᵀ on E_X and G (HALO-1, HALO-2)
 *   leftEY:   input-gradient GEMM uses Hᵀ(H E_Y)_Q — the token-dimension rotation (HALO-2 only)
 *   unitScale: 'ideal' casts with scale 1 and no rotation (HALO's speed-of-light kernel, not for accuracy)
 */
export interface LevelRecipe {
  rightXW: boolean;
  leftEY: boolean;
  unitScale: boolean;
}

export const RECIPES: { readonly [L in Level]: LevelRecipe } = {
  none: { rightXW: false, leftEY: false, unitScale: false },
  ideal: { rightXW: false, leftEY: false, unitScale: true },
  halo0: { rightXW: false, leftEY: false, unitScale: false },
  halo1: { rightXW: true, leftEY: false, unitScale: false },
  halo2: { rightXW: true, leftEY: true, unitScale: false },
};

export function describeConfig(cfg: HaloConfig): string {
  const head = cfg.lmHead === 'bf16' ? ', lm_head BF16' : '';
  if (cfg.level === 'none') return (cfg.format === 'bf16' ? 'BF16' : 'FP32') + head;
  const only = cfg.passes === 'forward' || cfg.passes === 'backward' ? `, ${cfg.passes} only` : '';
  return `${cfg.level.toUpperCase()} ${cfg.format.toUpperCase()}${cfg.granularity === 'tensor' ? '' : ` (${cfg.granularity})`}${only}${head}`;
}

/** The configuration one pass runs with: the whole config, or plain FP32 for the pass `passes` leaves out. */
export function passConfig(cfg: HaloConfig, pass: 'forward' | 'backward'): HaloConfig {
  const p = cfg.passes ?? 'both';
  if (p === 'both' || p === pass) return cfg;
  return { ...cfg, level: 'none', format: 'fp32', passes: 'both' };
}
