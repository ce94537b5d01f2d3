// α·A·Bᵀ in plain TypeScript: the oracle for the native GEMMs. Rows of A and B are both contiguous, so the
// inner loop is a dot product of two contiguous rows; sums are kept in a JS number (f64), and integer codes
// sum exactly (|sum| ≤ 127²·K stays far below 2^53).
import type { FloatTensor } from '../backend.ts';
import { HaloError } from '../../core/errors.ts';
import { Tensor } from '../../core/tensor.ts';
import type { DType } from '../../core/dtype.ts';
import { decodeTable } from '../../quant/index.ts';

export function matmulT(a: Tensor, b: Tensor, alpha = 1): FloatTensor {
  const [m, k] = a.dims2('matmulT A');
  const [n, kb] = b.dims2('matmulT B');
  if (k !== kb) throw new HaloError('E_SHAPE', `matmulT: A is [${m}, ${k}] and B is [${n}, ${kb}]; their last dimensions must match`);
  if (a.dtype !== b.dtype) throw new HaloError('E_DTYPE', `matmulT: operand dtypes differ (${a.dtype} · ${b.dtype})`);
  const f64 = a.dtype === 'f64';
  const out = f64 ? new Float64Array(m * n) : new Float32Array(m * n);
  const av = asNumbers(a.data, a.dtype, m * k);
  const bv = asNumbers(b.data, b.dtype, n * k);
  for (let i = 0; i < m; i++) {
    const ao = i * k;
    for (let j = 0; j < n; j++) {
      const bo = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += av[ao + p] * bv[bo + p];
      out[i * n + j] = alpha * s;
    }
  }
  return (f64 ? new Tensor([m, n], 'f64', out as Float64Array) : new Tensor([m, n], 'f32', out as Float32Array));
}

type NumArray = Float32Array | Float64Array | Int8Array | Int32Array;

/** The operand as plain numbers: floats and ints as they are, 8/6/16-bit float codes decoded exactly. */
function asNumbers(data: Tensor['data'], dtype: DType, n: number): NumArray {
  switch (dtype) {
    case 'f32': case 'f64': case 'i8': case 'i32':
      return data as NumArray;
    case 'bf16': case 'f16': case 'fp8e4m3': case 'fp8e5m2': case 'fp6e3m2': {
      const table = decodeTable(dtype);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[(data as Uint8Array | Uint16Array)[i]];
      return out;
    }
  }
}
