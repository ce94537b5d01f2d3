// Causal grouped-query attention, forward and backward, as one native kernel: the op of src/nn/ops/attention.ts
// (the oracle: causal + key padding mask + sliding window, GQA head h → h / (Hq/Hkv), a query row with no
// visible key → output 0, lse −∞, gradient 0) without the JavaScript tile passes and explicit transposes of
// src/backend/attention-gemm.ts, which it replaces on the native backend.
//
// Work unit: a query tile — BQ positions × the rep = Hq/Hkv query heads sharing kv head g, as M = BQ·rep rows
// i = (t − t0)·rep + r that all see the keys [kLo, t1) (kLo = t0 − W + 1 with a window W, else 0). Per tile
// the scores of those rows form a strip S [M, L] (L = t1 − kLo ≤ T, BQ chosen so the strips stay in L2);
// neither the T×T scores nor their gradient ever exist whole. Forward: S = Q·Kᵀ, one row pass (scale, key
// bias, max, exp, sum → lse), O = P·V scaled by 1/sum. Backward (P recomputed from lse, so only lse
// [B, Hq, T] is saved; `out` is NOT needed: Δ_t = Σ_j P_tj·dP_tj is taken from the strip, as attention-gemm
// does, which costs nothing extra because the strip holds the whole row):
//   S = Q·Kᵀ, dP = dO·Vᵀ, row pass P = exp(S·scale + bias − lse), dS = scale·P⊙(dP − Δ),
//   dQ = dS·K (complete per tile), dK += dSᵀ·Q, dV += Pᵀ·dO.
// All five products are one register-tiled micro-kernel C[R×NC] (+)= A[R×K]·B[K×NC] with A read through
// (row, column) strides, so dSᵀ and Pᵀ are never formed, and per row block the contraction and column ranges
// are clipped to the keys the rows can see (the causal upper triangle and the out-of-window keys are skipped
// except inside a micro-tile). K and V are laid out once per call per (b, g): transposed panels [D, T] for
// Q·Kᵀ and dO·Vᵀ, contiguous rows [T, D] for P·V and dS·K (2–3 copies of k's size; q, dout are gathered per
// tile, [M, D]). Row strides are padded to an odd number of cache lines (power-of-two strides put a whole
// panel into a few L1 sets: 4× slower at T = 512).
//
// Parallelism (OpenMP, dynamic schedule, heaviest work first): forward over (b, g, query tile); backward over
// (b, g, query chunk). With enough (b, g) pairs a chunk is the whole sequence and dK/dV accumulate straight
// into the output; otherwise each chunk accumulates into its own buffer and a final pass sums them in chunk
// order — no atomics, and the result is deterministic for a given thread count.
//
// Numerics: f32 inputs, products accumulated in f32 (registers over the contraction, then added to memory);
// exp in f32 (Cephes' polynomial, ~1 ulp); the row sums Σ exp and Δ in double; lse = max + log(sum) in double,
// stored as f32. Against the f64 reference the outputs agree to ~5e-7 of each tensor's largest value (the
// tests in test/native/attention.test.ts allow 1e-5). The AVX2 and AVX-512 paths give identical results (same
// operation order); the portable one uses std::exp and separate multiply/add, so it differs in the last bits.
//
// Time (B=4, T=512, Hq=16, Hkv=4, D=64, key mask, 2 threads of the shared 2-core AMD EPYC, best of 7): forward
// 13 ms, backward 28 ms; attention-gemm.ts in the same run 69 ms + 125 ms.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu_features.h"
#include "nn.h"
#include "nn_math.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int kRows = 6;  // rows of one micro-tile (every tier)

// C[r, 0..nc) (+)= Σ_k A[r·ars + k·acs] · B[k·ldb + 0..nc) for r < R: the one product of the kernel.
using TileFn = void (*)(int R, int64_t nc, int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C,
                        int64_t ldc, bool acc);
// Forward row pass over one strip row s [L]: keys [lo, hi) visible, the rest become 0; writes lse, returns 1/Σ.
using FwdRowFn = float (*)(float* s, int64_t lo, int64_t hi, int64_t L, const float* bias, float scale, float* lse);
// Backward row pass: s (scores) → P, dp (dO·vᵀ) → scale·P⊙(dP − Δ); 0 outside [lo, hi).
using BwdRowFn = void (*)(float* s, float* dp, int64_t lo, int64_t hi, int64_t L, const float* bias, float scale, float lse);

struct Tier {
  TileFn tile;
  int64_t colBlock;  // columns of one micro-tile
  FwdRowFn fwdRow;
  BwdRowFn bwdRow;
};

void zero_outside(float* s, int64_t lo, int64_t hi, int64_t L) {
  std::fill(s, s + std::max<int64_t>(lo, 0), 0.f);
  if (hi < L) std::fill(s + std::max(hi, int64_t(0)), s + L, 0.f);
}

// ---------------------------------------------------------------- portable path

