// Dequantize: out = scale·decode(code), in the codes' own layout. Bit-identical to src/quant/quantize.ts:
// the reference multiplies in double, but an f32 scale times a decoded value (≤ 8 significant bits) is exact
// in double, so rounding it once to f32 equals the f32 product computed here.
#include <cstring>

#include "codecs.h"
#include "quantize.h"

namespace halo {

void dequantize(const void* codes, int64_t R, int64_t C, Format f, Granularity g, const float* scales, float* out) {
  const int64_t nb = (C + kQuantBlock - 1) / kQuantBlock;
  const bool par = R * C >= (1 << 15);
  if (f == Format::bf16) {
    const uint16_t* c = static_cast<const uint16_t*>(codes);
#pragma omp parallel for schedule(static) if (par)
    for (int64_t r = 0; r < R; r++)
      for (int64_t j = 0; j < C; j++) {
        const float s = g == Granularity::tensor ? scales[0]
                        : g == Granularity::row  ? scales[r]
                        : g == Granularity::tile32 ? scales[(r / kQuantBlock) * nb + j / kQuantBlock]
                                                   : scales[r * nb + j / kQuantBlock];
        uint32_t u = uint32_t(c[r * C + j]) << 16;
        float v;
        std::memcpy(&v, &u, 4);
        out[r * C + j] = s * v;
      }
    return;
  }
  const float* table = decode_table_f32(f);
  const uint8_t* c = static_cast<const uint8_t*>(codes);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < R; r++) {
    const uint8_t* cr = c + r * C;
    float* o = out + r * C;
    if (g == Granularity::block32 || g == Granularity::tile32) {
      const float* sr = scales + (g == Granularity::block32 ? r : r / kQuantBlock) * nb;
      for (int64_t j = 0; j < C; j++) o[j] = sr[j / kQuantBlock] * table[cr[j]];
    } else {
      const float s = g == Granularity::tensor ? scales[0] : scales[r];
      for (int64_t j = 0; j < C; j++) o[j] = s * table[cr[j]];
    }
  }
}

}  // namespace halo
