// Codecs: one parameterised small-float codec (as src/quant/codecs/minifloat.ts) plus int8 and the bf16
// bit trick. Decode tables are built once from the bit layout.
#include "codecs.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

namespace halo {
namespace {

Minifloat make(int expBits, int manBits, int bias, bool ieee, bool fn, bool saturate) {
  Minifloat f{};
  f.expBits = expBits;
  f.manBits = manBits;
  f.bias = bias;
  f.ieee = ieee;
  f.saturate = saturate;
  const int expAll = (1 << expBits) - 1, manAll = (1 << manBits) - 1;
  const int maxExp = ieee ? expAll - 1 : expAll;
  const int maxMan = fn ? manAll - 1 : manAll;
  f.maxCode = (maxExp << manBits) | maxMan;
  f.signBit = 1 << (expBits + manBits);
  f.infCode = ieee ? expAll << manBits : -1;
  f.nanCode = ieee ? (expAll << manBits) | (1 << (manBits - 1)) : fn ? (expAll << manBits) | manAll : -1;
  f.max = (1.0 + double(maxMan) / double(1 << manBits)) * std::ldexp(1.0, maxExp - bias);
  return f;
}

const Minifloat kE4M3 = make(4, 3, 7, false, true, true);
const Minifloat kE5M2 = make(5, 2, 15, true, false, true);
const Minifloat kE3M2 = make(3, 2, 3, false, false, true);
const Minifloat kBF16 = make(8, 7, 127, true, false, false);

float decode_minifloat(const Minifloat& f, unsigned code) {
  const double sign = (code & unsigned(f.signBit)) ? -1.0 : 1.0;
  const unsigned e = (code >> f.manBits) & ((1u << f.expBits) - 1);
  const unsigned m = code & ((1u << f.manBits) - 1);
  const unsigned expAll = (1u << f.expBits) - 1;
  if (e == expAll) {
    if (f.ieee) return m == 0 ? float(sign * std::numeric_limits<double>::infinity()) : std::numeric_limits<float>::quiet_NaN();
    if (f.nanCode >= 0 && m == (1u << f.manBits) - 1) return std::numeric_limits<float>::quiet_NaN();
  }
  if (e == 0) return float(sign * std::ldexp(double(m), 1 - f.bias - f.manBits));
  return float(sign * (1.0 + double(m) / double(1u << f.manBits)) * std::ldexp(1.0, int(e) - f.bias));
}

struct Tables {
  std::array<float, 256> f32[4];
  std::array<uint16_t, 256> bf16[4];
  Tables() {
    for (unsigned c = 0; c < 256; c++) {
      f32[0][c] = float(int8_t(uint8_t(c)));
      f32[1][c] = decode_minifloat(kE4M3, c);
      f32[2][c] = decode_minifloat(kE5M2, c);
      f32[3][c] = decode_minifloat(kE3M2, c & 0x3f);
      for (int t = 0; t < 4; t++) {
        uint32_t u;
        std::memcpy(&u, &f32[t][c], 4);
        bf16[t][c] = uint16_t(u >> 16);  // exact for these values (NaN keeps its quiet bit)
      }
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const Minifloat& minifloat(Format f) {
  switch (f) {
    case Format::fp8e4m3: return kE4M3;
    case Format::fp8e5m2: return kE5M2;
    case Format::fp6e3m2: return kE3M2;
    case Format::bf16: return kBF16;
    default: throw ArgError("minifloat: not a small-float format");
  }
}

double format_qmax(Format f) {
  switch (f) {
    case Format::int8: return 127.0;
    case Format::bf16: return std::numeric_limits<double>::infinity();
    default: return minifloat(f).max;
  }
}

const float* decode_table_f32(Format f) {
  if (f == Format::bf16) throw ArgError("bf16 has no byte decode table");
  return tables().f32[int(f)].data();
}

const uint16_t* decode_table_bf16(Format f) {
  if (f == Format::bf16) throw ArgError("bf16 has no byte decode table");
  return tables().bf16[int(f)].data();
}

void decode_to_bf16(Format f, const uint8_t* codes, uint16_t* out, int64_t n) {
  const uint16_t* t = decode_table_bf16(f);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; i++) out[i] = t[codes[i]];
}

int8_t encode_int8(double x) {
  if (x >= 127.0) return 127;
  if (x <= -127.0) return -127;
  return int8_t(std::nearbyint(x));  // default rounding mode: nearest, ties to even
}

uint32_t encode_minifloat(const Minifloat& f, double x) {
  if (std::isnan(x)) return uint32_t(f.nanCode);
  const uint32_t sign = std::signbit(x) ? uint32_t(f.signBit) : 0u;
  const double a = std::fabs(x);
  if (std::isinf(a)) return sign | uint32_t(f.infCode >= 0 ? f.infCode : f.maxCode);
  if (a == 0.0) return sign;
  const int emin = 1 - f.bias;
  int e = std::ilogb(a);  // floor(log2 a)
  if (e < emin) e = emin;
  double m = std::nearbyint(std::ldexp(a, f.manBits - e));  // exact scaling, then RNE
  if (m == double(1 << (f.manBits + 1))) {
    m = double(1 << f.manBits);
    e++;
  }
  const int expCode = m < double(1 << f.manBits) ? 0 : e + f.bias;
  const int64_t code = (int64_t(expCode) << f.manBits) | (int64_t(m) & ((1 << f.manBits) - 1));
  if (code > f.maxCode) return sign | uint32_t(!f.saturate && f.infCode >= 0 ? f.infCode : f.maxCode);
  return sign | uint32_t(code);
}

uint16_t bf16_from_f32_bits(uint32_t b) {
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0) return uint16_t((b >> 16) | 0x0040);
  return uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

}  // namespace halo
