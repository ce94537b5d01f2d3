// The kernel contract every backend implements (candle's storage trait / tinygrad's allocator idea: a short,
// written contract). The reference backend (plain TypeScript) is the executable spec; the native backend
// (C++ addon, oneDNN) must agree with it op by op within the tolerances stated in its tests.
//
// Conventions: all tensors are row-major and contiguous; a "matrix" is a 2-D tensor [rows, cols]. A GEMM reads
// either operand transposed in place (BLAS's op(A), op(B)) rather than from a transposed copy, so a quantized
// weight is stored once and the backward's GEMMs read it, the saved activations and E_Y as they are.
// Float math runs in f32, or in f64 when the inputs are f64 (used by finite-difference gradient checks).
import type { FloatArray, FloatDType } from '../core/dtype.ts';
import { Tensor } from '../core/tensor.ts';
import type { HadamardPlan } from '../hadamard/index.ts';
import type { Granularity, QuantFormat, Quantized } from '../quant/index.ts';

export type FloatTensor = Tensor<'f32'> | Tensor<'f64'>;

/** A [rows, cols] matrix over existing storage (no copy), in the data's precision. */
export function floatMatrix(data: FloatArray, rows: number, cols: number): FloatTensor {
  return (data instanceof Float64Array ? new Tensor([rows, cols], 'f64', data) : new Tensor([rows, cols], 'f32', data)) as FloatTensor;
}

/** Which side of a matrix a Hadamard rotation acts on. right: X·R over the last (column) dim; left: R·X over rows. */
export type Side = 'right' | 'left';

/**
 * A rotation request. With Ĥ = (H_K ⊗ H_{2^p})/√n (orthonormal):
 *   right, transpose=false: X ← X·Ĥᵀ      right, transpose=true: X ← X·Ĥ
 *   left,  transpose=false: X ← Ĥ·X       left,  transpose=true: X ← Ĥᵀ·X
 * (HALO's right_had / left_had and their transpose=True inverses.)
 */
export interface Rotation {
  plan: HadamardPlan;
  side: Side;
  transpose: boolean;
}

/**
 * A GEMM's operand layouts (BLAS transa/transb) and scale: out = α·op(A)·op(B) with
 *   aT false: A stored [M,K], op(A) = A      aT true: A stored [K,M], op(A) = Aᵀ
 *   bT false: B stored [K,N], op(B) = B      bT true: B stored [N,K], op(B) = Bᵀ
 */
export interface GemmOptions {
  aT?: boolean;
  bT?: boolean;
  alpha?: number;
}

export interface Backend {
  readonly name: string;

  /**
   * out[M,N] = α·op(A)·op(B) (GemmOptions; default A [M,K]·B [K,N], α = 1), each operand read in its stored
   * layout without a transposed copy.
   * Operand pairs: f32·f32, f64·f64 (→ f64), bf16·bf16, i8·i8 (exact int32 accumulation, α applied once),
   * fp8e4m3/fp8e5m2/fp6e3m2 codes of the same format (decoded exactly, f32 accumulation). Result f32 unless
   * both inputs are f64. Every layout gives the same value as transposing the operand first; i8 bit for bit.
   */
  matmul(a: Tensor, b: Tensor, opts?: GemmOptions): FloatTensor;

  /** out[M,N] = α·A·Bᵀ for A [M,K], B [N,K]: matmul(a, b, { bT: true, alpha }). */
  matmulT(a: Tensor, b: Tensor, alpha?: number): FloatTensor;

  /** A 2-D transpose of any dtype (a real copy; GEMMs do not need one, see matmul). */
  transpose<T extends Tensor>(a: T): T;

  /** A rotated copy of a float matrix. */
  rotate(x: FloatTensor, rot: Rotation): FloatTensor;

  /**
   * Fused "rotate (optional) + absmax + quantize (+ transpose)": reads x once, writes 8-bit codes once.
   * transposeOut: the codes come back as the transpose of (rotated) x, with per-row scales then referring
   * to rows of the transposed matrix.
   */
  rotateQuantize(
    x: FloatTensor,
    rot: Rotation | null,
    format: QuantFormat,
    granularity: Granularity,
    opts?: { transposeOut?: boolean; unitScale?: boolean },
  ): Quantized;

  /** Back to floats: x ≈ scale·decode(q). */
  dequantize(q: Quantized, dtype: FloatDType): FloatTensor;
}
