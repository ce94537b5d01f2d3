// The residual stream's adds (src/nn/ops/elementwise.ts): dst += src and out = a + b. An f32 add rounds
// exactly like the reference's double add stored to a Float32Array (double has more than 2·24 + 2 bits, so
// the double rounding is innocuous), so plain f32 vector adds are bit-identical. Chunks across threads.
#include <omp.h>

#include <algorithm>

#include "cpu_features.h"
#include "nn.h"
#include "nn_math.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

HALO_INLINE void g_add(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void add_base(const float* a, const float* b, int64_t n, float* out) { g_add(a, b, n, out); }
HALO_AVX2 void add_avx2(const float* a, const float* b, int64_t n, float* out) { g_add(a, b, n, out); }
HALO_AVX512 void add_avx512(const float* a, const float* b, int64_t n, float* out) {
  using namespace nn;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail16(n - i);
    _mm512_mask_storeu_ps(out + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i)));
  }
}

}  // namespace

void add(const float* a, const float* b, int64_t n, float* out) {
  const int t = kernel_tier();
  auto f = t == 2 ? add_avx512 : t == 1 ? add_avx2 : add_base;
  const int64_t chunks = (n + nn::kChunk - 1) / nn::kChunk;
#pragma omp parallel for schedule(static) if (n >= nn::kParallelMin)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i = c * nn::kChunk, len = std::min(nn::kChunk, n - i);
    f(a + i, b + i, len, out + i);
  }
}

void add_into(float* dst, const float* src, int64_t n) { add(dst, src, n, dst); }

}  // namespace halo
