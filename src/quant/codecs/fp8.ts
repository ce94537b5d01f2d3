// FP8 codecs (OCP 8-bit floating point; torch.float8_e4m3fn / float8_e5m2). Codes are bytes 0..255.
//   E4M3FN: 1·4·3, bias 7. No inf; the only NaN is S.1111.111 (0x7F / 0xFF). Max ±448 (0x7E), smallest
//           subnormal 2^-9 (0x01). HALO's FP8 format for every operand.
//   E5M2:   1·5·2, bias 15, IEEE-style: inf 0x7C, NaN 0x7D..0x7F. Max ±57344 (0x7B), smallest subnormal 2^-16.
// encode rounds to nearest even and SATURATES: finite values beyond ±max become ±max (what a quantizer
// wants — torch's plain cast would give NaN for E4M3FN and inf for E5M2; this is CUDA's __NV_SATFINITE).
// ±inf inputs: E5M2 keeps ±inf (it has the code); E4M3FN, having none, gives ±448. NaN → 0x7F (E4M3FN),
// 0x7E (E5M2, the quiet pattern). Negative values that round to zero give -0 (0x80).
import { encodeMinifloat, minifloat, minifloatTable } from './minifloat.ts';

export const E4M3 = minifloat({ name: 'fp8e4m3', expBits: 4, manBits: 3, bias: 7, special: 'fn', overflow: 'saturate' });
export const E5M2 = minifloat({ name: 'fp8e5m2', expBits: 5, manBits: 2, bias: 15, special: 'ieee', overflow: 'saturate' });

/** Value of every E4M3FN code. */
export const E4M3_TABLE: Float32Array = minifloatTable(E4M3);
/** Value of every E5M2 code. */
export const E5M2_TABLE: Float32Array = minifloatTable(E5M2);

export function encodeE4M3(x: number): number {
  return encodeMinifloat(E4M3, x);
}

export function decodeE4M3(code: number): number {
  return E4M3_TABLE[code & 0xff]!;
}

export function encodeE5M2(x: number): number {
  return encodeMinifloat(E5M2, x);
}

export function decodeE5M2(code: number): number {
  return E5M2_TABLE[code & 0xff]!;
}