template <int R>
void tile_base_r(int64_t nc, int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C, int64_t ldc,
                 bool acc) {
  float c[R][16] = {};
  for (int64_t k = 0; k < K; k++) {
    const float* b = B + k * ldb;
    for (int r = 0; r < R; r++) {
      const float a = A[r * ars + k * acs];
      for (int64_t n = 0; n < nc; n++) c[r][n] += a * b[n];
    }
  }
  for (int r = 0; r < R; r++) {
    float* p = C + r * ldc;
    for (int64_t n = 0; n < nc; n++) p[n] = acc ? p[n] + c[r][n] : c[r][n];
  }
}

void tile_base(int R, int64_t nc, int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C, int64_t ldc,
               bool acc) {
  using F = void (*)(int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, bool);
  static constexpr F tab[kRows] = {tile_base_r<1>, tile_base_r<2>, tile_base_r<3>, tile_base_r<4>, tile_base_r<5>, tile_base_r<6>};
  tab[R - 1](nc, K, A, ars, acs, B, ldb, C, ldc, acc);
}

float fwd_row_base(float* s, int64_t lo, int64_t hi, int64_t L, const float* bias, float scale, float* lse) {
  zero_outside(s, lo, hi, L);
  float mx = kNegInf;
  for (int64_t j = lo; j < hi; j++) {
    s[j] = s[j] * scale + (bias ? bias[j] : 0.f);
    mx = std::max(mx, s[j]);
  }
  if (mx == kNegInf) {
    std::fill(s + lo, s + std::max(lo, hi), 0.f);
    *lse = kNegInf;
    return 0.f;
  }
  double sum = 0;
  for (int64_t j = lo; j < hi; j++) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  *lse = float(double(mx) + std::log(sum));
  return float(1.0 / sum);
}

void bwd_row_base(float* s, float* dp, int64_t lo, int64_t hi, int64_t L, const float* bias, float scale, float lse) {
  if (lse == kNegInf || hi <= lo) {
    std::fill(s, s + L, 0.f);
    std::fill(dp, dp + L, 0.f);
    return;
  }
  zero_outside(s, lo, hi, L);
  zero_outside(dp, lo, hi, L);
  double delta = 0;
  for (int64_t j = lo; j < hi; j++) {
    s[j] = std::exp(s[j] * scale + (bias ? bias[j] : 0.f) - lse);
    delta += double(s[j]) * double(dp[j]);
  }
  const float d = float(delta);
  for (int64_t j = lo; j < hi; j++) dp[j] = scale * s[j] * (dp[j] - d);
}

// ---------------------------------------------------------------- AVX2 path

HALO_AVX2 HALO_INLINE __m256i tail_mask8(int64_t left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::min<int64_t>(left, 8))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int R, int NV, bool Masked>
HALO_AVX2 void tile_avx2_t(int64_t nc, int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C,
                           int64_t ldc, bool acc) {
  __m256 c[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) c[r][v] = _mm256_setzero_ps();
  const __m256i km = tail_mask8(nc - 8 * (NV - 1));
  for (int64_t k = 0; k < K; k++) {
    const float* b = B + k * ldb;
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = Masked && v == NV - 1 ? _mm256_maskload_ps(b + 8 * v, km) : _mm256_loadu_ps(b + 8 * v);
    const float* a = A + k * acs;
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const __m256 av = _mm256_broadcast_ss(a + r * ars);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) c[r][v] = _mm256_fmadd_ps(av, bv[v], c[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float* p = C + r * ldc + 8 * v;
      if (Masked && v == NV - 1) {
        const __m256 x = acc ? _mm256_add_ps(_mm256_maskload_ps(p, km), c[r][v]) : c[r][v];
        _mm256_maskstore_ps(p, km, x);
      } else {
        _mm256_storeu_ps(p, acc ? _mm256_add_ps(_mm256_loadu_ps(p), c[r][v]) : c[r][v]);
      }
    }
  }
}

#define HALO_ATTN_AVX2_ROW(R) \
  { {tile_avx2_t<R, 1, false>, tile_avx2_t<R, 1, true>}, {tile_avx2_t<R, 2, false>, tile_avx2_t<R, 2, true>} }

void tile_avx2(int R, int64_t nc, int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C, int64_t ldc,
               bool acc) {
  using F = void (*)(int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, bool);
  static constexpr F tab[kRows][2][2] = {HALO_ATTN_AVX2_ROW(1), HALO_ATTN_AVX2_ROW(2), HALO_ATTN_AVX2_ROW(3),
                                         HALO_ATTN_AVX2_ROW(4), HALO_ATTN_AVX2_ROW(5), HALO_ATTN_AVX2_ROW(6)};
  const int64_t nv = (nc + 7) / 8;
  tab[R - 1][nv - 1][nc % 8 != 0](nc, K, A, ars, acs, B, ldb, C, ldc, acc);
}

