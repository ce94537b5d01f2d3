// The native backend: every Backend method through the C++ addon (oneDNN GEMMs, AVX-512 Hadamard and
// quantize kernels), f32 only. f64 inputs (finite-difference checks) and dtypes the addon has no kernel
// for (f16 and i32 GEMMs) go to the reference backend, which is also the oracle test/native/*.test.ts
// compares every op with. Argument checks mirror the reference's, with the same HaloError codes.
//
// Bit-exactness (tested): rotate, rotateQuantize, dequantize, transpose and the i8 GEMM (in every operand
// layout) equal the reference bit for bit; f32/bf16/fp8/fp6 GEMMs accumulate in f32 in oneDNN's order (the
// reference sums in f64).
import type { Backend, FloatTensor, GemmOptions, Rotation } from '../backend.ts';
import { DTYPES, type DType, type FloatDType, type Storage } from '../../core/dtype.ts';
import { HaloError } from '../../core/errors.ts';
import { Tensor } from '../../core/tensor.ts';
import type { HadamardPlan } from '../../hadamard/index.ts';
import { formatTraits, GRANULARITIES, scaleCount, type CodeDType, type Granularity, type QuantFormat, type Quantized } from '../../quant/index.ts';
import { referenceBackend } from '../reference/index.ts';
import { gemmDims, matmul as referenceMatmul } from '../reference/matmul.ts';
import {
  callAddon as call,
  FORMAT_CODES,
  GEMM_TYPES,
  GRANULARITY_CODES,
  loadAddon,
  QUANT_STRATEGY,
  SIDE_CODES,
  type CodeArray,
  type GemmDType,
  type NativeAddon,
} from './binding.ts';

/** The addon, or E_NATIVE saying why it is unavailable. */
export function addon(): NativeAddon {
  const r = loadAddon();
  if (!r.addon) throw new HaloError('E_NATIVE', r.error);
  return r.addon;
}

const isGemmDType = (d: DType): d is GemmDType => Object.hasOwn(GEMM_TYPES, d);

function matmul(a: Tensor, b: Tensor, opts: GemmOptions = {}, what = 'matmul'): FloatTensor {
  const { m, n, k } = gemmDims(a, b, opts, what);
  if (!isGemmDType(a.dtype)) return referenceMatmul(a, b, opts, what); // f64, f16, i32
  const out = new Float32Array(m * n);
  const ad = a.data as ArrayBufferView,
    bd = b.data as ArrayBufferView;
  const type = GEMM_TYPES[a.dtype as GemmDType];
  call(() => addon().matmul(type, ad, bd, m, n, k, opts.aT ?? false, !(opts.bT ?? false), opts.alpha ?? 1, out));
  return new Tensor([m, n], 'f32', out);
}

function transpose<T extends Tensor>(a: T): T {
  const [r, c] = a.dims2('transpose input');
  const dst = DTYPES[a.dtype].make(r * c);
  call(() => addon().transpose(a.data as ArrayBufferView, dst as ArrayBufferView, r, c));
  return new Tensor([c, r], a.dtype, dst as Storage<T['dtype']>) as T;
}

const planArgs = (p: HadamardPlan) => [p.n, p.block, p.K, p.pow2, p.hadK] as const;

/** The checks of src/hadamard/transform.ts, with its error codes. */
function checkRotation(x: FloatTensor, rot: Rotation): [number, number] {
  const [r, c] = x.dims2('rotation input');
  const { n, block, K, pow2, hadK } = rot.plan;
  const pow2ok = Number.isInteger(pow2) && pow2 >= 1 && (pow2 & (pow2 - 1)) === 0;
  if (n % block !== 0 || K * pow2 !== block || !pow2ok || (K === 1) !== (hadK === null) || (hadK !== null && hadK.length !== K * K)) {
    throw new HaloError('E_ARG', `inconsistent Hadamard plan n=${n} block=${block} K=${K} pow2=${pow2}`);
  }
  if (rot.side === 'right' && c !== n) throw new HaloError('E_SHAPE', `rightHadamard: [${r}, ${n}] needs ${r * n} elements, got ${r * c}`);
  if (rot.side === 'left' && r !== n) throw new HaloError('E_SHAPE', `leftHadamard: plan is for ${n} rows, matrix has ${r}`);
  if (rot.side !== 'right' && rot.side !== 'left') throw new HaloError('E_ARG', `rotation side must be 'right' or 'left', got '${String(rot.side)}'`);
  return [r, c];
}

