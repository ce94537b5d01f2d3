// Storage-dtype conversions for checkpoint I/O: bf16/f16 ↔ f32/f64, so a model trained in f32 can be saved in
// the dtype its checkpoint came in (and loaded as f32). Rounding is round-to-nearest-even, as torch's
// `.to(torch.bfloat16)` / `.half()`; NaN stays NaN, overflow goes to ±Inf, f16 keeps subnormals.
import { DTYPES, type DType, type Storage } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) return ((b >>> 16) | 0x0040) & 0xffff; // quiet NaN
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    man |= 0x800000;
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rest = man & ((1 << shift) - 1);
    let h = man >>> shift;
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // carry into the exponent is correct (up to Inf)
  return sign | h;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

const FLOATS: readonly DType[] = ['f64', 'f32', 'bf16', 'f16'];

/** Element i of a float tensor as a JS number. */
function reader(t: Tensor): (i: number) => number {
  const d = t.data;
  switch (t.dtype) {
    case 'bf16':
      return (i) => bf16BitsToF32(d[i]!);
    case 'f16':
      return (i) => f16BitsToF32(d[i]!);
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
  const out = DTYPES[dtype].make(n);
  const get = reader(t);
  if (dtype === 'bf16') for (let i = 0; i < n; i++) out[i] = f32ToBf16Bits(get(i));
  else if (dtype === 'f16') for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(get(i));
  else for (let i = 0; i < n; i++) out[i] = get(i);
  return new Tensor(t.shape, dtype, out as Storage<D>);
}