// e^x in f32 (Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-7 polynomial, ~1 ulp); 0 below −87.3 (where
// 2^n leaves the normal range; e^−87.3 ≈ 1e−38 is far below anything a softmax row keeps), −∞ → 0.
HALO_AVX2 HALO_INLINE __m256 exp8f(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f);
  const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

HALO_AVX2 HALO_INLINE double hsum_pd(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// Σ of 8 floats into 4 doubles.
HALO_AVX2 HALO_INLINE __m256d add8_pd(__m256d acc, __m256 x) {
  return _mm256_add_pd(_mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(x))), _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
}

HALO_AVX2 float fwd_row_avx2(float* s, int64_t lo, int64_t hi, int64_t L, const float* bias, float scale, float* lse) {
  zero_outside(s, lo, hi, L);
  const __m256 sv = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(kNegInf);
  __m256 m = ninf;
  for (int64_t j = lo; j < hi; j += 8) {
    const __m256i k = tail_mask8(hi - j);
    __m256 x = _mm256_mul_ps(_mm256_maskload_ps(s + j, k), sv);
    if (bias) x = _mm256_add_ps(x, _mm256_maskload_ps(bias + j, k));
    _mm256_maskstore_ps(s + j, k, x);
    m = _mm256_max_ps(m, _mm256_blendv_ps(ninf, x, _mm256_castsi256_ps(k)));
  }
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  const float mx = _mm_cvtss_f32(h);
  if (mx == kNegInf) {
    std::fill(s + lo, s + std::max(lo, hi), 0.f);
    *lse = kNegInf;
    return 0.f;
  }
  const __m256 mv = _mm256_set1_ps(mx);
  __m256d acc = _mm256_setzero_pd();
  for (int64_t j = lo; j < hi; j += 8) {
    const __m256i k = tail_mask8(hi - j);
    const __m256 e = _mm256_and_ps(exp8f(_mm256_sub_ps(_mm256_maskload_ps(s + j, k), mv)), _mm256_castsi256_ps(k));
    _mm256_maskstore_ps(s + j, k, e);
    acc = add8_pd(acc, e);
  }
  const double sum = hsum_pd(acc);
  *lse = float(double(mx) + std::log(sum));
  return float(1.0 / sum);
}

HALO_AVX2 void bwd_row_avx2(float* s, float* dp, int64_t lo, int64_t hi, int64_t L, const float* bias, float scale, float lse) {
  if (lse == kNegInf || hi <= lo) {
    std::fill(s, s + L, 0.f);
    std::fill(dp, dp + L, 0.f);
    return;
  }
  zero_outside(s, lo, hi, L);
  zero_outside(dp, lo, hi, L);
  const __m256 sv = _mm256_set1_ps(scale), lv = _mm256_set1_ps(lse);
  __m256d acc = _mm256_setzero_pd();
  for (int64_t j = lo; j < hi; j += 8) {
    const __m256i k = tail_mask8(hi - j);
    __m256 x = _mm256_mul_ps(_mm256_maskload_ps(s + j, k), sv);
    if (bias) x = _mm256_add_ps(x, _mm256_maskload_ps(bias + j, k));
    const __m256 p = _mm256_and_ps(exp8f(_mm256_sub_ps(x, lv)), _mm256_castsi256_ps(k));
    _mm256_maskstore_ps(s + j, k, p);
    const __m256 d = _mm256_maskload_ps(dp + j, k);
    acc = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(p)), _mm256_cvtps_pd(_mm256_castps256_ps128(d)), acc);
    acc = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1)), acc);
  }
  const __m256 dv = _mm256_set1_ps(float(hsum_pd(acc)));
  for (int64_t j = lo; j < hi; j += 8) {
    const __m256i k = tail_mask8(hi - j);
    const __m256 p = _mm256_maskload_ps(s + j, k);
    const __m256 d = _mm256_maskload_ps(dp + j, k);
    _mm256_maskstore_ps(dp + j, k, _mm256_mul_ps(_mm256_mul_ps(sv, p), _mm256_sub_ps(d, dv)));
  }
}

// ---------------------------------------------------------------- AVX-512 path

