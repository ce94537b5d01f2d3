// HALO's configuration space, as data: a level says WHERE the Hadamard rotations go, a format says in WHICH
// precision the GEMM operands are. The per-GEMM table below is the whole of spec §1's Table 1 — the linear
// layer (linear.ts) reads it instead of branching on level names (HALO's code dispatches on substrings of a
// kernel name and keeps three near-duplicate autograd classes; one table is easier to check). The two prior
// INT8 training methods HALO's reference code ships as baselines (spec §10) are rows of the same table:
// SwitchBack and Jetfire differ from HALO-0 only in their scale granularities, where the weight gradient is
// computed, and whether the outputs are re-quantized.
import { HaloError } from '../core/errors.ts';
import type { Granularity, QuantFormat } from '../quant/index.ts';

export const LEVELS = ['none', 'ideal', 'halo0', 'halo1', 'halo2', 'switchback', 'jetfire'] as const;
export type Level = (typeof LEVELS)[number];

/** The baselines: recipes that fix their own scale granularities (spec §10). */
export const BASELINES = ['switchback', 'jetfire'] as const satisfies readonly Level[];

/** User-facing formats. fp8 = E4M3FN (HALO's choice for all operands), fp6 = E3M2 (simulated: no FP6 GEMM exists). */
export const FORMATS = ['int8', 'fp8', 'fp8e5m2', 'fp6', 'bf16', 'fp32'] as const;
export type Format = (typeof FORMATS)[number];

export interface HaloConfig {
  level: Level;
  format: Format;
  /**
   * Quantizer granularity. HALO uses one scale per tensor; 'row', 'block32' and 'tile32' are our extensions.
   * The baselines (switchback, jetfire) fix their own per operand and take only 'tensor' here.
   */
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
   * Precision of lm_head's GEMMs (never quantized): 'f32', or 'bf16' operands with f32 accumulation as in
   * HALO's BF16 reference code and PyTorch's bf16 autocast (src/models/lm-head.ts). Unset: headPrecisionOf's
   * default, bf16 whenever the linears run in low precision and f32 for an FP32 model.
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
  if (cfg.lmHead !== undefined && cfg.lmHead !== 'f32' && cfg.lmHead !== 'bf16')
    throw new HaloError('E_ARG', `unknown lm_head precision '${cfg.lmHead}'; use f32 or bf16`);
  const fixed = RECIPES[cfg.level].scales;
  if (fixed && cfg.granularity !== 'tensor') {
    throw new HaloError(
      'E_ARG',
      `level ${cfg.level} fixes its own scales (X ${fixed.x}, W ${fixed.w}, E_Y ${fixed.ey}), so granularity ${cfg.granularity} does not apply; leave granularity at tensor`,
    );
  }
  return cfg;
}

/**
 * lm_head's GEMM precision under a config: cfg.lmHead when set, else bf16 when the linear layers' operands are
 * low precision (HALO's BF16 recipe runs lm_head in BF16; a quantized model gains nothing from an f32 head,
 * whose three GEMMs were half of a HALO-2 INT8 step at a 32k vocabulary) and f32 for a full-precision model.
 */
export function headPrecisionOf(cfg: HaloConfig): 'f32' | 'bf16' {
  return cfg.lmHead ?? (operandFormat(passConfig(cfg, 'forward')) === null && operandFormat(passConfig(cfg, 'backward')) === null ? 'f32' : 'bf16');
}

/**
 * halo_config.json's text, as finetune, pretrain and the browser session write it and --as-trained reads it
 * (api/load-model.ts): the config, lm_head's resolved precision (so a later change of its default does not
 * change how the model is evaluated) and the description it was trained with.
 */
export function haloConfigFileText(cfg: HaloConfig): string {
  return JSON.stringify({ ...cfg, lmHead: headPrecisionOf(cfg), trainedWith: describeConfig(cfg) }, null, 2) + '\n';
}

/** The quantizer format of the GEMM operands, or null for plain f32 operands. */
export function operandFormat(cfg: HaloConfig): QuantFormat | null {
  if (cfg.level === 'none') return cfg.format === 'bf16' ? 'bf16' : null;
  switch (cfg.format) {
    case 'int8':
      return 'int8';
    case 'fp8':
      return 'fp8e4m3';
    case 'fp8e5m2':
      return 'fp8e5m2';
    case 'fp6':
      return 'fp6e3m2';
    case 'bf16':
      return 'bf16';
    case 'fp32':
      return null;
  }
}

