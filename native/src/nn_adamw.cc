// One AdamW step of a tensor, in place (src/optim/adamw.ts adamwUpdate; torch.optim.AdamW's order: decay on
// the pre-update weights, moments stored in f32, then the update read back from the stored moments). Every
// expression is the reference's in double, in its order, rounded once when stored, with the step scalars
// (1 − lr·λ, lr/(1 − β1^t), √(1 − β2^t)) computed by the caller: bit-identical to the reference. Memory-bound
// (7 f32 streams); chunks across threads.
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

HALO_INLINE void g_update(float* p, const float* grad, float* m, float* v, int64_t n, const AdamwScalars& s) {
  for (int64_t i = 0; i < n; i++) {
    const double g = grad[i];
    m[i] = float(s.beta1 * double(m[i]) + s.oneMinusBeta1 * g);
    v[i] = float(s.beta2 * double(v[i]) + s.oneMinusBeta2 * g * g);
    p[i] = float(double(p[i]) * s.decay - (s.stepSize * double(m[i])) / (std::sqrt(double(v[i])) / s.bc2Sqrt + s.eps));
  }
}

void update_base(float* p, const float* g, float* m, float* v, int64_t n, const AdamwScalars& s) { g_update(p, g, m, v, n, s); }
HALO_AVX2 void update_avx2(float* p, const float* g, float* m, float* v, int64_t n, const AdamwScalars& s) { g_update(p, g, m, v, n, s); }

HALO_AVX512 void update_avx512(float* p, const float* grad, float* m, float* v, int64_t n, const AdamwScalars& s) {
  using namespace nn;
  const __m512d b1 = _mm512_set1_pd(s.beta1), b2 = _mm512_set1_pd(s.beta2);
  const __m512d c1 = _mm512_set1_pd(s.oneMinusBeta1), c2 = _mm512_set1_pd(s.oneMinusBeta2);
  const __m512d decay = _mm512_set1_pd(s.decay), step = _mm512_set1_pd(s.stepSize);
  const __m512d bc2 = _mm512_set1_pd(s.bc2Sqrt), eps = _mm512_set1_pd(s.eps);
  for (int64_t i = 0; i < n; i += 8) {
    const __mmask8 k = tail8(n - i);
    const __m512d g = load8(grad + i, k);
    // The moments as stored (rounded to f32), which is what the update reads back.
    const __m256 mf = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_mul_pd(b1, load8(m + i, k)), _mm512_mul_pd(c1, g)));
    const __m256 vf = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_mul_pd(b2, load8(v + i, k)), _mm512_mul_pd(_mm512_mul_pd(c2, g), g)));
    _mm256_mask_storeu_ps(m + i, k, mf);
    _mm256_mask_storeu_ps(v + i, k, vf);
    const __m512d md = _mm512_cvtps_pd(mf), vd = _mm512_cvtps_pd(vf);
    const __m512d den = _mm512_add_pd(_mm512_div_pd(_mm512_sqrt_pd(vd), bc2), eps);
    store8(p + i, _mm512_sub_pd(_mm512_mul_pd(load8(p + i, k), decay), _mm512_div_pd(_mm512_mul_pd(step, md), den)), k);
  }
}

}  // namespace

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamwScalars& s) {
  const int t = kernel_tier();
  auto f = t == 2 ? update_avx512 : t == 1 ? update_avx2 : update_base;
  const int64_t chunks = (n + nn::kChunk - 1) / nn::kChunk;
#pragma omp parallel for schedule(static) if (n >= nn::kParallelMin)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i = c * nn::kChunk, len = std::min(nn::kChunk, n - i);
    f(param + i, grad + i, m + i, v + i, len, s);
  }
}

}  // namespace halo
