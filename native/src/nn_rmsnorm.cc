// RMSNorm forward/backward (src/nn/ops/rmsnorm.ts), rows split across threads. Every expression is the
// reference's, in double, in its order (e.g. y = w·(x·r), dx = (r·w)·dy − x·k), rounded to f32 once; the
// row sums Σx² and Σ dy·w·x are double too, summed in 8 lanes. dw is accumulated by column ranges (one per
// thread), each walking the rows in order with one f32 rounding per row, exactly like the reference's
// `dw[c] += …` — so threads never share a dw element and the result is bit-identical.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_features.h"
#include "nn.h"
#include "nn_math.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

using nn::kParallelMin;

// ---------------------------------------------------------------- portable path (also compiled for AVX2)

HALO_INLINE void g_fwd_row(const float* x, const float* w, int64_t C, double eps, float* y, float* rstd) {
  double ss = 0;
  for (int64_t c = 0; c < C; c++) ss += double(x[c]) * double(x[c]);
  const double r = 1.0 / std::sqrt(ss / double(C) + eps);
  *rstd = float(r);
  for (int64_t c = 0; c < C; c++) y[c] = float(double(w[c]) * (double(x[c]) * r));
}

HALO_INLINE void g_bwd_dx_row(const float* dy, const float* x, const float* w, double r, int64_t C, float* dx) {
  double dot = 0;
  for (int64_t c = 0; c < C; c++) dot += double(dy[c]) * double(w[c]) * double(x[c]);
  const double k = (r * r * r * dot) / double(C);
  for (int64_t c = 0; c < C; c++) dx[c] = float(r * double(w[c]) * double(dy[c]) - double(x[c]) * k);
}

// dw[c0, c1) += rows in order.
HALO_INLINE void g_bwd_dw_cols(const float* dy, const float* x, const float* rstd, int64_t N, int64_t C, int64_t c0,
                               int64_t c1, float* dw) {
  for (int64_t n = 0; n < N; n++) {
    const double r = rstd[n];
    const float* d = dy + n * C;
    const float* xr = x + n * C;
    for (int64_t c = c0; c < c1; c++) dw[c] = float(double(dw[c]) + double(d[c]) * double(xr[c]) * r);
  }
}

void fwd_row_base(const float* x, const float* w, int64_t C, double eps, float* y, float* rstd) { g_fwd_row(x, w, C, eps, y, rstd); }
HALO_AVX2 void fwd_row_avx2(const float* x, const float* w, int64_t C, double eps, float* y, float* rstd) { g_fwd_row(x, w, C, eps, y, rstd); }
void bwd_dx_row_base(const float* dy, const float* x, const float* w, double r, int64_t C, float* dx) { g_bwd_dx_row(dy, x, w, r, C, dx); }
HALO_AVX2 void bwd_dx_row_avx2(const float* dy, const float* x, const float* w, double r, int64_t C, float* dx) {
  g_bwd_dx_row(dy, x, w, r, C, dx);
}
void bwd_dw_base(const float* dy, const float* x, const float* rstd, int64_t N, int64_t C, int64_t c0, int64_t c1, float* dw) {
  g_bwd_dw_cols(dy, x, rstd, N, C, c0, c1, dw);
}
HALO_AVX2 void bwd_dw_avx2(const float* dy, const float* x, const float* rstd, int64_t N, int64_t C, int64_t c0, int64_t c1, float* dw) {
  g_bwd_dw_cols(dy, x, rstd, N, C, c0, c1, dw);
}

// ---------------------------------------------------------------- AVX-512 path

