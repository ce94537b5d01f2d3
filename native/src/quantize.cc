// Fused rotate + absmax + quantize (+ transpose), tiled so x is read from memory once per pass and codes
// are written once.
//
// Tiles: without rotation or with a right rotation, a tile is a band of whole rows (rotated into an
// L1/L2-sized thread buffer); with a left rotation, a 16-column panel of all rows (the rotation mixes rows).
// Transposed codes are encoded row-wise into a small tile buffer and transposed out, so both the f32 reads
// and the code writes stay contiguous.
//
// Passes: if every scale group lies inside one tile ("owned": per-row / per-block scales of a row band,
// per-column scales of a panel), one pass does absmax → scale → encode per tile. Otherwise (per-tensor,
// 32×32 tiles, or groups spanning tiles) pass 1 computes the group maxima (per-thread arrays, merged),
// pass 2 encodes.
// Between the passes the rotated values are either recomputed (strategy "recompute": reads x twice, no
// scratch) or kept in a full f32 scratch (strategy "scratch": one more write + read of 4 bytes per element).
//
// Bit-exactness with src/quant/quantize.ts: the rotation is bit-identical (see hadamard.cc); absmax is exact;
// scale = fround((absmax·clipRatio)/qmax) in double; code = encode(double(x)/double(scale)) with the same
// RNE + saturation as the TypeScript codecs (AVX-512: getexp/scalef/roundscale on doubles, all exact).
#include "quantize.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "codecs.h"
#include "cpu_features.h"
#include "hadamard.h"
#include "transpose.h"

// GCC 12's AVX-512 headers build some intrinsics from _mm512_undefined_*(), which -Wall reports as
// "used uninitialized" once inlined here; the values are fully overwritten, so silence that noise.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

constexpr int64_t kBlock = kQuantBlock;

// ------------------------------------------------------------------ segment kernels

struct SegOps {
  // *mx = max(*mx, max|p[i]|); *nf |= any non-finite
  void (*absmax)(const float* p, int64_t n, float* mx, int* nf);
  // cm[i] = max(cm[i], |p[i]|)
  void (*colmax)(const float* p, int64_t n, float* cm, int* nf);
  // dst[i] = encode(p[i] / scale_i), scale_i = sv ? sv[i] : s; unit: no division
  void (*encode)(Format f, const float* p, int64_t n, float s, const float* sv, bool unit, void* dst);
};

HALO_INLINE void g_absmax(const float* p, int64_t n, float* mx, int* nf) {
  float m = *mx;
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    const float a = std::fabs(p[i]);
    bad |= !(a <= FLT_MAX);
    m = a > m ? a : m;
  }
  *mx = m;
  if (bad) *nf = 1;
}

HALO_INLINE void g_colmax(const float* p, int64_t n, float* cm, int* nf) {
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    const float a = std::fabs(p[i]);
    bad |= !(a <= FLT_MAX);
    cm[i] = a > cm[i] ? a : cm[i];
  }
  if (bad) *nf = 1;
}

HALO_INLINE void g_encode(Format f, const float* p, int64_t n, float s, const float* sv, bool unit, void* dst) {
  if (f == Format::bf16) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; i++) {
      uint32_t b;
      std::memcpy(&b, p + i, 4);
      d[i] = bf16_from_f32_bits(b);
    }
    return;
  }
  auto q = [&](int64_t i) { return unit ? double(p[i]) : double(p[i]) / double(sv ? sv[i] : s); };
  if (f == Format::int8) {
    int8_t* d = static_cast<int8_t*>(dst);
    for (int64_t i = 0; i < n; i++) {
      const double v = q(i);
      d[i] = std::isnan(v) ? 0 : encode_int8(v);
    }
    return;
  }
  const Minifloat& mf = minifloat(f);
  uint8_t* d = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; i++) {
    const double v = q(i);
    d[i] = uint8_t(std::isnan(v) ? 0 : encode_minifloat(mf, v));
  }
}

