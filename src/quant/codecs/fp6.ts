// FP6 E3M2 codec (1·3·2, bias 3; HALO's `fp6_e3m2fn` codebook, spec §3). Every exponent code is finite: no
// inf, no NaN. Values ±{0, 1/16, 1/8, 3/16 (subnormals), 1/4, 5/16, 3/8, 7/16, 1/2, …, 16, 20, 24, 28}:
// max 28 (0x1F), smallest subnormal 1/16 (0x01). A code is 6 bits kept one per byte, sign in bit 5 (0x20).
// FP6 is simulated (no FP6 GEMM exists), so packing four codes into three bytes would only cost time.
// encode rounds to the nearest codebook value, ties to even, and saturates at ±28 (±inf → ±28);
// NaN has no code and throws E_NUMERIC.
import { encodeMinifloat, minifloat, minifloatTable } from './minifloat.ts';

export const E3M2 = minifloat({ name: 'fp6e3m2', expBits: 3, manBits: 2, bias: 3, special: 'none', overflow: 'saturate' });

/** Value of every E3M2 code (64 entries). */
export const E3M2_TABLE: Float32Array = minifloatTable(E3M2);

export function encodeE3M2(x: number): number {
  return encodeMinifloat(E3M2, x);
}

export function decodeE3M2(code: number): number {
  return E3M2_TABLE[code & 0x3f]!;
}
