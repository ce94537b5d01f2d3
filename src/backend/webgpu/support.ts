// Which backend.ts calls the WebGPU kernels take, decided without a GPU: pure functions over dtypes, shapes and
// options, so a caller that cannot afford a round trip (the training worker's synchronous bridge) can route an
// unsupported call straight to the reference backend. kernels.ts throws HaloError('E_UNSUPPORTED') with the
// same reason for the same calls; `null` means supported.
import type { DType } from '../../core/dtype.ts';
import type { Tensor } from '../../core/tensor.ts';
import type { Granularity, QuantFormat } from '../../quant/index.ts';
import type { GemmOptions, Rotation } from '../backend.ts';

/** Largest K of the i8 GEMM: 128²·K (−128 codes included) must stay below 2^31 for the i32 accumulator to be exact. */
export const S8_MAX_K = Math.floor((2 ** 31 - 1) / (128 * 128));

/** Why matmul(a, b, opts) cannot run on WebGPU, or null. Shape mismatches are not checked here (they are E_SHAPE). */
export function matmulUnsupported(a: Pick<Tensor, 'dtype' | 'shape'>, b: Pick<Tensor, 'dtype' | 'shape'>, opts: GemmOptions = {}): string | null {
  if (a.dtype !== b.dtype) return null; // E_DTYPE, as on every backend
  const d: DType = a.dtype;
  if (!['f32', 'i8', 'bf16', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'].includes(d))
    return `WebGPU matmul takes f32, i8, bf16, fp8e4m3, fp8e5m2 or fp6e3m2 operands, not ${d} (WGSL has no f64)`;
  if (d === 'i8') {
    const k = a.shape.length === 2 ? (opts.aT ? a.shape[0]! : a.shape[1]!) : 0;
    if (k > S8_MAX_K) return `WebGPU i8 matmul: K = ${k} exceeds ${S8_MAX_K}, where an i32 sum of 127² products could overflow`;
    const alpha = opts.alpha ?? 1;
    if (!Number.isFinite(alpha)) return `WebGPU i8 matmul: α = ${alpha} is not finite`;
  }
  return null;
}

/** Why rotate(x, rot) cannot run on WebGPU, or null. */
export function rotateUnsupported(x: Pick<Tensor, 'dtype'>, _rot: Rotation | null = null): string | null {
  if (x.dtype !== 'f32') return `WebGPU rotate takes f32 input, not ${x.dtype}`;
  return null;
}

/** Why rotateQuantize(x, rot, format, granularity, opts) cannot run on WebGPU, or null. */
export function rotateQuantizeUnsupported(x: Pick<Tensor, 'dtype'>, rot: Rotation | null, format: QuantFormat, granularity: Granularity): string | null {
  const r = rotateUnsupported(x, rot);
  if (r) return r;
  return null;
}

/** Why dequantize to `dtype` cannot run on WebGPU, or null. */
export function dequantizeUnsupported(format: QuantFormat, granularity: Granularity, dtype: string): string | null {
  if (dtype !== 'f32') return `WebGPU dequantize writes f32 only, not ${dtype}`;
  return null;
}
