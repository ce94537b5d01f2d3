// Symmetric absmax quantizers (spec §3): HALO's per-tensor scale, plus per-row, 1×32-block and 32×32-tile
// (Jetfire's block quantization, spec §10) scales.
// This is the plain, readable oracle the native quantize kernels are tested against.
//
//   scale = fround(absmax·clipRatio / qmax)     (f32; computed in f64 first, then rounded once to f32)
//   code  = encode(x / scale)                   (the division in f64; encode rounds to nearest even and
//                                                saturates at ±qmax)
//   x ≈ scale·decode(code)
//
// Because the division is done in f64, f32 and f64 inputs holding the same values give the same codes; for
// f32 inputs the code is the exact rounding of the real quotient (a quotient of two 24-bit significands
// cannot sit within 2^-53 of a rounding tie without being on it). Guards HALO's real path lacks: an
// all-zero group gets scale 1 and zero codes (never 0/0); a scale that underflows f32 becomes the smallest
// f32 subnormal (never 0); non-finite inputs throw E_NUMERIC (training catches it to skip the step).
import type { FloatArray } from '../core/dtype.ts';
import { DTYPES } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import { formatTraits, type CodeDType, type QuantFormat } from './formats.ts';

/**
 * Which elements share a scale: all of them, each row, each 1×32 block along a row, or each 32×32 tile
 * (Jetfire's); blocks and tiles at the right and bottom edges may be short.
 */
export const GRANULARITIES = ['tensor', 'row', 'block32', 'tile32'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export const BLOCK = 32;

export interface Quantized {
  format: QuantFormat;
  granularity: Granularity;
  /** Codes [rows, cols] (or [cols, rows] when quantized with transposeOut), dtype per format. */
  q: Tensor<CodeDType>;
  /**
   * Scales of q: 1 (tensor) | rows (row) | rows·ceil(cols/32) (block32, row-major) | ceil(rows/32)·ceil(cols/32)
   * (tile32, the tile grid row-major).
   */
  scales: Float32Array;
}

export interface QuantizeOptions {
  /**
   * Return the codes of xᵀ ([cols, rows]); 'row' and 'block32' then refer to rows of the transposed matrix
   * (HALO's quantize-then-transpose `*_tr`; with 'tensor' and 'tile32' the codes are exactly the transpose:
   * the tiles of xᵀ are x's tiles transposed).
   */
  transposeOut?: boolean;
  /** Scale 1 for every group: a plain saturating cast (HALO's "Ideal" speed bound). clipRatio is ignored. */
  unitScale?: boolean;
  /**
   * scale = absmax·clipRatio/qmax; values beyond the clipped range saturate. Default 1. HALO's FP6
   * simulation uses 0.75. Must be finite and > 0.
   */
  clipRatio?: number;
}

type FloatTensor = Tensor<'f32'> | Tensor<'f64'>;

const MIN_F32_SUBNORMAL = 2 ** -149;

/** Number of scales for a [rows, cols] code matrix. */
export function scaleCount(granularity: Granularity, rows: number, cols: number): number {
  switch (granularity) {
    case 'tensor':
      return 1;
    case 'row':
      return rows;
    case 'block32':
      return rows * Math.ceil(cols / BLOCK);
    case 'tile32':
      return Math.ceil(rows / BLOCK) * Math.ceil(cols / BLOCK);
  }
}

/** Index into `scales` of element (i, j) of a [rows, cols] code matrix. */
export function scaleIndex(granularity: Granularity, cols: number, i: number, j: number): number {
  switch (granularity) {
    case 'tensor':
      return 0;
    case 'row':
      return i;
    case 'block32':
      return i * Math.ceil(cols / BLOCK) + Math.floor(j / BLOCK);
    case 'tile32':
      return Math.floor(i / BLOCK) * Math.ceil(cols / BLOCK) + Math.floor(j / BLOCK);
  }
}

/**
 * The f32 scale of a group: fround(absmax·clipRatio/qmax). 1 for an all-zero group; the smallest f32
 * subnormal if the quotient underflows f32; E_NUMERIC if it overflows f32.
 */
export function absmaxScale(absmax: number, qmax: number, clipRatio = 1): number {
  if (absmax === 0) return 1;
  const s = Math.fround((absmax * clipRatio) / qmax);
  if (s === Infinity) throw new HaloError('E_NUMERIC', `absmax ${absmax} gives a scale beyond the f32 range`);
  return s === 0 ? MIN_F32_SUBNORMAL : s;
}

/** How many elements are NaN or ±inf. */
export function countNonFinite(a: FloatArray): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) n++;
  return n;
}