template <int R, int NV, bool Masked>
HALO_AVX512 void tile_avx512_t(int64_t nc, int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C,
                               int64_t ldc, bool acc) {
  __m512 c[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) c[r][v] = _mm512_setzero_ps();
  const __mmask16 km = nn::tail16(nc - 16 * (NV - 1));
  for (int64_t k = 0; k < K; k++) {
    const float* b = B + k * ldb;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = Masked && v == NV - 1 ? _mm512_maskz_loadu_ps(km, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
    const float* a = A + k * acs;
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const __m512 av = _mm512_set1_ps(a[r * ars]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) c[r][v] = _mm512_fmadd_ps(av, bv[v], c[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float* p = C + r * ldc + 16 * v;
      const __mmask16 k = Masked && v == NV - 1 ? km : __mmask16(0xFFFF);
      _mm512_mask_storeu_ps(p, k, acc ? _mm512_add_ps(_mm512_maskz_loadu_ps(k, p), c[r][v]) : c[r][v]);
    }
  }
}

#define HALO_ATTN_AVX512_ROW(R)                                                                                          \
  {                                                                                                                      \
    {tile_avx512_t<R, 1, false>, tile_avx512_t<R, 1, true>}, {tile_avx512_t<R, 2, false>, tile_avx512_t<R, 2, true>},   \
        {tile_avx512_t<R, 3, false>, tile_avx512_t<R, 3, true>}, {tile_avx512_t<R, 4, false>, tile_avx512_t<R, 4, true>} \
  }

void tile_avx512(int R, int64_t nc, int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C,
                 int64_t ldc, bool acc) {
  using F = void (*)(int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, bool);
  static constexpr F tab[kRows][4][2] = {HALO_ATTN_AVX512_ROW(1), HALO_ATTN_AVX512_ROW(2), HALO_ATTN_AVX512_ROW(3),
                                         HALO_ATTN_AVX512_ROW(4), HALO_ATTN_AVX512_ROW(5), HALO_ATTN_AVX512_ROW(6)};
  const int64_t nv = (nc + 15) / 16;
  tab[R - 1][nv - 1][nc % 16 != 0](nc, K, A, ars, acs, B, ldb, C, ldc, acc);
}

// exp8f with AVX-512 (same clamps and polynomial, so both tiers give the same bits).
HALO_AVX512 HALO_INLINE __m512 exp16f(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3f);
  const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, n));
}

// Σ of 16 floats into 8 doubles.
HALO_AVX512 HALO_INLINE __m512d add16_pd(__m512d acc, __m512 x) {
  return _mm512_add_pd(_mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(x))), _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)));
}

HALO_AVX512 float fwd_row_avx512(float* s, int64_t lo, int64_t hi, int64_t L, const float* bias, float scale, float* lse) {
  using nn::tail16;
  zero_outside(s, lo, hi, L);
  const __m512 sv = _mm512_set1_ps(scale);
  __m512 m = _mm512_set1_ps(kNegInf);
  for (int64_t j = lo; j < hi; j += 16) {
    const __mmask16 k = tail16(hi - j);
    __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), sv);
    if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(k, bias + j));
    _mm512_mask_storeu_ps(s + j, k, x);
    m = _mm512_mask_max_ps(m, k, m, x);
  }
  const float mx = _mm512_reduce_max_ps(m);
  if (mx == kNegInf) {
    std::fill(s + lo, s + std::max(lo, hi), 0.f);
    *lse = kNegInf;
    return 0.f;
  }
  const __m512 mv = _mm512_set1_ps(mx);
  __m512d acc = _mm512_setzero_pd();
  for (int64_t j = lo; j < hi; j += 16) {
    const __mmask16 k = tail16(hi - j);
    const __m512 e = _mm512_maskz_mov_ps(k, exp16f(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), mv)));
    _mm512_mask_storeu_ps(s + j, k, e);
    acc = add16_pd(acc, e);
  }
  const double sum = _mm512_reduce_add_pd(acc);
  *lse = float(double(mx) + std::log(sum));
  return float(1.0 / sum);
}

HALO_AVX512 void bwd_row_avx512(float* s, float* dp, int64_t lo, int64_t hi, int64_t L, const float* bias, float scale, float lse) {
  using nn::tail16;
  if (lse == kNegInf || hi <= lo) {
    std::fill(s, s + L, 0.f);
    std::fill(dp, dp + L, 0.f);
    return;
  }
  zero_outside(s, lo, hi, L);
  zero_outside(dp, lo, hi, L);
  const __m512 sv = _mm512_set1_ps(scale), lv = _mm512_set1_ps(lse);
  __m512d acc = _mm512_setzero_pd();
  for (int64_t j = lo; j < hi; j += 16) {
    const __mmask16 k = tail16(hi - j);
    __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), sv);
    if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(k, bias + j));
    const __m512 p = _mm512_maskz_mov_ps(k, exp16f(_mm512_sub_ps(x, lv)));
    _mm512_mask_storeu_ps(s + j, k, p);
    const __m512 d = _mm512_maskz_loadu_ps(k, dp + j);
    acc = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(p)), _mm512_cvtps_pd(_mm512_castps512_ps256(d)), acc);
    acc = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(p, 1)), _mm512_cvtps_pd(_mm512_extractf32x8_ps(d, 1)), acc);
  }
  const __m512 dv = _mm512_set1_ps(float(_mm512_reduce_add_pd(acc)));
  for (int64_t j = lo; j < hi; j += 16) {
    const __mmask16 k = tail16(hi - j);
    const __m512 p = _mm512_maskz_loadu_ps(k, s + j);
    const __m512 d = _mm512_maskz_loadu_ps(k, dp + j);
    _mm512_mask_storeu_ps(dp + j, k, _mm512_mul_ps(_mm512_mul_ps(sv, p), _mm512_sub_ps(d, dv)));
  }
}

