// Shared pieces of the nn kernels (nn_*.cc): f32 ⇄ f64 vector loads/stores with tail masks, a vectorised
// double-precision exp, and the sizes at which work is split across threads. The kernels compute in double
// (see nn.h), so the AVX-512 paths work on 8 doubles converted from 8 floats.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "common.h"

namespace halo {
namespace nn {

// Below this many elements a kernel runs on the calling thread: waking sleeping OpenMP workers
// (OMP_WAIT_POLICY=passive, see binding.ts) costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 15;

// Element-wise kernels hand threads contiguous chunks of this many elements (a multiple of 16).
constexpr int64_t kChunk = 4096;

HALO_AVX512 HALO_INLINE __mmask8 tail8(int64_t left) { return left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1); }
HALO_AVX512 HALO_INLINE __mmask16 tail16(int64_t left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

// 8 floats → 8 doubles (masked lanes read nothing and are 0).
HALO_AVX512 HALO_INLINE __m512d load8(const float* p, __mmask8 k) { return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(k, p)); }
HALO_AVX512 HALO_INLINE __m512d load8(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
// 8 doubles → 8 floats, rounded to nearest even (as a Float32Array store rounds a JS number).
HALO_AVX512 HALO_INLINE void store8(float* p, __m512d v, __mmask8 k) { _mm256_mask_storeu_ps(p, k, _mm512_cvtpd_ps(v)); }
HALO_AVX512 HALO_INLINE void store8(float* p, __m512d v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }

// e^x in double, within ~2 ulp of the correctly rounded value (V8's Math.exp is fdlibm's, < 1 ulp), so
// after rounding to f32 the result matches the reference except in the rare case the two doubles straddle
// an f32 rounding boundary. x = n·ln2 + r, |r| ≤ ln2/2 (Cody–Waite split of ln2: n·LN2_HI is exact), e^r by
// its Taylor series to degree 13 (truncation < 4e-18), then scalef multiplies by 2^n, which also produces
// inf on overflow and gradual underflow to 0. NaN propagates; ±inf give inf / 0.
HALO_AVX512 HALO_INLINE __m512d exp8(__m512d x) {
  const __m512d LOG2E = _mm512_set1_pd(1.4426950408889634);
  const __m512d LN2_HI = _mm512_set1_pd(6.93147180369123816490e-01);
  const __m512d LN2_LO = _mm512_set1_pd(1.90821492927058770002e-10);
  // min/max return their SECOND operand when one is NaN: x second keeps a NaN.
  x = _mm512_min_pd(_mm512_set1_pd(710.0), x);
  x = _mm512_max_pd(_mm512_set1_pd(-746.0), x);
  const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, LOG2E), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(n, LN2_HI, x);
  r = _mm512_fnmadd_pd(n, LN2_LO, r);
  // 1/k! for k = 13 … 0, Horner.
  __m512d p = _mm512_set1_pd(1.6059043836821614e-10);
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(2.0876756987868099e-09));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(2.5052108385441720e-08));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(2.7557319223985893e-07));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(2.7557319223985888e-06));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(2.4801587301587302e-05));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.9841269841269841e-04));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.3888888888888889e-03));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(8.3333333333333333e-03));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(4.1666666666666667e-02));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.6666666666666667e-01));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0.5));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
  return _mm512_scalef_pd(p, n);
}

// Horizontal sum of 8 doubles.
HALO_AVX512 HALO_INLINE double hsum8(__m512d v) { return _mm512_reduce_add_pd(v); }

}  // namespace nn
}  // namespace halo
