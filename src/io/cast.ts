// Storage-dtype conversions for checkpoint I/O: bf16/f16 ↔ f32/f64, so a model trained in f32 can be saved in
// the dtype its checkpoint came in (and loaded as f32). Rounding is round-to-nearest-even, as torch's
// `.to(torch.bfloat16)` / `.half()`; NaN stays NaN, overflow goes to ±Inf, f16 keeps subnormals.
import { DTYPES, type DType, type Storage } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from '../quant/codecs/bf16.ts';

// The bit-level codecs live in src/quant/codecs (tested exhaustively there); the old names stay as aliases.
export {
  encodeBf16 as f32ToBf16Bits,
  decodeBf16 as bf16BitsToF32,
  encodeF16 as f32ToF16Bits,
  decodeF16 as f16BitsToF32,
} from '../quant/codecs/bf16.ts';

const FLOATS: readonly DType[] = ['f64', 'f32', 'bf16', 'f16'];

/** Element i of a float tensor as a JS number. */
function reader(t: Tensor): (i: number) => number {
  const d = t.data;
  switch (t.dtype) {
    case 'bf16':
      return (i) => decodeBf16(d[i]!);
    case 'f16':
      return (i) => decodeF16(d[i]!);
    default:
      return (i) => d[i]!;
  }
}

/** A copy of `t` stored as `dtype` (the same tensor when it already is). Only between f64/f32/bf16/f16. */
export function castTensor<D extends DType>(t: Tensor, dtype: D, what = 'tensor'): Tensor<D> {
  if (t.dtype === dtype) return t as Tensor<D>;
  if (!FLOATS.includes(t.dtype) || !FLOATS.includes(dtype)) {
    throw new HaloError('E_DTYPE', `${what}: cannot convert ${t.dtype} to ${dtype} (only between f64, f32, bf16, f16)`);
  }
  const n = t.numel;
  // bf16 is the top half of an f32: widening is a shift, exact for every code (NaN payloads included), and ~50×
  // faster than decoding element by element, which matters for an 8B checkpoint's 16 GB.
  if (t.dtype === 'bf16' && dtype === 'f32') return new Tensor(t.shape, dtype, bf16BitsToF32Array(t.data as Uint16Array) as Storage<D>);
  const out = DTYPES[dtype].make(n);
  const get = reader(t);
  if (dtype === 'bf16') for (let i = 0; i < n; i++) out[i] = encodeBf16(get(i));
  else if (dtype === 'f16') for (let i = 0; i < n; i++) out[i] = encodeF16(get(i));
  else for (let i = 0; i < n; i++) out[i] = get(i);
  return new Tensor(t.shape, dtype, out as Storage<D>);
}

/** bf16 bits [n] → a new Float32Array [n] (exact). */
export function bf16BitsToF32Array(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const u = new Uint32Array(out.buffer, out.byteOffset, bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}