Tier tier_fns() {
  switch (kernel_tier()) {
    case 2: return {tile_avx512, 64, fwd_row_avx512, bwd_row_avx512};
    case 1: return {tile_avx2, 16, fwd_row_avx2, bwd_row_avx2};
    default: return {tile_base, 16, fwd_row_base, bwd_row_base};
  }
}

// ---------------------------------------------------------------- tiles (every tier)

struct Range {
  int64_t lo, hi;
};

// C[M, ·] (+)= A·B micro-tile by micro-tile; cols(m0, r) and ks(m0, r) give each row block's column and
// contraction ranges (what its rows can see); a block with an empty contraction is written as 0 (or skipped
// when accumulating).
template <class Cols, class Ks>
void product(const Tier& tr, int64_t M, Cols cols, Ks ks, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C,
             int64_t ldc, bool acc) {
  for (int64_t m0 = 0; m0 < M; m0 += kRows) {
    const int r = int(std::min<int64_t>(kRows, M - m0));
    const Range n = cols(m0, r), k = ks(m0, r);
    const int64_t K = std::max<int64_t>(0, k.hi - k.lo);
    if (acc && K == 0) continue;
    for (int64_t c0 = n.lo; c0 < n.hi; c0 += tr.colBlock) {
      tr.tile(r, std::min(tr.colBlock, n.hi - c0), K, A + m0 * ars + k.lo * acs, ars, acs, B + k.lo * ldb + c0, ldb, C + m0 * ldc + c0, ldc,
              acc);
    }
  }
}

// A multiple of 16 floats but an odd number of 64-byte lines: with a power-of-two row stride the rows of a
// panel or strip all fall into a few L1 sets (measured: 4× slower at T = 512).
int64_t padded(int64_t n) {
  const int64_t ld = (n + 15) / 16 * 16;
  return ld % 32 == 0 ? ld + 16 : ld;
}

struct Geo {
  int64_t B, T, Hq, Hkv, D, rep, W;  // W = 0: no window
  float scale;
  const float* bias;  // [B, T] 0 or −∞ per key, or null (no key mask)
  int64_t BQ = 1;     // query positions per tile
  int64_t ldS = 16;   // strip row stride (≥ every tile's key count)
  int64_t ldT = 16;   // row stride of the transposed panels [D, ldT]

  int64_t key_start(int64_t t0) const { return W ? std::max<int64_t>(0, t0 - W + 1) : 0; }
};

Geo geometry(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int64_t window, double scale, const float* bias) {
  Geo g{B, T, Hq, Hkv, D, Hq / Hkv, window >= T ? 0 : window, float(scale), bias};
  // ~64 rows per tile (dK/dV contract over them), as long as a thread's two strips [M, keys] stay within
  // ~512 KiB of L2.
  const int64_t target = std::max<int64_t>(1, (64 + g.rep / 2) / g.rep);
  auto keys = [&](int64_t bq) { return g.W ? std::min(T, g.W + bq - 1) : T; };
  g.BQ = std::min(T, target);
  while (g.BQ > 1 && g.BQ * g.rep * keys(g.BQ) > 65536) g.BQ = (g.BQ + 1) / 2;
  g.ldS = padded(keys(g.BQ));
  g.ldT = padded(T);
  return g;
}

// K and V of every (b, g) laid out once per call for the products: transposed panels [B·Hkv][D, ldT] (the
// B operand of Q·Kᵀ and dO·Vᵀ) and contiguous rows [B·Hkv][T, D] (of P·V and dS·K).
struct Panels {
  std::vector<float> kt, vt, krows, vrows;
};

void pack(const Geo& G, const float* src, float* t, float* rows, bool par) {
#pragma omp parallel for schedule(static) if (par)
  for (int64_t bg = 0; bg < G.B * G.Hkv; bg++) {
    const int64_t b = bg / G.Hkv, g = bg % G.Hkv;
    for (int64_t j = 0; j < G.T; j++) {
      const float* row = src + ((b * G.T + j) * G.Hkv + g) * G.D;
      if (rows) std::memcpy(rows + (bg * G.T + j) * G.D, row, size_t(G.D) * 4);
      if (t) {
        float* col = t + bg * G.D * G.ldT + j;
        for (int64_t d = 0; d < G.D; d++) col[d * G.ldT] = row[d];
      }
    }
  }
}

// The per-thread scratch of one query tile.
struct Scratch {
  float* S;    // [M, ldS] scores → P
  float* dP;   // [M, ldS] dO·Vᵀ → scale·dS (backward)
  float* Qt;   // [M, D] the tile's query rows
  float* dOt;  // [M, D] (backward)
  float* Ot;   // [M, D] O or dQ before scattering
  float* inv;  // [M]
};

size_t scratch_floats(const Geo& g) {
  const int64_t M = g.BQ * g.rep;
  return size_t(2 * M * g.ldS + 3 * M * g.D + M);
}