function rotate(x: FloatTensor, rot: Rotation): FloatTensor {
  if (x.dtype !== 'f32') return referenceBackend.rotate(x, rot);
  const [r, c] = checkRotation(x, rot);
  const out = new Float32Array(r * c);
  call(() => addon().rotate(x.data, out, r, c, SIDE_CODES[rot.side], ...planArgs(rot.plan), rot.transpose));
  return new Tensor([r, c], 'f32', out);
}

function rotateQuantize(
  x: FloatTensor,
  rot: Rotation | null,
  format: QuantFormat,
  granularity: Granularity,
  opts: { transposeOut?: boolean; unitScale?: boolean; clipRatio?: number } = {},
): Quantized {
  if (x.dtype !== 'f32') return referenceBackend.rotateQuantize(x, rot, format, granularity, opts);
  const [rows, cols] = rot ? checkRotation(x, rot) : x.dims2('quantize input');
  const traits = formatTraits(format);
  if (!GRANULARITIES.includes(granularity)) {
    throw new HaloError('E_ARG', `unknown granularity '${granularity}'; use one of ${GRANULARITIES.join(', ')}`);
  }
  const clipRatio = opts.clipRatio ?? 1;
  if (!(Number.isFinite(clipRatio) && clipRatio > 0)) throw new HaloError('E_ARG', `clipRatio must be finite and > 0, got ${clipRatio}`);
  const t = opts.transposeOut ?? false;
  const [R, C] = t ? [cols, rows] : [rows, cols];
  const codes = DTYPES[traits.dtype].make(R * C) as CodeArray;
  const scales = new Float32Array(scaleCount(granularity, R, C));
  const side = rot ? SIDE_CODES[rot.side] : SIDE_CODES.none;
  const plan = rot ? planArgs(rot.plan) : ([0, 0, 0, 0, null] as const);
  const status = call(() =>
    addon().quantize(
      x.data,
      rows,
      cols,
      side,
      ...plan,
      rot?.transpose ?? false,
      FORMAT_CODES[format],
      GRANULARITY_CODES[granularity],
      t,
      opts.unitScale ?? false,
      clipRatio,
      codes,
      scales,
      QUANT_STRATEGY.auto,
    ),
  );
  if (status > 0) {
    throw new HaloError(
      'E_NUMERIC',
      `cannot quantize to ${format}: ${status} non-finite value(s) (NaN or ±inf) among the ${x.numel} elements of a [${rows}, ${cols}] tensor${rot ? ' (after rotation)' : ''}`,
    );
  }
  if (status < 0) throw new HaloError('E_NUMERIC', `cannot quantize to ${format}: an absmax gives a scale beyond the f32 range`);
  const q = new Tensor<CodeDType>([R, C], traits.dtype, codes as Storage<CodeDType>);
  return { format, granularity, q, scales };
}

function dequantize(q: Quantized, dtype: FloatDType): FloatTensor {
  if (dtype !== 'f32') return referenceBackend.dequantize(q, dtype);
  const traits = formatTraits(q.format);
  if (q.q.dtype !== traits.dtype) throw new HaloError('E_DTYPE', `${q.format} codes must be ${traits.dtype}, got ${q.q.dtype}`);
  const [R, C] = q.q.dims2('quantized codes');
  const want = scaleCount(q.granularity, R, C);
  if (q.scales.length !== want) {
    throw new HaloError('E_SHAPE', `${q.granularity} scales of [${R}, ${C}] codes need ${want} entries, got ${q.scales.length}`);
  }
  const out = new Float32Array(R * C);
  call(() => addon().dequantize(q.q.data as CodeArray, R, C, FORMAT_CODES[q.format], GRANULARITY_CODES[q.granularity], q.scales, out));
  return new Tensor([R, C], 'f32', out);
}

export const nativeBackend: Backend = {
  name: 'native',
  matmul: (a, b, opts) => matmul(a, b, opts),
  matmulT: (a, b, alpha) => matmul(a, b, { bT: true, alpha }, 'matmulT'),
  transpose,
  rotate,
  rotateQuantize,
  dequantize,
};

/** Whether the addon loads here, and if not, why. */
export function nativeAvailable(): { ok: true } | { ok: false; reason: string } {
  const r = loadAddon();
  return r.addon ? { ok: true } : { ok: false, reason: r.error };
}