HALO_AVX512 void fwd_row_avx512(const float* x, const float* w, int64_t C, double eps, float* y, float* rstd) {
  using namespace nn;
  __m512d a0 = _mm512_setzero_pd(), a1 = a0;
  int64_t c = 0;
  for (; c + 16 <= C; c += 16) {
    const __m512d u = load8(x + c), v = load8(x + c + 8);
    a0 = _mm512_add_pd(a0, _mm512_mul_pd(u, u));
    a1 = _mm512_add_pd(a1, _mm512_mul_pd(v, v));
  }
  for (; c < C; c += 8) {
    const __m512d u = load8(x + c, tail8(C - c));
    a0 = _mm512_add_pd(a0, _mm512_mul_pd(u, u));
  }
  const double r = 1.0 / std::sqrt(hsum8(_mm512_add_pd(a0, a1)) / double(C) + eps);
  *rstd = float(r);
  const __m512d rv = _mm512_set1_pd(r);
  for (c = 0; c < C; c += 8) {
    const __mmask8 k = tail8(C - c);
    store8(y + c, _mm512_mul_pd(load8(w + c, k), _mm512_mul_pd(load8(x + c, k), rv)), k);
  }
}

HALO_AVX512 void bwd_dx_row_avx512(const float* dy, const float* x, const float* w, double r, int64_t C, float* dx) {
  using namespace nn;
  __m512d a0 = _mm512_setzero_pd(), a1 = a0;
  int64_t c = 0;
  for (; c + 16 <= C; c += 16) {
    a0 = _mm512_add_pd(a0, _mm512_mul_pd(_mm512_mul_pd(load8(dy + c), load8(w + c)), load8(x + c)));
    a1 = _mm512_add_pd(a1, _mm512_mul_pd(_mm512_mul_pd(load8(dy + c + 8), load8(w + c + 8)), load8(x + c + 8)));
  }
  for (; c < C; c += 8) {
    const __mmask8 k = tail8(C - c);
    a0 = _mm512_add_pd(a0, _mm512_mul_pd(_mm512_mul_pd(load8(dy + c, k), load8(w + c, k)), load8(x + c, k)));
  }
  const double dot = hsum8(_mm512_add_pd(a0, a1));
  const __m512d kv = _mm512_set1_pd((r * r * r * dot) / double(C)), rv = _mm512_set1_pd(r);
  for (c = 0; c < C; c += 8) {
    const __mmask8 k = tail8(C - c);
    const __m512d a = _mm512_mul_pd(_mm512_mul_pd(rv, load8(w + c, k)), load8(dy + c, k));
    store8(dx + c, _mm512_sub_pd(a, _mm512_mul_pd(load8(x + c, k), kv)), k);
  }
}

HALO_AVX512 void bwd_dw_avx512(const float* dy, const float* x, const float* rstd, int64_t N, int64_t C, int64_t c0, int64_t c1,
                               float* dw) {
  using namespace nn;
  // Rows outer, the thread's columns inner: contiguous reads of dy and x, dw[c0, c1) stays in L1, and every
  // element gets one f32 rounding per row (the precision the reference stores).
  for (int64_t n = 0; n < N; n++) {
    const __m512d r = _mm512_set1_pd(double(rstd[n]));
    const float* d = dy + n * C;
    const float* xr = x + n * C;
    for (int64_t c = c0; c < c1; c += 8) {
      const __mmask8 k = tail8(c1 - c);
      store8(dw + c, _mm512_add_pd(load8(dw + c, k), _mm512_mul_pd(_mm512_mul_pd(load8(d + c, k), load8(xr + c, k)), r)), k);
    }
  }
}

// out[0, n) = a + b: a plain f32 add, which rounds the same at every vector width (see nn_elementwise.cc).
HALO_INLINE void g_add_row(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
void add_row_base(const float* a, const float* b, int64_t n, float* out) { g_add_row(a, b, n, out); }
HALO_AVX2 void add_row_avx2(const float* a, const float* b, int64_t n, float* out) { g_add_row(a, b, n, out); }
HALO_AVX512 void add_row_avx512(const float* a, const float* b, int64_t n, float* out) {
  using namespace nn;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail16(n - i);
    _mm512_mask_storeu_ps(out + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i)));
  }
}

using AddRow = void (*)(const float*, const float*, int64_t, float*);
using FwdRow = void (*)(const float*, const float*, int64_t, double, float*, float*);
using DxRow = void (*)(const float*, const float*, const float*, double, int64_t, float*);
using DwCols = void (*)(const float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, float*);

}  // namespace