Scratch carve(const Geo& g, float* base) {
  const int64_t M = g.BQ * g.rep;
  Scratch s{};
  s.S = base, base += M * g.ldS;
  s.dP = base, base += M * g.ldS;
  s.Qt = base, base += M * g.D;
  s.dOt = base, base += M * g.D;
  s.Ot = base, base += M * g.D;
  s.inv = base;
  return s;
}

// One query tile: positions [t0, t1) of sequence b, kv head g, keys [kLo, t1).
struct TileGeo {
  int64_t b, g, t0, t1, kLo, L, M;
  TileGeo(const Geo& G, int64_t b_, int64_t g_, int64_t t0_) : b(b_), g(g_), t0(t0_) {
    t1 = std::min(G.T, t0 + G.BQ);
    kLo = G.key_start(t0);
    L = t1 - kLo;
    M = (t1 - t0) * G.rep;
  }
  int64_t bg(const Geo& G) const { return b * G.Hkv + g; }
};

// dst [M, D] ← rows (t, r) of src [B, T, Hq, D] for the tile's heads (rep consecutive heads per position).
void gather_rows(const Geo& G, const TileGeo& tg, const float* src, float* dst) {
  const int64_t w = G.rep * G.D;
  for (int64_t t = tg.t0; t < tg.t1; t++) std::memcpy(dst + (t - tg.t0) * w, src + ((tg.b * G.T + t) * G.Hq + tg.g * G.rep) * G.D, size_t(w) * 4);
}

// Strip coordinates of the keys row i sees: [lo, hi).
Range visible(const Geo& G, const TileGeo& tg, int64_t i) {
  const int64_t t = tg.t0 + i / G.rep;
  return {(G.W ? std::max(tg.kLo, t - G.W + 1) : tg.kLo) - tg.kLo, t - tg.kLo + 1};
}

// Keys any of rows [m0, m0 + r) sees (their union, in strip coordinates).
Range row_block_keys(const Geo& G, const TileGeo& tg, int64_t m0, int r) {
  return {visible(G, tg, m0).lo, visible(G, tg, m0 + r - 1).hi};
}

// Rows that see any of keys [j0, j0 + r) (strip coordinates).
Range key_block_rows(const Geo& G, const TileGeo& tg, int64_t j0, int r) {
  const int64_t first = std::max(tg.t0, tg.kLo + j0);  // the earliest position that sees key j0 (causal)
  const int64_t last = G.W ? std::min(tg.t1 - 1, tg.kLo + j0 + r - 1 + G.W - 1) : tg.t1 - 1;  // the last within the window
  if (last < first) return {0, 0};
  return {(first - tg.t0) * G.rep, (last - tg.t0 + 1) * G.rep};
}

// S [M, ldS] = Q·Kᵀ over the tile's keys (only the column blocks each row block can see); Kt: the head's panel.
void scores(const Tier& tr, const Geo& G, const TileGeo& tg, const float* Q, const float* Kt, float* S) {
  product(
      tr, tg.M, [&](int64_t m0, int r) { return row_block_keys(G, tg, m0, r); }, [&](int64_t, int) { return Range{0, G.D}; }, Q, G.D, 1,
      Kt + tg.bg(G) * G.D * G.ldT + tg.kLo, G.ldT, S, G.ldS, false);
}

// Ot [M, D] = A·rows over the keys each row block sees; A: a strip, rows: the head's contiguous K or V.
void strip_times_rows(const Tier& tr, const Geo& G, const TileGeo& tg, const float* A, const float* rows, float* Ot) {
  product(
      tr, tg.M, [&](int64_t, int) { return Range{0, G.D}; }, [&](int64_t m0, int r) { return row_block_keys(G, tg, m0, r); }, A, G.ldS, 1,
      rows + (tg.bg(G) * G.T + tg.kLo) * G.D, G.D, Ot, G.D, false);
}

void forward_tile(const Tier& tr, const Geo& G, const TileGeo& tg, const float* q, const Panels& pn, Scratch& s, float* out, float* lse) {
  gather_rows(G, tg, q, s.Qt);
  scores(tr, G, tg, s.Qt, pn.kt.data(), s.S);
  const float* bias = G.bias ? G.bias + tg.b * G.T + tg.kLo : nullptr;
  for (int64_t i = 0; i < tg.M; i++) {
    const Range vis = visible(G, tg, i);
    const int64_t t = tg.t0 + i / G.rep, h = tg.g * G.rep + i % G.rep;
    s.inv[i] = tr.fwdRow(s.S + i * G.ldS, vis.lo, vis.hi, tg.L, bias, G.scale, lse + (tg.b * G.Hq + h) * G.T + t);
  }
  strip_times_rows(tr, G, tg, s.S, pn.vrows.data(), s.Ot);  // unnormalized P·V
  for (int64_t i = 0; i < tg.M; i++) {
    const int64_t t = tg.t0 + i / G.rep, h = tg.g * G.rep + i % G.rep;
    float* o = out + ((tg.b * G.T + t) * G.Hq + h) * G.D;
    const float c = s.inv[i];
    for (int64_t d = 0; d < G.D; d++) o[d] = s.Ot[i * G.D + d] * c;
  }
}