/**
 * Where each level rotates (spec §1 Table 1, §5), and what the baselines do instead (spec §10):
 *   rightXW:  forward (XH)_Q (WH)_Qᵀ; backward undoes ·Hᵀ on E_X and G (HALO-1, HALO-2)
 *   leftEY:   input-gradient GEMM uses Hᵀ(H E_Y)_Q — the token-dimension rotation (HALO-2 only)
 *   unitScale: 'ideal' casts with scale 1 and no rotation (HALO's speed-of-light kernel, not for accuracy)
 *   scales:   the scale granularity of X, W and E_Y when the recipe fixes it (absent: cfg.granularity)
 *   weightGrad: 'quantized' G = (E_Yᵀ)_Q X̃_Q from the saved codes (HALO; Jetfire's tile-scaled operands
 *             multiply in f32 after dequantizing, its "high precision" G); 'bf16' G = bf16(E_Y)ᵀ·bf16(X)
 *             with f32 accumulation, so the forward saves X as bf16 rather than as 8-bit codes (SwitchBack)
 *   requantOut: the granularity Y and E_X are re-quantized with (Jetfire: its kernels hand 8-bit outputs
 *             with 32×32-tile scales to the next layer; the simulated version fake-quantizes them), or null
 */
export interface LevelRecipe {
  rightXW: boolean;
  leftEY: boolean;
  unitScale: boolean;
  scales?: { x: Granularity; w: Granularity; ey: Granularity };
  weightGrad: 'quantized' | 'bf16';
  requantOut: Granularity | null;
}

const HALO_RECIPE = { unitScale: false, weightGrad: 'quantized', requantOut: null } as const;

export const RECIPES: { readonly [L in Level]: LevelRecipe } = {
  none: { ...HALO_RECIPE, rightXW: false, leftEY: false },
  ideal: { ...HALO_RECIPE, rightXW: false, leftEY: false, unitScale: true },
  halo0: { ...HALO_RECIPE, rightXW: false, leftEY: false },
  halo1: { ...HALO_RECIPE, rightXW: true, leftEY: false },
  halo2: { ...HALO_RECIPE, rightXW: true, leftEY: true },
  // SwitchBack (bitsandbytes' Triton kernels): Y = X_Q(row) W_Q(tensor)ᵀ, E_X = (E_Y)_Q(row) W_Q(tensor),
  // G = E_Yᵀ X in BF16.
  switchback: { rightXW: false, leftEY: false, unitScale: false, scales: { x: 'row', w: 'tensor', ey: 'row' }, weightGrad: 'bf16', requantOut: null },
  // Jetfire (HALO's simulated version): 32×32-tile scales on X, W, E_Y; Y and E_X re-quantized;
  // G = (E_Y)_Qᵀ X_Q in high precision.
  jetfire: {
    rightXW: false,
    leftEY: false,
    unitScale: false,
    scales: { x: 'tile32', w: 'tile32', ey: 'tile32' },
    weightGrad: 'quantized',
    requantOut: 'tile32',
  },
};

/** The scale granularity of one GEMM operand (X, W or E_Y) under a config: the recipe's, else cfg.granularity. */
export function operandGranularity(cfg: HaloConfig, operand: 'x' | 'w' | 'ey'): Granularity {
  return RECIPES[cfg.level].scales?.[operand] ?? cfg.granularity;
}

const LEVEL_NAMES: { readonly [L in Level]?: string } = { switchback: 'SwitchBack', jetfire: 'Jetfire' };

export function describeConfig(cfg: HaloConfig): string {
  // The head is named only where it is not the config's default (headPrecisionOf without cfg.lmHead).
  const usual = headPrecisionOf({ ...cfg, lmHead: undefined });
  const head = cfg.lmHead !== undefined && cfg.lmHead !== usual ? `, lm_head ${cfg.lmHead.toUpperCase()}` : '';
  if (cfg.level === 'none') return (cfg.format === 'bf16' ? 'BF16' : 'FP32') + head;
  const only = cfg.passes === 'forward' || cfg.passes === 'backward' ? `, ${cfg.passes} only` : '';
  return `${LEVEL_NAMES[cfg.level] ?? cfg.level.toUpperCase()} ${cfg.format.toUpperCase()}${cfg.granularity === 'tensor' ? '' : ` (${cfg.granularity})`}${only}${head}`;
}

/** The configuration one pass runs with: the whole config, or plain FP32 for the pass `passes` leaves out. */
export function passConfig(cfg: HaloConfig, pass: 'forward' | 'backward'): HaloConfig {
  const p = cfg.passes ?? 'both';
  if (p === 'both' || p === pass) return cfg;
  return { ...cfg, level: 'none', format: 'fp32', passes: 'both' };
}
