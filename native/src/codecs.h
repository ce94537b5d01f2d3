// Element codecs of the quantized formats: exact decode tables and round-to-nearest-even encoders.
// Formats (values = scale·decode(code)):
//   int8     two's complement, codes clamped to [-127, 127]
//   fp8e4m3  E4M3FN: bias 7, no infinities, S.1111.111 = NaN, max 448
//   fp8e5m2  E5M2:   bias 15, IEEE-like (inf, NaN), max 57344
//   fp6e3m2  E3M2FN: bias 3, 6 bits in the low bits of a byte (sign = bit 5), all finite, max 28
//   bf16     upper half of an IEEE f32
#pragma once
#include <cstdint>

#include "common.h"

namespace halo {

struct FormatInfo {
  int expBits, manBits, bias;
  double maxFinite;  // largest finite magnitude (qmax of the absmax scale)
  bool hasInf;       // e5m2 only
};

const FormatInfo& format_info(Format f);  // int8: {0, 7, 0, 127}; bf16: {8, 7, 127, max bf16}
double format_qmax(Format f);

// code → f32 value (256 entries for the byte formats; bf16 is a shift).
const float* decode_table_f32(Format f);
// code → bf16 bits (exact: every fp8/fp6 value is a bf16 value).
const uint16_t* decode_table_bf16(Format f);

void decode_to_bf16(Format f, const uint8_t* codes, uint16_t* out, int64_t n);

// Scalar RNE encoders from a double (the quotient x/scale, as the TypeScript reference computes it).
uint8_t encode_minifloat(Format f, double v);
int8_t encode_int8(double v);
uint16_t encode_bf16(double v);

}  // namespace halo
