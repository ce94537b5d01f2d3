// α·op(A)·op(B) in plain TypeScript: the oracle for the native GEMMs. Each operand is first brought to rows
// along the contraction dimension (A as [M,K], B as [N,K]; a transposed layout is transposed here, plainly),
// so the inner loop is a dot product of two contiguous rows and every layout sums the same products in the
// same order. Sums are kept in a JS number (f64), and integer codes sum exactly (|sum| ≤ 127²·K stays far
// below 2^53).
import type { FloatTensor, GemmOptions } from '../backend.ts';
import { HaloError } from '../../core/errors.ts';
import { Tensor } from '../../core/tensor.ts';
import type { DType } from '../../core/dtype.ts';
import { decodeTable } from '../../quant/index.ts';
import { transpose } from './transpose.ts';

/** The M, N, K of α·op(A)·op(B), or the HaloError a caller gets for operands that do not fit. */
export function gemmDims(a: Tensor, b: Tensor, opts: GemmOptions, what = 'matmul'): { m: number; n: number; k: number } {
  const [ar, ac] = a.dims2(`${what} A`);
  const [br, bc] = b.dims2(`${what} B`);
  const [m, k] = opts.aT ? [ac, ar] : [ar, ac];
  const [n, kb] = opts.bT ? [br, bc] : [bc, br];
  if (k !== kb) {
    const layout = (t: boolean | undefined, x: string) => (t ? `${x}ᵀ` : x);
    throw new HaloError(
      'E_SHAPE',
      `${what}: ${layout(opts.aT, 'A')}·${layout(opts.bT, 'B')} with A [${ar}, ${ac}] and B [${br}, ${bc}]: the contraction dimensions (${k} and ${kb}) must match`,
    );
  }
  if (a.dtype !== b.dtype) throw new HaloError('E_DTYPE', `${what}: operand dtypes differ (${a.dtype} · ${b.dtype})`);
  return { m, n, k };
}

export function matmul(a: Tensor, b: Tensor, opts: GemmOptions = {}, what = 'matmul'): FloatTensor {
  const { m, n, k } = gemmDims(a, b, opts, what);
  const alpha = opts.alpha ?? 1;
  const rowsA = opts.aT ? transpose(a) : a; // [M, K]
  const rowsB = opts.bT ? b : transpose(b); // [N, K]
  const f64 = a.dtype === 'f64';
  const out = f64 ? new Float64Array(m * n) : new Float32Array(m * n);
  const av = asNumbers(rowsA.data, a.dtype, m * k);
  const bv = asNumbers(rowsB.data, b.dtype, n * k);
  for (let i = 0; i < m; i++) {
    const ao = i * k;
    for (let j = 0; j < n; j++) {
      const bo = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += av[ao + p] * bv[bo + p];
      out[i * n + j] = alpha * s;
    }
  }
  return f64 ? new Tensor([m, n], 'f64', out as Float64Array) : new Tensor([m, n], 'f32', out as Float32Array);
}

/** α·A·Bᵀ for A [M,K], B [N,K]. */
export function matmulT(a: Tensor, b: Tensor, alpha = 1): FloatTensor {
  return matmul(a, b, { bT: true, alpha }, 'matmulT');
}

type NumArray = Float32Array | Float64Array | Int8Array | Int32Array;

/** The operand as plain numbers: floats and ints as they are, 8/6/16-bit float codes decoded exactly. */
function asNumbers(data: Tensor['data'], dtype: DType, n: number): NumArray {
  switch (dtype) {
    case 'f32':
    case 'f64':
    case 'i8':
    case 'i32':
      return data as NumArray;
    case 'bf16':
    case 'f16':
    case 'fp8e4m3':
    case 'fp8e5m2':
    case 'fp6e3m2': {
      const table = decodeTable(dtype);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[(data as Uint8Array | Uint16Array)[i]];
      return out;
    }
  }
}
