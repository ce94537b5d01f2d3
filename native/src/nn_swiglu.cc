// SwiGLU gate of LlamaMLP (src/nn/ops/swiglu.ts): h = silu(g)·up forward, and its two input gradients
// backward (σ recomputed from g, nothing saved). Element-wise, in chunks across threads; each value is the
// reference's expression in double, σ from a double exp (nn_math.h, ≤ 2 ulp of Math.exp), rounded once.
// All inputs of a vector are loaded before its outputs are stored, so any output may alias any input.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "cpu_features.h"
#include "nn.h"
#include "nn_math.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

HALO_INLINE void g_fwd(const float* gate, const float* up, int64_t n, float* h) {
  for (int64_t i = 0; i < n; i++) {
    const double g = gate[i];
    h[i] = float((g / (1.0 + std::exp(-g))) * double(up[i]));
  }
}

HALO_INLINE void g_bwd(const float* dh, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  for (int64_t i = 0; i < n; i++) {
    const double g = gate[i], d = dh[i], u = up[i];
    const double sig = 1.0 / (1.0 + std::exp(-g));
    dgate[i] = float(d * u * sig * (1.0 + g * (1.0 - sig)));
    dup[i] = float(d * g * sig);
  }
}

void fwd_base(const float* g, const float* u, int64_t n, float* h) { g_fwd(g, u, n, h); }
HALO_AVX2 void fwd_avx2(const float* g, const float* u, int64_t n, float* h) { g_fwd(g, u, n, h); }
void bwd_base(const float* dh, const float* g, const float* u, int64_t n, float* dg, float* du) { g_bwd(dh, g, u, n, dg, du); }
HALO_AVX2 void bwd_avx2(const float* dh, const float* g, const float* u, int64_t n, float* dg, float* du) { g_bwd(dh, g, u, n, dg, du); }

HALO_AVX512 void fwd_avx512(const float* gate, const float* up, int64_t n, float* h) {
  using namespace nn;
  const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 8) {
    const __mmask8 k = tail8(n - i);
    const __m512d g = load8(gate + i, k), u = load8(up + i, k);
    const __m512d e = exp8(_mm512_sub_pd(zero, g));
    store8(h + i, _mm512_mul_pd(_mm512_div_pd(g, _mm512_add_pd(one, e)), u), k);
  }
}

HALO_AVX512 void bwd_avx512(const float* dh, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  using namespace nn;
  const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 8) {
    const __mmask8 k = tail8(n - i);
    const __m512d g = load8(gate + i, k), d = load8(dh + i, k), u = load8(up + i, k);
    const __m512d sig = _mm512_div_pd(one, _mm512_add_pd(one, exp8(_mm512_sub_pd(zero, g))));
    const __m512d t = _mm512_add_pd(one, _mm512_mul_pd(g, _mm512_sub_pd(one, sig)));
    store8(dgate + i, _mm512_mul_pd(_mm512_mul_pd(_mm512_mul_pd(d, u), sig), t), k);
    store8(dup + i, _mm512_mul_pd(_mm512_mul_pd(d, g), sig), k);
  }
}

}  // namespace

void swiglu_forward(const float* gate, const float* up, int64_t n, float* h) {
  const int t = kernel_tier();
  auto f = t == 2 ? fwd_avx512 : t == 1 ? fwd_avx2 : fwd_base;
  const int64_t chunks = (n + nn::kChunk - 1) / nn::kChunk;
#pragma omp parallel for schedule(static) if (n >= nn::kParallelMin)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i = c * nn::kChunk, m = std::min(nn::kChunk, n - i);
    f(gate + i, up + i, m, h + i);
  }
}

void swiglu_backward(const float* dh, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  const int t = kernel_tier();
  auto f = t == 2 ? bwd_avx512 : t == 1 ? bwd_avx2 : bwd_base;
  const int64_t chunks = (n + nn::kChunk - 1) / nn::kChunk;
#pragma omp parallel for schedule(static) if (n >= nn::kParallelMin)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i = c * nn::kChunk, m = std::min(nn::kChunk, n - i);
    f(dh + i, gate + i, up + i, m, dgate + i, dup + i);
  }
}

}  // namespace halo