__attribute__((flatten)) void base_absmax(const float* p, int64_t n, float* mx, int* nf) { g_absmax(p, n, mx, nf); }
__attribute__((flatten)) void base_colmax(const float* p, int64_t n, float* cm, int* nf) { g_colmax(p, n, cm, nf); }
__attribute__((flatten)) void base_encode(Format f, const float* p, int64_t n, float s, const float* sv, bool unit, void* dst) {
  g_encode(f, p, n, s, sv, unit, dst);
}
HALO_AVX2 __attribute__((flatten)) void avx2_absmax(const float* p, int64_t n, float* mx, int* nf) { g_absmax(p, n, mx, nf); }
HALO_AVX2 __attribute__((flatten)) void avx2_colmax(const float* p, int64_t n, float* cm, int* nf) { g_colmax(p, n, cm, nf); }

// AVX-512 ------------------------------------------------------------

HALO_AVX512 HALO_INLINE __mmask16 tail_mask(int64_t rem) { return rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1); }

HALO_AVX512 void avx512_absmax(const float* p, int64_t n, float* mx, int* nf) {
  const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  __m512 a0 = _mm512_setzero_ps(), a1 = a0;
  __mmask16 bad = 0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 x0 = _mm512_abs_ps(_mm512_loadu_ps(p + i)), x1 = _mm512_abs_ps(_mm512_loadu_ps(p + i + 16));
    a0 = _mm512_max_ps(a0, x0);
    a1 = _mm512_max_ps(a1, x1);
    bad |= _mm512_cmp_ps_mask(x0, inf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(x1, inf, _CMP_NLT_UQ);
  }
  for (; i < n; i += 16) {
    const __m512 x = _mm512_abs_ps(_mm512_maskz_loadu_ps(tail_mask(n - i), p + i));
    a0 = _mm512_max_ps(a0, x);
    bad |= _mm512_cmp_ps_mask(x, inf, _CMP_NLT_UQ);
  }
  const float m = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
  if (m > *mx) *mx = m;
  if (bad) *nf = 1;
}

HALO_AVX512 void avx512_colmax(const float* p, int64_t n, float* cm, int* nf) {
  const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  __mmask16 bad = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 x = _mm512_abs_ps(_mm512_maskz_loadu_ps(k, p + i));
    _mm512_mask_storeu_ps(cm + i, k, _mm512_max_ps(_mm512_maskz_loadu_ps(k, cm + i), x));
    bad |= _mm512_cmp_ps_mask(x, inf, _CMP_NLT_UQ);
  }
  if (bad) *nf = 1;
}

struct MfConst {
  double emin, man, twoMan, bias, maxCode;
  int signBit;
  double maxValue;
};

