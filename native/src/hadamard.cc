// Hadamard rotations. Per diagonal block of length block = K·m (m a power of two), viewed as [K, m]:
//   1. an unnormalised fast Walsh–Hadamard transform over each of the K chunks, butterfly strides 1, 2, 4, …;
//   2. the chunks mixed by the ±1 matrix hadK (coef_), accumulated from 0 in order l = 0, 1, …, K−1;
//   3. everything scaled by s = fround(1/√block).
// These are exactly the operations, in exactly the order, of src/hadamard/transform.ts, each rounded once
// to f32 (fma(±1, t, acc) rounds acc ± t once), so results are bit-identical to the TypeScript reference.
// The AVX-512 path does the four butterfly stages inside a 16-float vector with lane permutes, and the
// remaining stages three at a time (radix-8 passes: 8 vectors loaded, 3 stages in registers, stored), so a
// 4096-long row takes 1 + 3 passes over L1. Left rotations run the same passes with "vectors" that are
// 16-column panels of rows. The portable path is the same algorithm in plain loops (also compiled for AVX2).
// Built with -ffp-contract=off: a fused multiply-add would change the rounding.
#include "hadamard.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu_features.h"

// GCC 12's AVX-512 headers build some intrinsics from _mm512_undefined_*(), which -Wall reports as
// "used uninitialized" once inlined here; the values are fully overwritten, so silence that noise.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

constexpr int64_t kPanel = 16;

int ilog2(int64_t v) { return 63 - __builtin_clzll(uint64_t(v)); }

// ---------------------------------------------------------------- portable path (plain loops)

HALO_INLINE void g_fwht_contig(float* p, int64_t m) {
  for (int64_t h = 1; h < m; h <<= 1)
    for (int64_t i = 0; i < m; i += 2 * h)
      for (int64_t j = i; j < i + h; j++) {
        const float a = p[j], b = p[j + h];
        p[j] = a + b;
        p[j + h] = a - b;
      }
}

// Elements are w-wide rows at stride ld: element i = p[i*ld .. i*ld+w).
HALO_INLINE void g_fwht_rows(float* p, int64_t m, int64_t ld, int64_t w) {
  for (int64_t h = 1; h < m; h <<= 1)
    for (int64_t i = 0; i < m; i += 2 * h)
      for (int64_t j = i; j < i + h; j++) {
        float* a = p + j * ld;
        float* b = p + (j + h) * ld;
        for (int64_t c = 0; c < w; c++) {
          const float x = a[c], y = b[c];
          a[c] = x + y;
          b[c] = x - y;
        }
      }
}

// out chunk k = scale·Σ_l coef[k,l]·chunk l, for nj groups of w contiguous floats (group j at p + j*strideJ,
// chunk l at + l*strideL). tmp: K*w floats.
HALO_INLINE void g_mix(float* p, int64_t K, int64_t strideL, int64_t nj, int64_t strideJ, int64_t w, const float* coef,
                       float scale, float* tmp) {
  for (int64_t j = 0; j < nj; j++) {
    float* q = p + j * strideJ;
    for (int64_t l = 0; l < K; l++)
      for (int64_t c = 0; c < w; c++) tmp[l * w + c] = q[l * strideL + c];
    for (int64_t k = 0; k < K; k++) {
      float acc[kPanel] = {0};
      for (int64_t l = 0; l < K; l++) {
        const float cf = coef[k * K + l];
        for (int64_t c = 0; c < w; c++) acc[c] += cf * tmp[l * w + c];
      }
      for (int64_t c = 0; c < w; c++) q[k * strideL + c] = acc[c] * scale;
    }
  }
}

HALO_INLINE void g_scale(float* p, int64_t n, float s) {
  for (int64_t i = 0; i < n; i++) p[i] *= s;
}

HALO_INLINE void g_right_rows(const HadPlan& pl, const float* coef, float scale, const float* src, float* dst, int64_t nrows,
                              int64_t ldS, int64_t ldD, float* tmp) {
  const int64_t m = pl.pow2, K = pl.K, n = pl.n, block = pl.block;
  const int64_t w = std::min<int64_t>(m, kPanel), nj = m / w;
  for (int64_t r = 0; r < nrows; r++) {
    float* d = dst + r * ldD;
    if (d != src + r * ldS) std::memcpy(d, src + r * ldS, size_t(n) * 4);
    for (int64_t b0 = 0; b0 < n; b0 += block) {
      float* p = d + b0;
      for (int64_t l = 0; l < K; l++) g_fwht_contig(p + l * m, m);
      if (K > 1) g_mix(p, K, m, nj, w, w, coef, scale, tmp);
      else g_scale(p, block, scale);
    }
  }
}