/** Codes and scales of a 2-D float tensor x [rows, cols]. */
export function quantize(x: FloatTensor, format: QuantFormat, granularity: Granularity, opts: QuantizeOptions = {}): Quantized {
  if (x.dtype !== 'f32' && x.dtype !== 'f64') throw new HaloError('E_DTYPE', `quantize takes f32 or f64 input, got ${(x as Tensor).dtype}`);
  const [rows, cols] = x.dims2('quantize input');
  const traits = formatTraits(format);
  if (!GRANULARITIES.includes(granularity)) {
    throw new HaloError('E_ARG', `unknown granularity '${granularity}'; use one of ${GRANULARITIES.join(', ')}`);
  }
  const clipRatio = opts.clipRatio ?? 1;
  if (!(Number.isFinite(clipRatio) && clipRatio > 0)) throw new HaloError('E_ARG', `clipRatio must be finite and > 0, got ${clipRatio}`);
  const bad = countNonFinite(x.data);
  if (bad > 0) {
    throw new HaloError(
      'E_NUMERIC',
      `cannot quantize to ${format}: ${bad} non-finite value(s) (NaN or ±inf) among the ${x.numel} elements of a [${rows}, ${cols}] tensor`,
    );
  }

  // The code matrix O [R, C]: x itself, or xᵀ with transposeOut. Scales belong to rows of O.
  const t = opts.transposeOut ?? false;
  const [R, C] = t ? [cols, rows] : [rows, cols];
  const xd = x.data;
  const at = t ? (i: number, j: number) => xd[j * cols + i]! : (i: number, j: number) => xd[i * cols + j]!;

  const scales = new Float32Array(scaleCount(granularity, R, C)).fill(1);
  if (!opts.unitScale && format !== 'bf16') {
    const absmax = new Float64Array(scales.length);
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < C; j++) {
        const g = scaleIndex(granularity, C, i, j);
        absmax[g] = Math.max(absmax[g]!, Math.abs(at(i, j)));
      }
    }
    for (let g = 0; g < scales.length; g++) scales[g] = absmaxScale(absmax[g]!, traits.qmax, clipRatio);
  }

  const q = Tensor.zeros<CodeDType>([R, C], traits.dtype);
  const codes = q.data;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) codes[i * C + j] = traits.encode(at(i, j) / scales[scaleIndex(granularity, C, i, j)]!);
  }
  return { format, granularity, q, scales };
}

/** scale·decode(code) for every code, in q's layout ([cols, rows] if it was quantized with transposeOut). */
export function dequantize<D extends 'f32' | 'f64'>(q: Quantized, dtype: D): Tensor<D> {
  const traits = formatTraits(q.format);
  if (q.q.dtype !== traits.dtype) throw new HaloError('E_DTYPE', `${q.format} codes must be ${traits.dtype}, got ${q.q.dtype}`);
  const [R, C] = q.q.dims2('quantized codes');
  const want = scaleCount(q.granularity, R, C);
  if (q.scales.length !== want) {
    throw new HaloError('E_SHAPE', `${q.granularity} scales of [${R}, ${C}] codes need ${want} entries, got ${q.scales.length}`);
  }
  const out = DTYPES[dtype].make(R * C) as FloatArray;
  const codes = q.q.data;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) out[i * C + j] = q.scales[scaleIndex(q.granularity, C, i, j)]! * traits.decode(codes[i * C + j]!);
  }
  return new Tensor([R, C], dtype, out as Tensor<D>['data']);
}

/** dequantize(quantize(x)) in x's dtype: the simulated ("fake-quant") twin of a quantized operand. */
export function fakeQuantize<T extends FloatTensor>(x: T, format: QuantFormat, granularity: Granularity, opts?: QuantizeOptions): T {
  return dequantize(quantize(x, format, granularity, opts), x.dtype) as T;
}
