// The rank-local half of HQ-FSDP's 8-bit weight gather (spec §7, HALO's monkey_gather): rotate this rank's
// rows of a projection weight with the right Hadamard, report their absmax (the ranks then agree on the max),
// encode them with the one global scale, and, once every rank's codes are gathered, wrap them as the
// PreparedWeight the HALO linear multiplies with. The codes are bit-identical to prepareWeight() of the whole
// weight: the rotation acts on each row alone, the max of the ranks' maxima is the whole tensor's absmax, and
// scale and encoding follow src/quant/quantize.ts exactly (scale = fround(absmax/qmax), code = encode(x/scale)
// with the division in f64).
import type { Backend, FloatTensor } from '../backend/backend.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import { planHadamard, type HadamardPlan } from '../hadamard/index.ts';
import { operandFormat, operandGranularity, RECIPES, type HaloConfig } from '../halo/config.ts';
import type { PreparedWeight } from '../halo/linear.ts';
import { quantOperand } from '../halo/operand.ts';
import { absmaxScale, formatTraits, type QuantFormat } from '../quant/index.ts';

/** The 1-byte code format of an HQ-FSDP gather, or an error saying why this config cannot use one. */
export function hqFormat(cfg: HaloConfig): QuantFormat {
  const f = operandFormat(cfg);
  const passes = (cfg as { passes?: string }).passes;
  if (f === null || f === 'bf16' || cfg.level === 'ideal') {
    throw new HaloError(
      'E_ARG',
      `--hq-fsdp gathers 8-bit weights, so it needs a quantized level (halo0/1/2) and an 8-bit or smaller format (int8, fp8, fp8e5m2, fp6); got level ${cfg.level}, format ${cfg.format}. Use --fsdp for full-precision gathers`,
    );
  }
  const wGran = operandGranularity(cfg, 'w');
  if (wGran !== 'tensor')
    throw new HaloError('E_ARG', `--hq-fsdp uses one scale per layer (granularity tensor), got ${cfg.level} with granularity ${wGran} for the weight`);
  if (passes !== undefined && passes !== 'both')
    throw new HaloError('E_ARG', `--hq-fsdp quantizes the weight for both passes; --passes ${passes} needs float weights, use --fsdp`);
  return f;
}

/** The in_features rotation the level applies to weights (null for HALO-0). */
export function weightPlan(cfg: HaloConfig, inFeatures: number): HadamardPlan | null {
  return RECIPES[cfg.level].rightXW ? planHadamard(inFeatures, { block: cfg.hadamardBlock }) : null;
}

/** This rank's rows rotated (WĤᵀ restricted to them) [rows·cols], or the rows themselves without rotation. */
export function rotateRows(be: Backend, plan: HadamardPlan | null, rows: Float32Array, nRows: number, cols: number): Float32Array {
  if (!plan || nRows === 0) return rows;
  const x = new Tensor([nRows, cols], 'f32', rows) as FloatTensor;
  return be.rotate(x, { plan, side: 'right', transpose: false }).data as Float32Array;
}

/** max |x|, or +Infinity if any value is NaN/±inf (so after the all-reduce every rank sees the failure). */
export function absmaxOrInf(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (!(a <= m)) {
      if (!Number.isFinite(a)) return Infinity;
      m = a;
    }
  }
  return m;
}

/** The scale of a weight from its global absmax, as quantize() computes it. */
export function globalScale(format: QuantFormat, absmax: number, name: string): number {
  if (!Number.isFinite(absmax)) throw new HaloError('E_NUMERIC', `cannot quantize ${name} to ${format}: it holds a NaN or ±inf`);
  return absmaxScale(absmax, formatTraits(format).qmax);
}

/** codes[i] = encode(x[i] / scale) into a 1-byte array (Int8 codes are written as their two's-complement bytes). */
export function encodeWithScale(format: QuantFormat, x: Float32Array, scale: number, out: Uint8Array): void {
  const enc = formatTraits(format).encode;
  for (let i = 0; i < x.length; i++) out[i] = enc(x[i] / scale) & 0xff;
}

/**
 * The gathered codes [out·in] (1 byte each) and their scale as the HALO linear's prepared weight (the codes
 * themselves, not a copy: the backward reads them transposed in place). `be` is unused since the weight no
 * longer keeps a transposed copy; kept so callers need not change.
 */
export function preparedFromCodes(
  _be: Backend,
  cfg: HaloConfig,
  format: QuantFormat,
  codes: Uint8Array,
  outF: number,
  inF: number,
  scale: number,
): PreparedWeight {
  const traits = formatTraits(format);
  const data = traits.dtype === 'i8' ? new Int8Array(codes.buffer, codes.byteOffset, codes.length) : codes;
  const q = new Tensor([outF, inF], traits.dtype, data as never);
  const w = quantOperand({ format, granularity: 'tensor', q, scales: Float32Array.of(scale) });
  const plan = weightPlan(cfg, inF);
  return { outFeatures: outF, inFeatures: inF, plan, backPlan: plan, w };
}
