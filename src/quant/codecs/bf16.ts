// bf16 (1·8·7, bias 127: the top half of an f32) and IEEE f16 (1·5·10, bias 15) codecs. These are casts,
// matching torch's `.to(torch.bfloat16)` / `.half()`: round to nearest even, NaN stays NaN, ±inf kept,
// values that round past the largest finite value become ±inf, subnormals kept. Codes are the raw 16 bits.
//
// Scalars are encoded from float64 with one rounding (an f64 input is not first rounded to f32). For f32
// inputs bf16 has the classic bit trick — add 0x7fff plus the lowest kept bit, drop the low 16 bits — used
// for Float32Array data, and tested bit for bit against the general rounding.
import type { FloatArray } from '../../core/dtype.ts';
import { decodeMinifloat, encodeMinifloat, minifloat, minifloatTable } from './minifloat.ts';

export const BF16 = minifloat({ name: 'bf16', expBits: 8, manBits: 7, bias: 127, special: 'ieee', overflow: 'inf' });
export const F16 = minifloat({ name: 'f16', expBits: 5, manBits: 10, bias: 15, special: 'ieee', overflow: 'inf' });

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 bits of an f32 bit pattern: round to nearest even on the low 16 bits; NaN made quiet, sign kept. */
function bf16FromF32Bits(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) return ((b >>> 16) | 0x0040) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff; // a carry into the exponent is right (up to inf)
}

/** bf16 bits of x, round to nearest even. */
export function encodeBf16(x: number): number {
  f32[0] = x;
  if (f32[0] === x || x !== x) return bf16FromF32Bits(u32[0]!); // x is an f32 value (or NaN)
  return encodeMinifloat(BF16, x);
}

/** The value of bf16 bits (exact in f32). */
export function decodeBf16(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** bf16 bits of every element. */
export function encodeBf16Array(src: FloatArray, dst = new Uint16Array(src.length)): Uint16Array {
  if (src instanceof Float32Array) {
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    for (let i = 0; i < src.length; i++) dst[i] = bf16FromF32Bits(bits[i]!);
  } else {
    for (let i = 0; i < src.length; i++) dst[i] = encodeBf16(src[i]!);
  }
  return dst;
}

/** Values of bf16 bits (into f32 by default). */
export function decodeBf16Array<T extends FloatArray = Float32Array>(src: Uint16Array, dst?: T): T {
  const out = dst ?? (new Float32Array(src.length) as T);
  for (let i = 0; i < src.length; i++) out[i] = decodeBf16(src[i]!);
  return out;
}

/** f16 bits of x, round to nearest even (subnormals kept, overflow to ±inf). */
export function encodeF16(x: number): number {
  return encodeMinifloat(F16, x);
}

/** The value of f16 bits. */
export function decodeF16(bits: number): number {
  return decodeMinifloat(F16, bits);
}

export function encodeF16Array(src: FloatArray, dst = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = encodeF16(src[i]!);
  return dst;
}

export function decodeF16Array<T extends FloatArray = Float32Array>(src: Uint16Array, dst?: T): T {
  const out = dst ?? (new Float32Array(src.length) as T);
  const table = f16Table();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return out;
}

let bf16Lut: Float32Array | null = null;
let f16Lut: Float32Array | null = null;

/** Value of every bf16 code (65536 entries, built on first use). */
export function bf16Table(): Float32Array {
  return (bf16Lut ??= minifloatTable(BF16));
}

/** Value of every f16 code (65536 entries, built on first use). */
export function f16Table(): Float32Array {
  return (f16Lut ??= minifloatTable(F16));
}