HALO_INLINE void g_left_panel(const HadPlan& pl, const float* coef, float scale, const float* src, float* dst, int64_t ldS,
                              int64_t ldD, int64_t width, float* tmp) {
  const int64_t m = pl.pow2, K = pl.K, n = pl.n, block = pl.block;
  if (src != dst)
    for (int64_t r = 0; r < n; r++)
      for (int64_t c = 0; c < width; c++) dst[r * ldD + c] = src[r * ldS + c];
  for (int64_t c0 = 0; c0 < width; c0 += kPanel) {
    const int64_t w = std::min(kPanel, width - c0);
    for (int64_t b0 = 0; b0 < n; b0 += block) {
      float* p = dst + b0 * ldD + c0;
      for (int64_t l = 0; l < K; l++) g_fwht_rows(p + l * m * ldD, m, ldD, w);
      if (K > 1) g_mix(p, K, m * ldD, m, ldD, w, coef, scale, tmp);
      else
        for (int64_t r = 0; r < block; r++) g_scale(p + r * ldD, w, scale);
    }
  }
}

__attribute__((flatten)) void right_rows_base(const HadPlan& pl, const float* coef, float scale, const float* src, float* dst,
                                              int64_t nrows, int64_t ldS, int64_t ldD, float* tmp) {
  g_right_rows(pl, coef, scale, src, dst, nrows, ldS, ldD, tmp);
}
HALO_AVX2 __attribute__((flatten)) void right_rows_avx2(const HadPlan& pl, const float* coef, float scale, const float* src,
                                                        float* dst, int64_t nrows, int64_t ldS, int64_t ldD, float* tmp) {
  g_right_rows(pl, coef, scale, src, dst, nrows, ldS, ldD, tmp);
}
__attribute__((flatten)) void left_panel_base(const HadPlan& pl, const float* coef, float scale, const float* src, float* dst,
                                              int64_t ldS, int64_t ldD, int64_t w, float* tmp) {
  g_left_panel(pl, coef, scale, src, dst, ldS, ldD, w, tmp);
}
HALO_AVX2 __attribute__((flatten)) void left_panel_avx2(const HadPlan& pl, const float* coef, float scale, const float* src,
                                                        float* dst, int64_t ldS, int64_t ldD, int64_t w, float* tmp) {
  g_left_panel(pl, coef, scale, src, dst, ldS, ldD, w, tmp);
}

// ---------------------------------------------------------------- AVX-512 path

HALO_AVX512 HALO_INLINE void bfly(__m512& a, __m512& b) {
  const __m512 t = a;
  a = _mm512_add_ps(t, b);
  b = _mm512_sub_ps(t, b);
}

// The four butterfly stages inside one 16-float vector (strides 1, 2, 4, 8): lane i pairs with lane i^s;
// the lower lane gets x + partner, the upper lane partner − x.
HALO_AVX512 HALO_INLINE __m512 fwht16(__m512 x) {
  __m512 p = _mm512_permute_ps(x, 0xB1);
  x = _mm512_mask_sub_ps(_mm512_add_ps(x, p), 0xAAAA, p, x);
  p = _mm512_permute_ps(x, 0x4E);
  x = _mm512_mask_sub_ps(_mm512_add_ps(x, p), 0xCCCC, p, x);
  p = _mm512_shuffle_f32x4(x, x, 0xB1);
  x = _mm512_mask_sub_ps(_mm512_add_ps(x, p), 0xF0F0, p, x);
  p = _mm512_shuffle_f32x4(x, x, 0x4E);
  x = _mm512_mask_sub_ps(_mm512_add_ps(x, p), 0xFF00, p, x);
  return x;
}

