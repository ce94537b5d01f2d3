// Token embedding (src/nn/ops/embedding.ts): a row gather forward, a scatter-add backward. The backward is
// split across threads by COLUMN ranges, each walking the tokens in order, so a repeated id never races and
// every dwte element receives its additions in the reference's order (an f32 add rounds exactly like the
// reference's double add stored to a Float32Array): bit-identical.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "cpu_features.h"
#include "nn.h"
#include "nn_math.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

void check_ids(const int32_t* ids, int64_t N, int64_t V, const char* op) {
  for (int64_t n = 0; n < N; n++)
    if (ids[n] < 0 || ids[n] >= V)
      throw ArgError(std::string(op) + ": token id " + std::to_string(ids[n]) + " at position " + std::to_string(n) +
                     " is outside the vocabulary [0, " + std::to_string(V) + ")");
}

HALO_INLINE void g_scatter(const float* dout, const int32_t* ids, int64_t N, float* dwte, int64_t C, int64_t c0, int64_t c1) {
  for (int64_t n = 0; n < N; n++) {
    const float* s = dout + n * C;
    float* d = dwte + int64_t(ids[n]) * C;
    for (int64_t c = c0; c < c1; c++) d[c] += s[c];
  }
}

void scatter_base(const float* dout, const int32_t* ids, int64_t N, float* dwte, int64_t C, int64_t c0, int64_t c1) {
  g_scatter(dout, ids, N, dwte, C, c0, c1);
}
HALO_AVX2 void scatter_avx2(const float* dout, const int32_t* ids, int64_t N, float* dwte, int64_t C, int64_t c0, int64_t c1) {
  g_scatter(dout, ids, N, dwte, C, c0, c1);
}
HALO_AVX512 void scatter_avx512(const float* dout, const int32_t* ids, int64_t N, float* dwte, int64_t C, int64_t c0, int64_t c1) {
  using namespace nn;
  for (int64_t n = 0; n < N; n++) {
    const float* s = dout + n * C;
    float* d = dwte + int64_t(ids[n]) * C;
    for (int64_t c = c0; c < c1; c += 16) {
      const __mmask16 k = tail16(c1 - c);
      _mm512_mask_storeu_ps(d + c, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, d + c), _mm512_maskz_loadu_ps(k, s + c)));
    }
  }
}

}  // namespace

void embedding_forward(const int32_t* ids, int64_t N, const float* wte, int64_t V, int64_t C, float* out) {
  check_ids(ids, N, V, "embeddingForward");
#pragma omp parallel for schedule(static) if (N * C >= nn::kParallelMin && N > 1)
  for (int64_t n = 0; n < N; n++) std::memcpy(out + n * C, wte + int64_t(ids[n]) * C, size_t(C) * 4);
}

void embedding_backward(const float* dout, const int32_t* ids, int64_t N, float* dwte, int64_t V, int64_t C) {
  check_ids(ids, N, V, "embeddingBackward");
  const int t = kernel_tier();
  auto f = t == 2 ? scatter_avx512 : t == 1 ? scatter_avx2 : scatter_base;
  // Column ranges of whole cache lines (16 floats), one per thread.
  const int nt = (N * C >= nn::kParallelMin) ? omp_get_max_threads() : 1;
  const int64_t lines = (C + 15) / 16;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(nt, lines));
#pragma omp parallel for schedule(static) num_threads(int(parts)) if (parts > 1)
  for (int64_t p = 0; p < parts; p++) {
    const int64_t c0 = std::min(C, (lines * p / parts) * 16), c1 = std::min(C, (lines * (p + 1) / parts) * 16);
    if (c0 < c1) f(dout, ids, N, dwte, C, c0, c1);
  }
}

}  // namespace halo