// dkRows/dvRows + j·ldk receive key kLo + j's contributions.
void backward_tile(const Tier& tr, const Geo& G, const TileGeo& tg, const float* dout, const float* q, const float* lse, const Panels& pn,
                   Scratch& s, float* dq, float* dkRows, float* dvRows, int64_t ldk) {
  gather_rows(G, tg, q, s.Qt);
  gather_rows(G, tg, dout, s.dOt);
  scores(tr, G, tg, s.Qt, pn.kt.data(), s.S);
  scores(tr, G, tg, s.dOt, pn.vt.data(), s.dP);
  const float* bias = G.bias ? G.bias + tg.b * G.T + tg.kLo : nullptr;
  for (int64_t i = 0; i < tg.M; i++) {
    const Range vis = visible(G, tg, i);
    const int64_t t = tg.t0 + i / G.rep, h = tg.g * G.rep + i % G.rep;
    tr.bwdRow(s.S + i * G.ldS, s.dP + i * G.ldS, vis.lo, vis.hi, tg.L, bias, G.scale, lse[(tg.b * G.Hq + h) * G.T + t]);
  }
  strip_times_rows(tr, G, tg, s.dP, pn.krows.data(), s.Ot);  // dQ = dS·K: every key of these rows is in the strip
  for (int64_t i = 0; i < tg.M; i++) {
    const int64_t t = tg.t0 + i / G.rep, h = tg.g * G.rep + i % G.rep;
    std::memcpy(dq + ((tg.b * G.T + t) * G.Hq + h) * G.D, s.Ot + i * G.D, size_t(G.D) * 4);
  }
  // dK += dSᵀ·Q, dV += Pᵀ·dO: A is the strip read transposed (row stride 1, column stride ldS).
  auto rows = [&](int64_t j0, int r) { return key_block_rows(G, tg, j0, r); };
  auto all = [&](int64_t, int) { return Range{0, G.D}; };
  product(tr, tg.L, all, rows, s.dP, 1, G.ldS, s.Qt, G.D, dkRows, ldk, true);
  product(tr, tg.L, all, rows, s.S, 1, G.ldS, s.dOt, G.D, dvRows, ldk, true);
}

std::vector<float> key_bias(const uint8_t* mask, int64_t n) {
  std::vector<float> b;
  if (!mask) return b;
  b.resize(size_t(n));
  for (int64_t i = 0; i < n; i++) b[size_t(i)] = mask[i] ? 0.f : kNegInf;
  return b;
}

// Small calls run on the calling thread (waking OpenMP workers costs more than the work).
bool parallel_worth(const Geo& G) { return G.B * G.Hq * G.T * std::min(G.T, G.W ? G.W : G.T) * G.D >= (int64_t(1) << 20); }

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, const uint8_t* keyMask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv,
                       int64_t D, int64_t window, double scale, float* out, float* lse) {
  const std::vector<float> bias = key_bias(keyMask, B * T);
  const Geo G = geometry(B, T, Hq, Hkv, D, window, scale, bias.empty() ? nullptr : bias.data());
  const Tier tr = tier_fns();
  const int64_t nT = (T + G.BQ - 1) / G.BQ, pairs = B * Hkv, items = pairs * nT;
  const bool par = parallel_worth(G) && items > 1;
  const int nth = par ? omp_get_max_threads() : 1;
  Panels pn;
  pn.kt.resize(size_t(pairs * D * G.ldT));
  pn.vrows.resize(size_t(pairs * T * D));
  pack(G, k, pn.kt.data(), nullptr, par);
  pack(G, v, nullptr, pn.vrows.data(), par);
  const size_t per = scratch_floats(G);
  std::vector<float> scratch(per * size_t(nth));
#pragma omp parallel num_threads(nth) if (par)
  {
    Scratch s = carve(G, scratch.data() + per * size_t(omp_get_thread_num()));
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
      // Heaviest (last) tiles first, so the dynamic schedule ends on short ones.
      const int64_t tile = nT - 1 - it / pairs, bg = it % pairs;
      forward_tile(tr, G, TileGeo(G, bg / Hkv, bg % Hkv, tile * G.BQ), q, pn, s, out, lse);
    }
  }
}