// One radix-2^R pass: stages s..s+R-1 over `count` vector elements (element i at src + i*ldS).
template <int R>
HALO_AVX512 HALO_INLINE void pass512(const float* src, float* dst, int64_t count, int64_t ldS, int64_t ldD, int s,
                                     __mmask16 mask, bool doScale, __m512 scale) {
  constexpr int V = 1 << R;
  const int64_t h = int64_t(1) << s, span = h << R;
  for (int64_t g = 0; g < count; g += span) {
    for (int64_t j = 0; j < h; j++) {
      const float* a = src + (g + j) * ldS;
      float* o = dst + (g + j) * ldD;
      __m512 v[V];
      for (int t = 0; t < V; t++) v[t] = _mm512_maskz_loadu_ps(mask, a + t * h * ldS);
      for (int st = 0; st < R; st++)
        for (int t = 0; t < V; t++)
          if (!(t & (1 << st))) bfly(v[t], v[t + (1 << st)]);
      if (doScale)
        for (int t = 0; t < V; t++) v[t] = _mm512_mul_ps(v[t], scale);
      for (int t = 0; t < V; t++) _mm512_mask_storeu_ps(o + t * h * ldD, mask, v[t]);
    }
  }
}

// Full FWHT over `count` (power of two) vector elements, src → dst; the last pass multiplies by `scale`.
HALO_AVX512 HALO_INLINE void fwht_vectors(const float* src, float* dst, int64_t count, int64_t ldS, int64_t ldD, __mmask16 mask,
                                          bool doScale, float scale) {
  const int stages = ilog2(count);
  const __m512 sv = _mm512_set1_ps(scale);
  if (stages == 0) {
    __m512 v = _mm512_maskz_loadu_ps(mask, src);
    _mm512_mask_storeu_ps(dst, mask, doScale ? _mm512_mul_ps(v, sv) : v);
    return;
  }
  int s = 0;
  while (s < stages) {
    const int r = std::min(3, stages - s);
    const bool last = s + r == stages;
    const float* from = s == 0 ? src : dst;
    const int64_t ldFrom = s == 0 ? ldS : ldD;
    if (r == 3) pass512<3>(from, dst, count, ldFrom, ldD, s, mask, last && doScale, sv);
    else if (r == 2) pass512<2>(from, dst, count, ldFrom, ldD, s, mask, last && doScale, sv);
    else pass512<1>(from, dst, count, ldFrom, ldD, s, mask, last && doScale, sv);
    s += r;
  }
}

// Chunk mixing (see g_mix); 4 groups at a time so each broadcast coefficient feeds 4 FMAs. tmp: K*4 vectors.
HALO_AVX512 HALO_INLINE void mix512(float* p, int64_t K, int64_t strideL, int64_t nj, int64_t strideJ, __mmask16 mask,
                                    const float* coef, float scale, __m512* tmp) {
  const __m512 sv = _mm512_set1_ps(scale);
  int64_t j = 0;
  for (; j + 4 <= nj; j += 4) {
    float* q = p + j * strideJ;
    for (int64_t l = 0; l < K; l++)
      for (int u = 0; u < 4; u++) tmp[l * 4 + u] = _mm512_maskz_loadu_ps(mask, q + u * strideJ + l * strideL);
    for (int64_t k = 0; k < K; k++) {
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      const float* ck = coef + k * K;
      for (int64_t l = 0; l < K; l++) {
        const __m512 c = _mm512_set1_ps(ck[l]);
        a0 = _mm512_fmadd_ps(c, tmp[l * 4 + 0], a0);
        a1 = _mm512_fmadd_ps(c, tmp[l * 4 + 1], a1);
        a2 = _mm512_fmadd_ps(c, tmp[l * 4 + 2], a2);
        a3 = _mm512_fmadd_ps(c, tmp[l * 4 + 3], a3);
      }
      float* o = q + k * strideL;
      _mm512_mask_storeu_ps(o, mask, _mm512_mul_ps(a0, sv));
      _mm512_mask_storeu_ps(o + strideJ, mask, _mm512_mul_ps(a1, sv));
      _mm512_mask_storeu_ps(o + 2 * strideJ, mask, _mm512_mul_ps(a2, sv));
      _mm512_mask_storeu_ps(o + 3 * strideJ, mask, _mm512_mul_ps(a3, sv));
    }
  }
  for (; j < nj; j++) {
    float* q = p + j * strideJ;
    for (int64_t l = 0; l < K; l++) tmp[l] = _mm512_maskz_loadu_ps(mask, q + l * strideL);
    for (int64_t k = 0; k < K; k++) {
      __m512 a0 = _mm512_setzero_ps();
      for (int64_t l = 0; l < K; l++) a0 = _mm512_fmadd_ps(_mm512_set1_ps(coef[k * K + l]), tmp[l], a0);
      _mm512_mask_storeu_ps(q + k * strideL, mask, _mm512_mul_ps(a0, sv));
    }
  }
}

