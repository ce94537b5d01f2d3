// Rotary position embedding (src/nn/ops/rope.ts, transformers' rotate_half pairing i ↔ i + D/2), forward
// (sign +1) and backward (sign −1, the rotation by the negative angle). Tokens are split across threads;
// each pair is computed in double as a·c − b·s and b·c + a·s (the products of two f32 are exact in
// double), rounded once: bit-identical to the reference. Both halves are loaded before either is stored,
// so out may be x.
#include <omp.h>

#include "cpu_features.h"
#include "nn.h"
#include "nn_math.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

// One token: x, out [H, D]; cos, sin [D/2].
HALO_INLINE void g_token(const float* x, const float* cos, const float* sin, int64_t H, int64_t D, double sign, float* out) {
  const int64_t half = D / 2;
  for (int64_t h = 0; h < H; h++) {
    const float* xi = x + h * D;
    float* o = out + h * D;
    for (int64_t i = 0; i < half; i++) {
      const double c = cos[i], s = sign * double(sin[i]);
      const double a = xi[i], b = xi[half + i];
      o[i] = float(a * c - b * s);
      o[half + i] = float(b * c + a * s);
    }
  }
}

void token_base(const float* x, const float* cos, const float* sin, int64_t H, int64_t D, double sign, float* out) {
  g_token(x, cos, sin, H, D, sign, out);
}
HALO_AVX2 void token_avx2(const float* x, const float* cos, const float* sin, int64_t H, int64_t D, double sign, float* out) {
  g_token(x, cos, sin, H, D, sign, out);
}

HALO_AVX512 void token_avx512(const float* x, const float* cos, const float* sin, int64_t H, int64_t D, double sign, float* out) {
  using namespace nn;
  const int64_t half = D / 2;
  const __m512d sg = _mm512_set1_pd(sign);
  for (int64_t i = 0; i < half; i += 8) {
    const __mmask8 k = tail8(half - i);
    const __m512d c = load8(cos + i, k), s = _mm512_mul_pd(sg, load8(sin + i, k));
    for (int64_t h = 0; h < H; h++) {
      const float* xi = x + h * D + i;
      float* o = out + h * D + i;
      const __m512d a = load8(xi, k), b = load8(xi + half, k);
      const __m512d lo = _mm512_sub_pd(_mm512_mul_pd(a, c), _mm512_mul_pd(b, s));
      const __m512d hi = _mm512_add_pd(_mm512_mul_pd(b, c), _mm512_mul_pd(a, s));
      store8(o, lo, k);
      store8(o + half, hi, k);
    }
  }
}

using TokenFn = void (*)(const float*, const float*, const float*, int64_t, int64_t, double, float*);

}  // namespace

void rope_rotate(const float* x, const float* cos, const float* sin, int64_t N, int64_t H, int64_t D, int sign, float* out) {
  const int t = kernel_tier();
  const TokenFn f = t == 2 ? token_avx512 : t == 1 ? token_avx2 : token_base;
  const int64_t half = D / 2;
  const double sg = sign < 0 ? -1.0 : 1.0;
#pragma omp parallel for schedule(static) if (N * H * D >= nn::kParallelMin && N > 1)
  for (int64_t n = 0; n < N; n++) f(x + n * H * D, cos + n * half, sin + n * half, H, D, sg, out + n * H * D);
}

}  // namespace halo
