// Fused log-softmax + NLL over the vocabulary (src/nn/ops/cross-entropy.ts), rows split across threads.
// Forward: row max (f32, NaN ignored like the reference's `>`), Σ exp(x − max) in double, lse = max +
// log(Σ) in double — the loss uses that unrounded lse, the saved lse [N] is its f32 rounding — and the
// per-row losses summed in double (per thread, then across threads: a different order than the
// reference's, so lossSum agrees to ~1e-15 relative). Backward: exp(x − lse)·inv in double, then the
// target's −inv, each rounded once. With a 32k–128k vocabulary these two passes over [N, V] are the largest
// element-wise work of a step, hence the vectorised double exp.
#include <omp.h>

#include <cmath>
#include <limits>
#include <string>

#include "cpu_features.h"
#include "nn.h"
#include "nn_math.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

HALO_INLINE bool counted(const CeRows& r, int64_t n) { return r.targets[n] != r.ignore && (r.mask == nullptr || r.mask[n] != 0); }

// ---------------------------------------------------------------- portable path (also compiled for AVX2)

HALO_INLINE float g_row_max(const float* x, int64_t V) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < V; i++)
    if (x[i] > m) m = x[i];
  return m;
}

HALO_INLINE double g_row_sumexp(const float* x, int64_t V, double max) {
  double s = 0;
  for (int64_t i = 0; i < V; i++) s += std::exp(double(x[i]) - max);
  return s;
}

HALO_INLINE void g_row_grad(const float* x, int64_t V, double lse, double inv, float* g) {
  for (int64_t i = 0; i < V; i++) g[i] = float(std::exp(double(x[i]) - lse) * inv);
}

float row_max_base(const float* x, int64_t V) { return g_row_max(x, V); }
HALO_AVX2 float row_max_avx2(const float* x, int64_t V) { return g_row_max(x, V); }
double row_sumexp_base(const float* x, int64_t V, double max) { return g_row_sumexp(x, V, max); }
HALO_AVX2 double row_sumexp_avx2(const float* x, int64_t V, double max) { return g_row_sumexp(x, V, max); }
void row_grad_base(const float* x, int64_t V, double lse, double inv, float* g) { g_row_grad(x, V, lse, inv, g); }
HALO_AVX2 void row_grad_avx2(const float* x, int64_t V, double lse, double inv, float* g) { g_row_grad(x, V, lse, inv, g); }

// ---------------------------------------------------------------- AVX-512 path

HALO_AVX512 float row_max_avx512(const float* x, int64_t V) {
  using namespace nn;
  // m = x where x > m (ordered compare: a NaN never replaces m), as the reference's `if (x > max)`.
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < V; i += 16) {
    const __mmask16 k = tail16(V - i);
    const __m512 v = _mm512_maskz_loadu_ps(k, x + i);
    m = _mm512_mask_mov_ps(m, _mm512_mask_cmp_ps_mask(k, v, m, _CMP_GT_OQ), v);
  }
  return _mm512_reduce_max_ps(m);
}

HALO_AVX512 double row_sumexp_avx512(const float* x, int64_t V, double max) {
  using namespace nn;
  const __m512d mv = _mm512_set1_pd(max);
  __m512d s0 = _mm512_setzero_pd(), s1 = s0;
  int64_t i = 0;
  for (; i + 16 <= V; i += 16) {
    s0 = _mm512_add_pd(s0, exp8(_mm512_sub_pd(load8(x + i), mv)));
    s1 = _mm512_add_pd(s1, exp8(_mm512_sub_pd(load8(x + i + 8), mv)));
  }
  for (; i < V; i += 8) {
    const __mmask8 k = tail8(V - i);
    s0 = _mm512_mask_add_pd(s0, k, s0, exp8(_mm512_sub_pd(load8(x + i, k), mv)));
  }
  return hsum8(_mm512_add_pd(s0, s1));
}

HALO_AVX512 void row_grad_avx512(const float* x, int64_t V, double lse, double inv, float* g) {
  using namespace nn;
  const __m512d lv = _mm512_set1_pd(lse), iv = _mm512_set1_pd(inv);
  for (int64_t i = 0; i < V; i += 8) {
    const __mmask8 k = tail8(V - i);
    store8(g + i, _mm512_mul_pd(exp8(_mm512_sub_pd(load8(x + i, k), lv)), iv), k);
  }
}

struct RowFns {
  float (*max)(const float*, int64_t);
  double (*sumexp)(const float*, int64_t, double);
  void (*grad)(const float*, int64_t, double, double, float*);
};

RowFns row_fns() {
  switch (kernel_tier()) {
    case 2: return {row_max_avx512, row_sumexp_avx512, row_grad_avx512};
    case 1: return {row_max_avx2, row_sumexp_avx2, row_grad_avx2};
    default: return {row_max_base, row_sumexp_base, row_grad_base};
  }
}

// Targets index the logits rows: one outside [0, V) that is not the ignore index would read (forward) or
// write (backward) outside the row.
void check_targets(const CeRows& r, int64_t N, int64_t V, const char* op) {
  for (int64_t n = 0; n < N; n++) {
    const int32_t t = r.targets[n];
    if (t != r.ignore && (t < 0 || t >= V))
      throw ArgError(std::string(op) + ": target " + std::to_string(t) + " at row " + std::to_string(n) + " is outside [0, " +
                     std::to_string(V) + ") and is not the ignore index " + std::to_string(r.ignore));
  }
}

}  // namespace

CeSums cross_entropy_forward(const float* logits, int64_t N, int64_t V, const CeRows& rows, float* lse) {
  check_targets(rows, N, V, "crossEntropyForward");
  const RowFns f = row_fns();
  double lossSum = 0;
  int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : lossSum, count) if (N * V >= nn::kParallelMin && N > 1)
  for (int64_t n = 0; n < N; n++) {
    const float* x = logits + n * V;
    const double max = f.max(x, V);
    const double l = max + std::log(f.sumexp(x, V, max));
    lse[n] = float(l);
    if (counted(rows, n)) {
      lossSum += l - double(x[rows.targets[n]]);
      count++;
    }
  }
  return {lossSum, count};
}

void cross_entropy_backward(const float* logits, int64_t N, int64_t V, const CeRows& rows, const float* lse, double inv,
                            float* dlogits) {
  check_targets(rows, N, V, "crossEntropyBackward");
  const RowFns f = row_fns();
#pragma omp parallel for schedule(static) if (N * V >= nn::kParallelMin && N > 1)
  for (int64_t n = 0; n < N; n++) {
    float* g = dlogits + n * V;
    if (!counted(rows, n)) {
      for (int64_t i = 0; i < V; i++) g[i] = 0.0f;
      continue;
    }
    f.grad(logits + n * V, V, double(lse[n]), inv, g);
    const int32_t t = rows.targets[n];
    g[t] = float(double(g[t]) - inv);
  }
}

}  // namespace halo