HALO_AVX512 __attribute__((flatten)) void right_rows_avx512(const HadPlan& pl, const float* coef, float scale, const float* src,
                                                            float* dst, int64_t nrows, int64_t ldS, int64_t ldD, float* tmp) {
  const int64_t m = pl.pow2, K = pl.K, n = pl.n, block = pl.block;
  if (m < kPanel) {  // tiny chunks (m ≤ 8): the plain loops, vectorised by the compiler where possible
    g_right_rows(pl, coef, scale, src, dst, nrows, ldS, ldD, tmp);
    return;
  }
  const int64_t nv = m / kPanel;
  const bool scaleHere = K == 1;
  const __m512 sv = _mm512_set1_ps(scale);
  for (int64_t r = 0; r < nrows; r++) {
    const float* s = src + r * ldS;
    float* d = dst + r * ldD;
    for (int64_t b0 = 0; b0 < n; b0 += block) {
      for (int64_t l = 0; l < K; l++) {
        const float* sc = s + b0 + l * m;
        float* dc = d + b0 + l * m;
        const bool lastHere = nv == 1 && scaleHere;
        for (int64_t v = 0; v < nv; v++) {
          __m512 x = fwht16(_mm512_loadu_ps(sc + v * kPanel));
          if (lastHere) x = _mm512_mul_ps(x, sv);
          _mm512_storeu_ps(dc + v * kPanel, x);
        }
        if (nv > 1) fwht_vectors(dc, dc, nv, kPanel, kPanel, 0xFFFF, scaleHere, scale);
      }
      if (K > 1) mix512(d + b0, K, m, nv, kPanel, 0xFFFF, coef, scale, reinterpret_cast<__m512*>(tmp));
    }
  }
}

HALO_AVX512 __attribute__((flatten)) void left_panel_avx512(const HadPlan& pl, const float* coef, float scale, const float* src,
                                                            float* dst, int64_t ldS, int64_t ldD, int64_t width, float* tmp) {
  const int64_t m = pl.pow2, K = pl.K, n = pl.n, block = pl.block;
  if (src != dst)
    for (int64_t r = 0; r < n; r++)
      for (int64_t c = 0; c < width; c += kPanel) {
        const __mmask16 k = __mmask16(width - c >= kPanel ? 0xFFFF : (1u << (width - c)) - 1);
        _mm512_mask_storeu_ps(dst + r * ldD + c, k, _mm512_maskz_loadu_ps(k, src + r * ldS + c));
      }
  const bool scaleHere = K == 1;
  for (int64_t c0 = 0; c0 < width; c0 += kPanel) {
    const int64_t w = std::min(kPanel, width - c0);
    const __mmask16 mask = __mmask16(w == kPanel ? 0xFFFF : (1u << w) - 1);
    for (int64_t b0 = 0; b0 < n; b0 += block)
      for (int64_t l = 0; l < K; l++) {
        float* p = dst + (b0 + l * m) * ldD + c0;
        fwht_vectors(p, p, m, ldD, ldD, mask, scaleHere, scale);
      }
    if (K > 1)
      for (int64_t b0 = 0; b0 < n; b0 += block)
        mix512(dst + b0 * ldD + c0, K, m * ldD, m, ldD, mask, coef, scale, reinterpret_cast<__m512*>(tmp));
  }
}

// Scratch for the chunk mixing: K*4 vectors of 16 floats, 64-byte aligned, one per thread.
struct alignas(64) Line {
  float f[16];
};
float* mix_scratch(int64_t K) {
  static thread_local std::vector<Line> buf;  // over-aligned element type: C++17 aligned new
  if (buf.size() < size_t(K * 4)) buf.resize(size_t(K * 4));
  return buf.data()->f;
}

}  // namespace

