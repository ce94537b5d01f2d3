// bf16 gradient accumulation (--grad-dtype bf16, src/optim/bf16-grad.ts addIntoBf16): g = bf16(f32(g) + x),
// the f32 sum rounded to nearest even, one rounding per add. Bit-identical to the TypeScript loop (the same
// f32 add, then bf16_from_f32_bits, the codec's rounding); chunks across threads.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "codecs.h"
#include "nn.h"
#include "nn_math.h"

namespace halo {

void add_into_bf16(uint16_t* g, const float* x, int64_t n) {
  const int64_t chunks = (n + nn::kChunk - 1) / nn::kChunk;
#pragma omp parallel for schedule(static) if (n >= nn::kParallelMin)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t lo = c * nn::kChunk, hi = std::min(n, lo + nn::kChunk);
    for (int64_t i = lo; i < hi; i++) {
      const uint32_t gb = uint32_t(g[i]) << 16;
      float gv;
      std::memcpy(&gv, &gb, 4);
      const float s = gv + x[i];
      uint32_t sb;
      std::memcpy(&sb, &s, 4);
      g[i] = bf16_from_f32_bits(sb);
    }
  }
}

}  // namespace halo

namespace halo {

// Σ g² in double, in index order (one thread): the same sum, bit for bit, as gradSumSquares' loop.
double sum_squares_bf16(const uint16_t* g, int64_t n, double s0) {
  double s = s0;
  for (int64_t i = 0; i < n; i++) {
    const uint32_t b = uint32_t(g[i]) << 16;
    float v;
    std::memcpy(&v, &b, 4);
    s += double(v) * double(v);
  }
  return s;
}

// g = bf16(f32(g · coef)): the product in double, rounded to f32, then to bf16 (scaleGrad's loop).
void scale_bf16(uint16_t* g, int64_t n, double coef) {
  const int64_t chunks = (n + nn::kChunk - 1) / nn::kChunk;
#pragma omp parallel for schedule(static) if (n >= nn::kParallelMin)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t lo = c * nn::kChunk, hi = std::min(n, lo + nn::kChunk);
    for (int64_t i = lo; i < hi; i++) {
      const uint32_t b = uint32_t(g[i]) << 16;
      float v;
      std::memcpy(&v, &b, 4);
      const float p = float(double(v) * coef);
      uint32_t pb;
      std::memcpy(&pb, &p, 4);
      g[i] = bf16_from_f32_bits(pb);
    }
  }
}

}  // namespace halo