void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* lse, const uint8_t* keyMask, int64_t B,
                        int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int64_t window, double scale, float* dq, float* dk, float* dv) {
  const std::vector<float> bias = key_bias(keyMask, B * T);
  const Geo G = geometry(B, T, Hq, Hkv, D, window, scale, bias.empty() ? nullptr : bias.data());
  const Tier tr = tier_fns();
  const int64_t nT = (T + G.BQ - 1) / G.BQ, pairs = B * Hkv;
  const bool par = parallel_worth(G) && (pairs > 1 || nT > 1);
  const int nth = par ? omp_get_max_threads() : 1;
  // Query chunks per (b, g): one (dK/dV straight into the output) when the pairs alone keep every thread
  // busy; else about 2·threads items in all, cut where the causal work (keys seen per tile) is equal.
  int64_t nc = pairs >= 2 * nth ? 1 : std::min(nT, (2 * nth + pairs - 1) / pairs);
  std::vector<int64_t> cut{0};  // chunk c = tiles [cut[c], cut[c+1])
  if (nc > 1) {
    std::vector<double> work(size_t(nT) + 1, 0.0);
    for (int64_t i = 0; i < nT; i++) {
      const TileGeo tg(G, 0, 0, i * G.BQ);
      work[size_t(i) + 1] = work[size_t(i)] + double(tg.L) * double(tg.t1 - tg.t0);
    }
    for (int64_t c = 1; c < nc; c++) {
      int64_t i = cut.back() + 1;
      while (i < nT && work[size_t(i)] < work[size_t(nT)] * double(c) / double(nc)) i++;
      if (i < nT) cut.push_back(i);
    }
    nc = int64_t(cut.size());
  }
  cut.push_back(nT);
  // Chunk c's dK/dV rows cover keys [keyLo[c], keyHi[c]); per pair: all chunks' dK rows, then their dV rows.
  const size_t ncs = static_cast<size_t>(nc);
  std::vector<int64_t> keyLo(ncs), keyHi(ncs), off(ncs + 1, 0);
  for (size_t c = 0; c < ncs; c++) {
    keyLo[c] = G.key_start(cut[c] * G.BQ);
    keyHi[c] = std::min(T, cut[c + 1] * G.BQ);
    off[c + 1] = off[c] + (keyHi[c] - keyLo[c]) * D;
  }
  const int64_t perPair = 2 * off[ncs];
  std::vector<float> acc(nc > 1 ? size_t(perPair * pairs) : 0, 0.f);
  Panels pn;
  pn.kt.resize(size_t(pairs * D * G.ldT));
  pn.vt.resize(size_t(pairs * D * G.ldT));
  pn.krows.resize(size_t(pairs * T * D));
  pack(G, k, pn.kt.data(), pn.krows.data(), par);
  pack(G, v, pn.vt.data(), nullptr, par);
  const size_t per = scratch_floats(G);
  std::vector<float> scratch(per * size_t(nth));
  const int64_t items = pairs * nc;
#pragma omp parallel num_threads(nth) if (par)
  {
    Scratch s = carve(G, scratch.data() + per * size_t(omp_get_thread_num()));
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
      const int64_t c = nc - 1 - it / pairs, bg = it % pairs, b = bg / Hkv, g = bg % Hkv;
      float *dkRows, *dvRows;
      int64_t ldk;
      if (nc == 1) {
        ldk = Hkv * D;
        dkRows = dk + (b * T * Hkv + g) * D;
        dvRows = dv + (b * T * Hkv + g) * D;
        for (int64_t j = 0; j < T; j++) {
          std::fill(dkRows + j * ldk, dkRows + j * ldk + D, 0.f);
          std::fill(dvRows + j * ldk, dvRows + j * ldk + D, 0.f);
        }
      } else {
        ldk = D;
        dkRows = acc.data() + bg * perPair + off[size_t(c)];
        dvRows = dkRows + off[ncs];
      }
      for (int64_t i = cut[size_t(c)]; i < cut[size_t(c) + 1]; i++) {
        const TileGeo tg(G, b, g, i * G.BQ);
        const int64_t at = (tg.kLo - (nc == 1 ? 0 : keyLo[size_t(c)])) * ldk;
        backward_tile(tr, G, tg, dout, q, lse, pn, s, dq, dkRows + at, dvRows + at, ldk);
      }
    }
  }
  if (nc == 1) return;
  // dK/dV = Σ over the chunks that saw each key, in chunk order.
#pragma omp parallel for schedule(static) num_threads(nth) if (par)
  for (int64_t row = 0; row < pairs * T; row++) {
    const int64_t bg = row / T, j = row % T, b = bg / Hkv, g = bg % Hkv;
    float* ko = dk + ((b * T + j) * Hkv + g) * D;
    float* vo = dv + ((b * T + j) * Hkv + g) * D;
    std::fill(ko, ko + D, 0.f);
    std::fill(vo, vo + D, 0.f);
    for (size_t c = 0; c < ncs; c++) {
      if (j < keyLo[c] || j >= keyHi[c]) continue;
      const float* ka = acc.data() + bg * perPair + off[c] + (j - keyLo[c]) * D;
      const float* va = ka + off[ncs];
      for (int64_t d = 0; d < D; d++) {
        ko[d] += ka[d];
        vo[d] += va[d];
      }
    }
  }
}

}  // namespace halo