// 8 doubles → 8 codes (int32 lanes). int8: clamp to ±127, RNE.
HALO_AVX512 HALO_INLINE __m256i enc_int8(__m512d q) {
  q = _mm512_min_pd(_mm512_max_pd(q, _mm512_set1_pd(-127.0)), _mm512_set1_pd(127.0));
  return _mm512_cvttpd_epi32(_mm512_roundscale_pd(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Small floats: e = max(floor(log2|q|), emin); m = RNE(|q|·2^(man−e)) (an integer ≤ 2^(man+1), exact
// scaling); code = (e + bias)·2^man + m − 2^man — one formula for normals, subnormals (e = emin, where
// e + bias = 1) and a round-up into the next binade — then saturate at maxCode and OR in the sign.
HALO_AVX512 HALO_INLINE __m256i enc_mini(__m512d q, const MfConst& k) {
  const __m512d a = _mm512_abs_pd(q);
  const __m512d e = _mm512_max_pd(_mm512_getexp_pd(a), _mm512_set1_pd(k.emin));  // getexp(0) = -inf
  const __m512d m = _mm512_roundscale_pd(_mm512_scalef_pd(a, _mm512_sub_pd(_mm512_set1_pd(k.man), e)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512d tw = _mm512_set1_pd(k.twoMan);
  __m512d code = _mm512_add_pd(_mm512_mul_pd(_mm512_add_pd(e, _mm512_set1_pd(k.bias)), tw), _mm512_sub_pd(m, tw));
  code = _mm512_min_pd(code, _mm512_set1_pd(k.maxCode));
  const __m256i c = _mm512_cvttpd_epi32(code);
  const __mmask8 neg = _mm512_movepi64_mask(_mm512_castpd_si512(q));
  return _mm256_mask_or_epi32(c, neg, c, _mm256_set1_epi32(k.signBit));
}

// The same encoders on 16 f32 lanes. q = RN_f32(x/s) can differ from the double quotient only by landing
// exactly on a rounding tie of the target grid when the true quotient is just off it (division is correctly
// rounded and monotonic, so q never crosses a tie). Lanes whose scaled value is exactly a tie are therefore
// decided exactly: the sign of x − t·s (t the tie, fnmadd: one rounding of the exact value, sign kept)
// says whether the true quotient is above, below, or on the tie (then ties-to-even). That argument needs x
// to be a normal number far from underflow, so a vector holding any |x| < 2^-100 takes the double path.
HALO_AVX512 HALO_INLINE __m512 fix_ties(__m512 y, __m512 m, __m512 ax, __m512 s, __m512 toQ /* 2^(e−M) per lane, or 1 */) {
  const __m512 fl = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __mmask16 tie = _mm512_cmp_ps_mask(_mm512_sub_ps(y, fl), _mm512_set1_ps(0.5f), _CMP_EQ_OQ);
  if (!tie) return m;
  const __m512 t = _mm512_mul_ps(_mm512_add_ps(fl, _mm512_set1_ps(0.5f)), toQ);  // the tie in units of q (exact)
  const __m512 d = _mm512_fnmadd_ps(t, s, ax);                                     // |x| − t·s, one rounding
  const __mmask16 above = _mm512_mask_cmp_ps_mask(tie, d, _mm512_setzero_ps(), _CMP_GT_OQ);
  const __mmask16 below = _mm512_mask_cmp_ps_mask(tie, d, _mm512_setzero_ps(), _CMP_LT_OQ);
  m = _mm512_mask_add_ps(m, above, fl, _mm512_set1_ps(1.0f));
  return _mm512_mask_mov_ps(m, below, fl);
}

template <int F>  // 0 int8, 1 small float
HALO_AVX512 HALO_INLINE __m512i enc16_ps(const MfConst& k, __m512 x, __m512 s, bool unit) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 a = unit ? ax : _mm512_div_ps(ax, s);  // |q|; the sign is x's (s > 0)
  __m512 code;
  if (F == 0) {
    const __m512 y = _mm512_min_ps(a, _mm512_set1_ps(127.0f));  // also maps +inf (x/s overflow) to 127
    __m512 m = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    if (!unit) m = fix_ties(y, m, ax, s, _mm512_set1_ps(1.0f));
    code = m;
  } else {
    const __m512 y0 = _mm512_min_ps(a, _mm512_set1_ps(float(k.maxValue * 4)));  // saturates either way
    const __m512 e = _mm512_max_ps(_mm512_getexp_ps(y0), _mm512_set1_ps(float(k.emin)));
    const __m512 shift = _mm512_sub_ps(_mm512_set1_ps(float(k.man)), e);
    const __m512 y = _mm512_scalef_ps(y0, shift);
    __m512 m = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    if (!unit) m = fix_ties(y, m, ax, s, _mm512_scalef_ps(_mm512_set1_ps(1.0f), _mm512_sub_ps(_mm512_setzero_ps(), shift)));
    const __m512 tw = _mm512_set1_ps(float(k.twoMan));
    code = _mm512_add_ps(_mm512_mul_ps(_mm512_add_ps(e, _mm512_set1_ps(float(k.bias))), tw), _mm512_sub_ps(m, tw));
    code = _mm512_min_ps(code, _mm512_set1_ps(float(k.maxCode)));
  }
  __m512i c = _mm512_cvttps_epi32(code);
  const __mmask16 neg = _mm512_movepi32_mask(_mm512_castps_si512(x));
  if (F == 0) return _mm512_mask_sub_epi32(c, neg, _mm512_setzero_si512(), c);
  return _mm512_mask_or_epi32(c, neg, c, _mm512_set1_epi32(k.signBit));
}

// The double path (exact by construction: the quotient as the reference computes it).
template <int F>
HALO_AVX512 HALO_INLINE __m512i enc16_pd(const MfConst& k, __m512 x, __m512 s, bool unit) {
  __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
  __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1));
  if (!unit) {
    lo = _mm512_div_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(s)));
    hi = _mm512_div_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(s, 1)));
  }
  const __m256i clo = F == 0 ? enc_int8(lo) : enc_mini(lo, k);
  const __m256i chi = F == 0 ? enc_int8(hi) : enc_mini(hi, k);
  return _mm512_inserti64x4(_mm512_castsi256_si512(clo), chi, 1);
}