void check_plan(const HadPlan& p, int64_t dim, const char* what) {
  auto bad = [&](const std::string& why) { throw ArgError(std::string(what) + ": invalid Hadamard plan (" + why + ")"); };
  if (p.n != dim) bad("plan.n = " + std::to_string(p.n) + " but the rotated dimension is " + std::to_string(dim));
  if (p.block <= 0 || p.K <= 0 || p.pow2 <= 0) bad("block, K and pow2 must be positive");
  if ((p.pow2 & (p.pow2 - 1)) != 0) bad("pow2 = " + std::to_string(p.pow2) + " is not a power of two");
  if (p.block != p.K * p.pow2) bad("block must equal K·pow2");
  if (p.n % p.block != 0) bad("n = " + std::to_string(p.n) + " is not a multiple of block = " + std::to_string(p.block));
  if (p.K > 1 && p.hadK == nullptr) bad("K > 1 needs the K×K matrix hadK");
}

HadKernel::HadKernel(const HadPlan& plan) : plan_(plan), scale_(float(1.0 / std::sqrt(double(plan.block)))), tier_(kernel_tier()) {
  const int64_t K = plan.K;
  if (K > 1) {
    coef_.resize(size_t(K * K));
    for (int64_t k = 0; k < K; k++)
      for (int64_t l = 0; l < K; l++) coef_[k * K + l] = float(plan.transpose ? plan.hadK[l * K + k] : plan.hadK[k * K + l]);
  }
}

void HadKernel::right_rows(const float* src, float* dst, int64_t nrows, int64_t ldSrc, int64_t ldDst) const {
  float* tmp = mix_scratch(plan_.K);
  if (tier_ == 2) right_rows_avx512(plan_, coef_.data(), scale_, src, dst, nrows, ldSrc, ldDst, tmp);
  else if (tier_ == 1) right_rows_avx2(plan_, coef_.data(), scale_, src, dst, nrows, ldSrc, ldDst, tmp);
  else right_rows_base(plan_, coef_.data(), scale_, src, dst, nrows, ldSrc, ldDst, tmp);
}

int64_t HadKernel::panel_width(int64_t rows) {
  int64_t w = kMaxPanel;
  while (w > kPanel && rows * w > (int64_t(1) << 17)) w /= 2;
  return w;
}

void HadKernel::left_panel(const float* src, float* dst, int64_t ldSrc, int64_t ldDst, int64_t width) const {
  float* tmp = mix_scratch(plan_.K);
  if (tier_ == 2) left_panel_avx512(plan_, coef_.data(), scale_, src, dst, ldSrc, ldDst, width, tmp);
  else if (tier_ == 1) left_panel_avx2(plan_, coef_.data(), scale_, src, dst, ldSrc, ldDst, width, tmp);
  else left_panel_base(plan_, coef_.data(), scale_, src, dst, ldSrc, ldDst, width, tmp);
}

void hadamard_rotate(const float* x, float* out, int64_t rows, int64_t cols, Side side, const HadPlan& plan) {
  if (rows <= 0 || cols <= 0) return;
  if (side == Side::right) {
    check_plan(plan, cols, "rotate (right)");
    const HadKernel k(plan);
    constexpr int64_t kRows = 4;
    const int64_t tasks = (rows + kRows - 1) / kRows;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 14))
    for (int64_t t = 0; t < tasks; t++) {
      const int64_t r0 = t * kRows, nr = std::min(kRows, rows - r0);
      k.right_rows(x + r0 * cols, out + r0 * cols, nr, cols, cols);
    }
  } else if (side == Side::left) {
    check_plan(plan, rows, "rotate (left)");
    const HadKernel k(plan);
    const int64_t W = HadKernel::panel_width(rows);
    const int64_t panels = (cols + W - 1) / W;
#pragma omp parallel if (rows * cols > (1 << 14))
    {
      static thread_local std::vector<float> buf;
      if (buf.size() < size_t(rows * W)) buf.resize(size_t(rows * W));
      float* b = buf.data();
#pragma omp for schedule(static)
      for (int64_t t = 0; t < panels; t++) {
        const int64_t c0 = t * W, w = std::min(W, cols - c0);
        k.left_panel(x + c0, b, cols, W, w);
        for (int64_t r = 0; r < rows; r++) std::memcpy(out + r * cols + c0, b + r * W, size_t(w) * 4);
      }
    }
  } else {
    throw ArgError("rotate: side must be right or left");
  }
}

}  // namespace halo
