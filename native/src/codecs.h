// Element codecs of the quantized formats, mirroring src/quant/codecs/*.ts exactly: decode tables and
// round-to-nearest-even encoders from a double (the quotient x/scale as the reference computes it).
//   int8     RNE then clamp to [-127, 127]
//   fp8e4m3  E4M3FN: bias 7, no inf, S.1111.111 = NaN, max 448 (0x7E); saturating
//   fp8e5m2  E5M2:   bias 15, IEEE-style inf/NaN, max 57344 (0x7B); finite values saturate, ±inf kept
//   fp6e3m2  E3M2FN: bias 3, 6 bits in a byte (sign = bit 5), all finite, max 28 (0x1F); saturating
//   bf16     upper half of an f32, IEEE cast (overflow → inf); the quantizer uses it with scale 1
#pragma once
#include <cstdint>

#include "common.h"

namespace halo {

struct Minifloat {
  int expBits, manBits, bias;
  bool ieee;          // top exponent code = inf/NaN
  bool saturate;      // beyond max → ±max (else ±inf)
  int maxCode;        // code of +max
  int signBit;        // 1 << (expBits + manBits)
  int infCode;        // -1 when none
  int nanCode;        // -1 when none
  double max;         // largest finite value (qmax)
};

const Minifloat& minifloat(Format f);  // fp8e4m3 / fp8e5m2 / fp6e3m2 / bf16
double format_qmax(Format f);          // int8 127; bf16 +inf (a cast: scale is always 1)

// code → f32 value, 256 entries (fp6 entries above 63 mirror the low 6 bits), for the byte formats.
const float* decode_table_f32(Format f);
// code → bf16 bits (exact: every int8/fp8/fp6 value is a bf16 value).
const uint16_t* decode_table_bf16(Format f);

void decode_to_bf16(Format f, const uint8_t* codes, uint16_t* out, int64_t n);

// Scalar encoders (the portable path, and the definition the vector paths are checked against).
int8_t encode_int8(double v);                        // v must not be NaN
uint32_t encode_minifloat(const Minifloat& f, double v);  // v must not be NaN unless the format has NaN
uint16_t bf16_from_f32_bits(uint32_t bits);          // RNE on the low 16 bits; NaN made quiet

}  // namespace halo