template <int F>
HALO_AVX512 void enc_seg512(const MfConst& k, const float* p, int64_t n, float s, const float* sv, bool unit, uint8_t* dst) {
  const __m512 ss = _mm512_set1_ps(s);
  const __m512 tiny = _mm512_set1_ps(0x1p-100f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 msk = tail_mask(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(msk, p + i);
    const __m512 sc = sv ? _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), msk, sv + i) : ss;
    const __m512 ax = _mm512_abs_ps(x);
    const __mmask16 small = _mm512_cmp_ps_mask(ax, tiny, _CMP_LT_OQ) & _mm512_cmp_ps_mask(ax, _mm512_setzero_ps(), _CMP_NEQ_OQ);
    const __m512i c = (!unit && small) ? enc16_pd<F>(k, x, sc, unit) : enc16_ps<F>(k, x, sc, unit);
    _mm_mask_storeu_epi8(dst + i, msk, _mm512_cvtepi32_epi8(c));
  }
}

HALO_AVX512 void enc_bf16_512(const float* p, int64_t n, uint16_t* dst) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
  const __m512i expMask = _mm512_set1_epi32(0x7f800000), manMask = _mm512_set1_epi32(0x007fffff);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 msk = tail_mask(n - i);
    const __m512i b = _mm512_castps_si512(_mm512_maskz_loadu_ps(msk, p + i));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), one);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(b, _mm512_add_epi32(bias, lsb)), 16);
    const __mmask16 nan = _mm512_cmpeq_epi32_mask(_mm512_and_si512(b, expMask), expMask) &
                          _mm512_test_epi32_mask(b, manMask);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
    _mm256_mask_storeu_epi16(dst + i, msk, _mm512_cvtepi32_epi16(r));
  }
}

MfConst mf_const(Format f) {
  if (f == Format::int8 || f == Format::bf16) return MfConst{};
  const Minifloat& m = minifloat(f);
  return MfConst{double(1 - m.bias), double(m.manBits), double(1 << m.manBits), double(m.bias), double(m.maxCode), m.signBit, m.max};
}

void avx512_encode(Format f, const float* p, int64_t n, float s, const float* sv, bool unit, void* dst) {
  static const MfConst k[5] = {mf_const(Format::int8), mf_const(Format::fp8e4m3), mf_const(Format::fp8e5m2),
                               mf_const(Format::fp6e3m2), mf_const(Format::bf16)};
  switch (f) {
    case Format::int8: return enc_seg512<0>(k[0], p, n, s, sv, unit, static_cast<uint8_t*>(dst));
    case Format::bf16: return enc_bf16_512(p, n, static_cast<uint16_t*>(dst));
    default: return enc_seg512<1>(k[int(f)], p, n, s, sv, unit, static_cast<uint8_t*>(dst));
  }
}

const SegOps& seg_ops() {
  static const SegOps base{base_absmax, base_colmax, base_encode};
  static const SegOps avx2{avx2_absmax, avx2_colmax, base_encode};
  static const SegOps avx512{avx512_absmax, avx512_colmax, avx512_encode};
  const int t = kernel_tier();
  return t == 2 ? avx512 : t == 1 ? avx2 : base;
}

// ------------------------------------------------------------------ the tiled driver

struct Tile {
  const float* p;  // O values of the tile, element (r0 + i, c0 + j) at p[i*ld + j]
  int64_t ld, r0, nr, c0, nc;
};