void rmsnorm_forward(const float* x, const float* w, int64_t N, int64_t C, double eps, float* y, float* rstd) {
  const int t = kernel_tier();
  const FwdRow f = t == 2 ? fwd_row_avx512 : t == 1 ? fwd_row_avx2 : fwd_row_base;
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin && N > 1)
  for (int64_t n = 0; n < N; n++) f(x + n * C, w, C, eps, y + n * C, rstd + n);
}

// The residual add and the next norm in one pass over the rows: each row of x = a + b is normalised while it
// is still in L1, instead of add() writing x and rmsnorm_forward reading it back. Same row functions, so the
// bits are those of add then rmsnorm_forward.
void add_rmsnorm_forward(const float* a, const float* b, const float* w, int64_t N, int64_t C, double eps, float* x, float* y,
                         float* rstd) {
  const int t = kernel_tier();
  const AddRow ad = t == 2 ? add_row_avx512 : t == 1 ? add_row_avx2 : add_row_base;
  const FwdRow f = t == 2 ? fwd_row_avx512 : t == 1 ? fwd_row_avx2 : fwd_row_base;
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin && N > 1)
  for (int64_t n = 0; n < N; n++) {
    ad(a + n * C, b + n * C, C, x + n * C);
    f(x + n * C, w, C, eps, y + n * C, rstd + n);
  }
}

namespace {
// dw by column ranges of whole cache lines, one per thread, so no dw element is shared (see the top of this
// file); shared by both backwards.
void rmsnorm_dw(int t, bool par, const float* dy, const float* x, const float* rstd, int64_t N, int64_t C, float* dw) {
  const DwCols f = t == 2 ? bwd_dw_avx512 : t == 1 ? bwd_dw_avx2 : bwd_dw_base;
  const int64_t lines = (C + 15) / 16;
  const int64_t parts = par ? std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), lines)) : 1;
#pragma omp parallel for schedule(static) num_threads(int(parts)) if (parts > 1)
  for (int64_t p = 0; p < parts; p++) {
    const int64_t c0 = std::min(C, (lines * p / parts) * 16), c1 = std::min(C, (lines * (p + 1) / parts) * 16);
    if (c0 < c1) f(dy, x, rstd, N, C, c0, c1, dw);
  }
}
}  // namespace

// The norm's backward with the residual gradient added: dx = rmsnorm_backward(…) + res, each row's
// gradient formed in a per-thread row buffer and added to res while both are in L1 (one f32 rounding, then
// the f32 add: the bits of rmsnorm_backward followed by add_into). dx may be dy or res.
void rmsnorm_backward_add(const float* dy, const float* x, const float* w, const float* rstd, int64_t N, int64_t C, float* dw,
                          const float* res, float* dx) {
  const int t = kernel_tier();
  const bool par = N * C >= kParallelMin;
  if (dw) rmsnorm_dw(t, par, dy, x, rstd, N, C, dw);  // first: dx may be dy
  const DxRow f = t == 2 ? bwd_dx_row_avx512 : t == 1 ? bwd_dx_row_avx2 : bwd_dx_row_base;
  const AddRow ad = t == 2 ? add_row_avx512 : t == 1 ? add_row_avx2 : add_row_base;
#pragma omp parallel if (par && N > 1)
  {
    std::vector<float> row(static_cast<size_t>(C));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; n++) {
      f(dy + n * C, x + n * C, w, double(rstd[n]), C, row.data());
      ad(row.data(), res + n * C, C, dx + n * C);
    }
  }
}

void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t N, int64_t C, float* dw,
                      float* dx) {
  const int t = kernel_tier();
  const bool par = N * C >= kParallelMin;
  if (dw) rmsnorm_dw(t, par, dy, x, rstd, N, C, dw);  // first: dx may be the dy buffer, which the dw pass still reads
  const DxRow f = t == 2 ? bwd_dx_row_avx512 : t == 1 ? bwd_dx_row_avx2 : bwd_dx_row_base;
#pragma omp parallel for schedule(static) if (par && N > 1)
  for (int64_t n = 0; n < N; n++) f(dy + n * C, x + n * C, w, double(rstd[n]), C, dx + n * C);
}

}  // namespace halo