template <typename T>
T* tls_buffer(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

class Quantizer {
 public:
  explicit Quantizer(const QuantArgs& a)
      : a_(a), ops_(seg_ops()), R0_(a.rows), C0_(a.cols), T_(a.transposeOut), g_(a.gran), f_(a.format),
        esz_(a.format == Format::bf16 ? 2 : 1) {
    R_ = T_ ? C0_ : R0_;
    C_ = T_ ? R0_ : C0_;
    nb_ = (C_ + kBlock - 1) / kBlock;
    nGroups_ = quant_scale_count(g_, R_, C_);
    qmax_ = format_qmax(f_);
    needScales_ = !a.unitScale && f_ != Format::bf16;
    if (a.side != Side::none) had_.emplace_back(a.plan);
  }

  int64_t run() {
    if (R0_ == 0 || C0_ == 0) {
      std::fill(a_.scales, a_.scales + nGroups_, 1.0f);
      return 0;
    }
    if (!needScales_) {
      std::fill(a_.scales, a_.scales + nGroups_, 1.0f);
      walk(a_.side, nullptr, [&](const Tile& t, Scratch& s) {
        for (int64_t i = 0; i < t.nr; i++) {
          float m = 0;
          ops_.absmax(t.p + i * t.ld, t.nc, &m, &s.nf);  // only the finiteness check
        }
        encode_tile(t, s);
      });
    } else if (owned()) {
      gmax_.assign(size_t(nGroups_), 0.0f);
      walk(a_.side, nullptr, [&](const Tile& t, Scratch& s) {
        absmax_tile(t, gmax_.data(), s);
        for_owned_groups(t, [&](int64_t g) { a_.scales[g] = scale_of(gmax_[g], s); });
        encode_tile(t, s);
      });
    } else {
      const int nt = omp_get_max_threads();
      std::vector<float> part(size_t(nt) * size_t(nGroups_), 0.0f);
      const bool useScratch = a_.side != Side::none && strategy() == QuantStrategy::scratch;
      float* scratch = nullptr;
      if (useScratch) scratch = tls_buffer(scratch_, size_t(R0_ * C0_));
      walk(a_.side, scratch, [&](const Tile& t, Scratch& s) { absmax_tile(t, part.data() + size_t(s.tid) * nGroups_, s); });
      Scratch dummy;
      for (int64_t g = 0; g < nGroups_; g++) {
        float m = 0;
        for (int t = 0; t < nt; t++) m = std::max(m, part[size_t(t) * nGroups_ + g]);
        a_.scales[g] = scale_of(m, dummy);
      }
      if (dummy.overflow) overflow_ = true;
      if (!overflow_ && !nonFinite_) {
        const Side side2 = useScratch ? Side::none : a_.side;
        const float* src2 = useScratch ? scratch : a_.x;
        walk(side2, nullptr, [&](const Tile& t, Scratch& s) { encode_tile(t, s); }, src2);
      }
    }
    if (nonFinite_) {
      int64_t bad = 0;
      for (int64_t i = 0; i < R0_ * C0_; i++) bad += !std::isfinite(a_.x[i]);
      return std::max<int64_t>(bad, 1);  // a finite input can still overflow to ±inf in the rotation
    }
    return overflow_ ? -1 : 0;
  }

 private:
  struct Scratch {
    int tid = 0;
    int nf = 0;
    bool overflow = false;
    float* tile = nullptr;    // rotated tile
    uint8_t* codes = nullptr; // transposed-output code tile
    float* col = nullptr;     // per-column maxima / per-column scales
  };

  QuantStrategy strategy() const {
    if (a_.strategy != QuantStrategy::automatic) return a_.strategy;
    // Keeping the rotated tensor is faster (the rotation costs more than a write + read of it), but the
    // scratch is retained between calls for reuse, so only up to 64 MiB; beyond that, rotate twice.
    return R0_ * C0_ * 4 <= (int64_t(64) << 20) ? QuantStrategy::scratch : QuantStrategy::recompute;
  }

  // Every scale group lies inside one tile, so one pass suffices.
  bool owned() const {
    if (g_ == Granularity::tensor || g_ == Granularity::tile32) return false;
    if (a_.side == Side::left) return T_;
    return !T_ || g_ == Granularity::block32;
  }

  int64_t tile_rows() const {
    // Transposed codes: 64 rows give each code row a full 64-byte line per tile (32 when a rotated f32
    // tile of 64 rows would not fit in L2); a multiple of 32, so block32 groups of Oᵀ stay inside one tile.
    if (T_) return int64_t(64) * C0_ * 4 <= (int64_t(1) << 19) || a_.side == Side::none ? 64 : kBlock;
    return std::max<int64_t>(1, std::min<int64_t>(64, 16384 / std::max<int64_t>(C0_, 1)));
  }

  float scale_of(float absmax, Scratch& s) const {
    if (absmax == 0.0f) return 1.0f;
    const float sc = float((double(absmax) * a_.clipRatio) / qmax_);
    if (std::isinf(sc)) {
      s.overflow = true;
      return 1.0f;
    }
    return sc == 0.0f ? std::numeric_limits<float>::denorm_min() : sc;
  }

  // Runs fn over all tiles of x (or of `src`, read as [R0, C0]) rotated by `side`, in parallel.
  // scratchOut: rotated tiles are written there (ld C0) instead of a thread buffer.
  template <typename Fn>
  void walk(Side side, float* scratchOut, Fn&& fn, const float* src = nullptr) {
    const float* x = src ? src : a_.x;
    const bool left = side == Side::left;
    const int64_t TR = tile_rows();
    const int64_t W = HadKernel::panel_width(R0_);
    // Row tiles span whole rows, so x is read sequentially. (Column bands would shorten the strided code
    // writes of transposed output, but measured slower: strided f32 reads cost more than strided byte writes.)
    // Transposed codes: a short first tile makes every later tile's code-row runs start on a cache line, so
    // they can be written with streaming stores (block32 keeps 32-aligned tiles: its groups must not split).
    int64_t first = 0;
    if (!left && T_ && g_ != Granularity::block32 && (R0_ * esz_) % 64 == 0) {
      const uintptr_t base = reinterpret_cast<uintptr_t>(a_.codes);
      if (base % uintptr_t(esz_) == 0) first = std::min<int64_t>(int64_t((64 - base % 64) % 64) / esz_ % TR, R0_);
    }
    const int64_t nTiles = left ? (C0_ + W - 1) / W : (first > 0) + (R0_ - first + TR - 1) / TR;
    const bool parallel = R0_ * C0_ >= (1 << 14);
    int nf = 0;
    bool overflow = false;
#pragma omp parallel if (parallel) reduction(| : nf) reduction(|| : overflow)
    {
      static thread_local std::vector<float> tileBuf, colBuf;
      static thread_local std::vector<uint8_t> codeBuf;
      Scratch s;
      s.tid = omp_get_thread_num();
      const int64_t tileElems = left ? R0_ * W : TR * C0_;
      if (side == Side::left || (side == Side::right && !scratchOut)) s.tile = tls_buffer(tileBuf, size_t(tileElems));
      if (T_) s.codes = tls_buffer(codeBuf, size_t(2 * tileElems * esz_));  // encoded tile + its transpose
      s.col = tls_buffer(colBuf, size_t(std::max(C0_, W)));
#pragma omp for schedule(static)
      for (int64_t t = 0; t < nTiles; t++) {
        Tile tile;
        if (left) {
          tile.r0 = 0;
          tile.nr = R0_;
          tile.c0 = t * W;
          tile.nc = std::min(W, C0_ - tile.c0);
          tile.ld = W;
          had_[0].left_panel(x + tile.c0, s.tile, C0_, W, tile.nc);  // compact buffer (see hadamard.h)
          if (scratchOut)
            for (int64_t r = 0; r < R0_; r++) std::memcpy(scratchOut + r * C0_ + tile.c0, s.tile + r * W, size_t(tile.nc) * 4);
          tile.p = s.tile;
        } else {
          tile.r0 = first > 0 ? (t == 0 ? 0 : first + (t - 1) * TR) : t * TR;
          tile.nr = first > 0 && t == 0 ? first : std::min(TR, R0_ - tile.r0);
          tile.c0 = 0;
          tile.nc = C0_;
          tile.ld = C0_;
          if (side == Side::none) {
            tile.p = x + tile.r0 * C0_;
          } else {
            float* dst = scratchOut ? scratchOut + tile.r0 * C0_ : s.tile;
            had_[0].right_rows(x + tile.r0 * C0_, dst, tile.nr, C0_, C0_);
            tile.p = dst;
          }
        }
        fn(tile, s);
      }
      nf |= s.nf;
      overflow = overflow || s.overflow;
    }
    if (nf) nonFinite_ = true;
    if (overflow) overflow_ = true;
  }

  // Group maxima of a tile into G (indexed by group id).
  void absmax_tile(const Tile& t, float* G, Scratch& s) const {
    for (int64_t i = 0; i < t.nr; i++) {
      const int64_t r = t.r0 + i;
      const float* seg = t.p + i * t.ld;
      if (g_ == Granularity::tile32) {
        // Segments of one 32-column block of x: tile (r/32, c/32) of O, or (c/32, r/32) of Oᵀ.
        for (int64_t c = t.c0; c < t.c0 + t.nc;) {
          const int64_t end = std::min(t.c0 + t.nc, (c / kBlock + 1) * kBlock);
          const int64_t g = T_ ? (c / kBlock) * nb_ + r / kBlock : (r / kBlock) * nb_ + c / kBlock;
          ops_.absmax(seg + (c - t.c0), end - c, &G[g], &s.nf);
          c = end;
        }
      } else if (!T_) {
        if (g_ == Granularity::tensor) ops_.absmax(seg, t.nc, &G[0], &s.nf);
        else if (g_ == Granularity::row) ops_.absmax(seg, t.nc, &G[r], &s.nf);
        else
          for (int64_t c = t.c0; c < t.c0 + t.nc;) {
            const int64_t end = std::min(t.c0 + t.nc, (c / kBlock + 1) * kBlock);
            ops_.absmax(seg + (c - t.c0), end - c, &G[r * nb_ + c / kBlock], &s.nf);
            c = end;
          }
      } else {
        if (g_ == Granularity::tensor) ops_.absmax(seg, t.nc, &G[0], &s.nf);
        else if (g_ == Granularity::row) ops_.colmax(seg, t.nc, G + t.c0, &s.nf);
        else {
          if (i == 0 || r % kBlock == 0) std::fill(s.col, s.col + t.nc, 0.0f);
          ops_.colmax(seg, t.nc, s.col, &s.nf);
          if (i == t.nr - 1 || (r + 1) % kBlock == 0)
            for (int64_t j = 0; j < t.nc; j++) {
              float& gm = G[(t.c0 + j) * nb_ + r / kBlock];
              gm = std::max(gm, s.col[j]);
            }
        }
      }
    }
  }

  template <typename Fn>
  void for_owned_groups(const Tile& t, Fn&& fn) const {
    if (!T_) {  // row bands: code rows r0..r0+nr
      const int64_t per = g_ == Granularity::row ? 1 : nb_;
      for (int64_t g = t.r0 * per; g < (t.r0 + t.nr) * per; g++) fn(g);
    } else if (g_ == Granularity::row) {  // panels: code rows c0..c0+nc
      for (int64_t c = t.c0; c < t.c0 + t.nc; c++) fn(c);
    } else {  // block32 of Oᵀ: code rows c0..c0+nc, blocks of the tile's rows
      for (int64_t c = t.c0; c < t.c0 + t.nc; c++)
        for (int64_t b = t.r0 / kBlock; b <= (t.r0 + t.nr - 1) / kBlock; b++) fn(c * nb_ + b);
    }
  }

  void encode_tile(const Tile& t, Scratch& s) const {
    const bool unit = !needScales_;
    uint8_t* codes = static_cast<uint8_t*>(a_.codes);
    for (int64_t i = 0; i < t.nr; i++) {
      const int64_t r = t.r0 + i;
      const float* seg = t.p + i * t.ld;
      if (!T_) {
        uint8_t* dst = codes + (r * C0_ + t.c0) * esz_;
        if (g_ == Granularity::tensor) ops_.encode(f_, seg, t.nc, a_.scales[0], nullptr, unit, dst);
        else if (g_ == Granularity::row) ops_.encode(f_, seg, t.nc, a_.scales[r], nullptr, unit, dst);
        else {
          const float* sr = a_.scales + (g_ == Granularity::tile32 ? r / kBlock : r) * nb_;
          for (int64_t c = t.c0; c < t.c0 + t.nc;) {
            const int64_t end = std::min(t.c0 + t.nc, (c / kBlock + 1) * kBlock);
            ops_.encode(f_, seg + (c - t.c0), end - c, sr[c / kBlock], nullptr, unit, dst + (c - t.c0) * esz_);
            c = end;
          }
        }
      } else {
        uint8_t* dst = s.codes + i * t.nc * esz_;
        if (g_ == Granularity::tensor) ops_.encode(f_, seg, t.nc, a_.scales[0], nullptr, unit, dst);
        else if (g_ == Granularity::row) ops_.encode(f_, seg, t.nc, 0.0f, a_.scales + t.c0, unit, dst);
        else {
          // Per-element scales of this x row (a column of Oᵀ), refreshed when r enters a new block of 32.
          const bool tile = g_ == Granularity::tile32;
          if (i == 0 || r % kBlock == 0)
            for (int64_t j = 0; j < t.nc; j++) s.col[j] = a_.scales[(tile ? (t.c0 + j) / kBlock : t.c0 + j) * nb_ + r / kBlock];
          ops_.encode(f_, seg, t.nc, 0.0f, s.col, unit, dst);
        }
      }
    }
    if (T_) {  // transpose in L1/L2, then copy whole code-row segments out (see transpose.cc on strides)
      uint8_t* tr = s.codes + t.nr * t.nc * esz_;
      transpose_tile(s.codes, t.nc, tr, t.nr, t.nr, t.nc, int(esz_));
      const int64_t run = t.nr * esz_;
      uint8_t* out = codes + (t.c0 * R0_ + t.r0) * esz_;
      const bool aligned = (reinterpret_cast<uintptr_t>(out) % 64 == 0) && ((R0_ * esz_) % 64 == 0);
      if (run % 64 == 0 && aligned) {  // whole cache lines: streaming stores skip the read-for-ownership of
        for (int64_t j = 0; j < t.nc; j++) {  // each line, which otherwise dominates these strided writes
          __m128i* d = reinterpret_cast<__m128i*>(out + j * R0_ * esz_);
          const __m128i* q = reinterpret_cast<const __m128i*>(tr + j * run);
          for (int64_t k = 0; k < run / 16; k++) _mm_stream_si128(d + k, _mm_loadu_si128(q + k));
        }
        _mm_sfence();
      } else if (run == 64) {  // a constant-size copy the compiler inlines (no call per code row)
        for (int64_t j = 0; j < t.nc; j++) std::memcpy(out + j * R0_ * esz_, tr + j * 64, 64);
      } else
        for (int64_t j = 0; j < t.nc; j++) std::memcpy(out + j * R0_ * esz_, tr + j * run, size_t(run));
    }
  }

  const QuantArgs& a_;
  const SegOps& ops_;
  int64_t R0_, C0_, R_ = 0, C_ = 0, nb_ = 0, nGroups_ = 0;
  bool T_;
  Granularity g_;
  Format f_;
  int64_t esz_;
  double qmax_ = 0;
  bool needScales_ = true;
  bool nonFinite_ = false, overflow_ = false;
  std::vector<HadKernel> had_;
  std::vector<float> gmax_;
  static thread_local std::vector<float> scratch_;  // per calling thread (worker_threads may call concurrently)
};

thread_local std::vector<float> Quantizer::scratch_;

}  // namespace

int64_t quant_scale_count(Granularity g, int64_t codeRows, int64_t codeCols) {
  switch (g) {
    case Granularity::tensor: return 1;
    case Granularity::row: return codeRows;
    case Granularity::block32: return codeRows * ((codeCols + kBlock - 1) / kBlock);
    case Granularity::tile32: return ((codeRows + kBlock - 1) / kBlock) * ((codeCols + kBlock - 1) / kBlock);
  }
  throw ArgError("unknown granularity " + std::to_string(int(g)));
}

int64_t quantize(const QuantArgs& a) {
  if (a.side == Side::right) check_plan(a.plan, a.cols, "rotateQuantize (right)");
  if (a.side == Side::left) check_plan(a.plan, a.rows, "rotateQuantize (left)");
  if (!(a.clipRatio > 0 && std::isfinite(a.clipRatio))) throw ArgError("clipRatio must be finite and > 0");
  return Quantizer(a).run();
}

}  // namespace halo
