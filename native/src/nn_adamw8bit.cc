// One AdamW step of a tensor whose moments are block-wise quantized (src/optim/adamw8bit.ts adamwBlockUpdate,
// the oracle): per block, dequantize m and v (map[code] · absmax), take the AdamW step in f32 arithmetic, then
// store each moment as the code nearest to x = moment · (1/new absmax). Bit-identical to the oracle: the same
// f32 operations in the same order (the oracle rounds each with Math.fround; +, −, ·, / and √ of f32 values
// rounded from double equal the f32 operations), and the nearest code = the number of the double thresholds
// (map[j] + map[j+1])/2 below x, a tie going to the lower code. The absmax is a max with NaN skipped
// (`a > max`), as the oracle's loop does. In f32, not double as nn_adamw.cc: 16 lanes per vector, and the
// 8-bit moments are far coarser than an f32 rounding.
//
// Blocks are independent, so threads take whole blocks. The portable and AVX2 paths find a code by an 8-probe
// binary search over the 255 thresholds, as the oracle does. The AVX-512 path works on 16 values at a time
// (map values looked up with permutes) and finds codes with one gather each from a bucket index (below): the
// binary search's 8 dependent gathers per value made the update 10× slower than f32 AdamW's.
//
// Bucket index (CodeIndex): x is in [−1, 1] (|moment| ≤ absmax) or NaN. Its f32 bits name a bucket: sign,
// exponent (those below 2^-27 pooled into one slot: every map's first threshold from 0 is above 2e-7) and the
// top mantissa bits (the fewest, 4 … 8, that work). For each bucket the index holds c0 = the number of
// thresholds below the bucket's smallest value and, if one threshold t falls inside it (never more: checked
// when the index is built), the bucket's first f32 above t as its low bits (split): code = c0 + (low bits ≥
// split), the low bits flipped for negative x, where a larger magnitude is a smaller value. Exact, so the codes
// are the binary search's; a map whose thresholds are too dense for one per bucket falls back to the search.
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_features.h"
#include "nn.h"
#include "nn_math.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace halo {
namespace {

// Buckets of x's f32 bits: 2 signs × 29 exponent slots × 2^mantBits mantissa prefixes (see the header).
constexpr int kSlots = 29, kLowestExp = 100;  // slot s ≥ 1 is biased exponent s + 99; slot 0 is every |x| < 2^-27
constexpr int kMaxMantBits = 8;
constexpr uint32_t kNever = 1u << 19;  // a split no low part (≤ 19 bits) reaches
constexpr uint32_t kNeverEntry = kNever << 8;  // code 0, never more: what a NaN x gets

struct CodeIndex {
  float map[256];
  bool exact = false;  // every bucket holds at most one distinct threshold
  int mantBits = 0;    // the fewest (4 … 8) that make it exact: a smaller table stays in L1
  uint32_t entry[2 * kSlots << kMaxMantBits];  // c0 | split << 8 (split ≤ 2^19)
};

float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t float_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Fills ix.entry for prefixes of mb mantissa bits; false if some bucket holds two distinct thresholds.
bool fill_index(CodeIndex& ix, const double* th, int mb) {
  const int lowBits = 23 - mb;
  const uint32_t lowMask = (1u << lowBits) - 1;
  auto below = [&](double x) {
    int c = 0;
    while (c < 255 && th[c] < x) c++;
    return c;
  };
  for (int sign = 0; sign < 2; sign++)
    for (int slot = 0; slot < kSlots; slot++)
      for (int pre = 0; pre < (1 << mb); pre++) {
        const uint32_t loBits = slot == 0 ? 0 : (uint32_t(slot + kLowestExp - 1) << 23) | (uint32_t(pre) << lowBits);
        const uint32_t hiBits = slot == 0 ? (uint32_t(kLowestExp) << 23) - 1 : loBits | lowMask;
        const float loAbs = bits_to_float(loBits), hiAbs = std::min(bits_to_float(hiBits), 1.0f);
        uint32_t& e = ix.entry[((sign * kSlots + slot) << mb) + pre];
        if (loAbs > 1.0f) {  // |x| ≤ 1: never used
          e = kNeverEntry;
          continue;
        }
        const double lo = sign ? -double(hiAbs) : double(loAbs), hi = sign ? -double(loAbs) : double(hiAbs);
        const int c0 = below(lo);
        int inc = 0;
        while (c0 + inc < 255 && th[c0 + inc] < hi) inc++;
        if (inc == 0) {
          e = uint32_t(c0) | (kNever << 8);
          continue;
        }
        const double t = th[c0];
        if (inc > 1 || slot == 0) return false;
        // The first f32 above t: x > t ⇔ x ≥ u for every f32 x; it lies in this bucket (t < hi).
        float u = float(t);
        if (double(u) <= t) u = std::nextafter(u, INFINITY);
        const uint32_t ub = float_bits(u);
        if ((ub >> lowBits) != ((sign ? float_bits(-hiAbs) : float_bits(loAbs)) >> lowBits)) return false;
        const uint32_t low = ub & lowMask;
        e = uint32_t(c0) | ((sign ? lowMask - low : low) << 8);
      }
  return true;
}

void build_index(CodeIndex& ix, const float* map, const double* th) {
  std::memcpy(ix.map, map, sizeof ix.map);
  ix.exact = false;
  for (int mb = 4; mb <= kMaxMantBits && !ix.exact; mb++) {
    ix.mantBits = mb;
    ix.exact = fill_index(ix, th, mb);
  }
}

// The index of a map, built on first use (≤ 58 KiB, ~1 ms) and kept: a run uses two or four maps.
const CodeIndex& index_of(const float* map, const double* th) {
  static CodeIndex cache[4];
  static int used = 0, next = 0;
  for (int i = 0; i < used; i++)
    if (std::memcmp(cache[i].map, map, sizeof cache[i].map) == 0) return cache[i];
  CodeIndex& ix = cache[next];
  next = (next + 1) % 4;
  used = std::min(used + 1, 4);
  build_index(ix, map, th);
  return ix;
}

struct Maps {
  const float* m;  // [256] ascending
  const float* v;
  double thM[256];  // [255] decision points (+1 unused)
  double thV[256];
  const CodeIndex* ixM;
  const CodeIndex* ixV;
};

HALO_INLINE uint8_t nearest(const double* th, double x) {
  int idx = 0;
  for (int s = 128; s >= 1; s >>= 1)
    if (th[idx + s - 1] < x) idx += s;
  return uint8_t(idx);
}

// The f32 reciprocal of an absmax, as the oracle takes it: below the smallest normal f32 it would overflow.
HALO_INLINE float reciprocal(float a) { return 1.0f / std::max(a, FLT_MIN); }

// The step's scalars as f32, as the oracle rounds them.
struct F32Scalars {
  float b1, b2, c1, c2, decay, step, bc2, eps;
  explicit F32Scalars(const AdamwScalars& s)
      : b1(float(s.beta1)), b2(float(s.beta2)), c1(float(s.oneMinusBeta1)), c2(float(s.oneMinusBeta2)), decay(float(s.decay)),
        step(float(s.stepSize)), bc2(float(s.bc2Sqrt)), eps(float(s.eps)) {}
};

// One block of len values; mf, vf: scratch of at least len floats.
HALO_INLINE void g_block(float* p, const float* grad, uint8_t* qm, uint8_t* qv, float* sm, float* sv, int64_t len, const Maps& M,
                         const F32Scalars& s, float* mf, float* vf) {
  const float am0 = *sm, av0 = *sv;
  float am = 0, av = 0;
  for (int64_t i = 0; i < len; i++) {
    const float g = grad[i];
    const float m = M.m[qm[i]] * am0, v = M.v[qv[i]] * av0;
    mf[i] = s.b1 * m + s.c1 * g;
    vf[i] = s.b2 * v + s.c2 * g * g;
    p[i] = p[i] * s.decay - (s.step * mf[i]) / (std::sqrt(vf[i]) / s.bc2 + s.eps);
    const float a = std::fabs(mf[i]), w = std::fabs(vf[i]);
    if (a > am) am = a;
    if (w > av) av = w;
  }
  *sm = am;
  *sv = av;
  const float im = reciprocal(am), iv = reciprocal(av);
  for (int64_t i = 0; i < len; i++) {
    qm[i] = nearest(M.thM, double(mf[i] * im));
    qv[i] = nearest(M.thV, double(vf[i] * iv));
  }
}

void block_base(float* p, const float* g, uint8_t* qm, uint8_t* qv, float* sm, float* sv, int64_t len, const Maps& M, const F32Scalars& s,
                float* mf, float* vf) {
  g_block(p, g, qm, qv, sm, sv, len, M, s, mf, vf);
}
HALO_AVX2 void block_avx2(float* p, const float* g, uint8_t* qm, uint8_t* qv, float* sm, float* sv, int64_t len, const Maps& M,
                          const F32Scalars& s, float* mf, float* vf) {
  g_block(p, g, qm, qv, sm, sv, len, M, s, mf, vf);
}

// Codes of 8 values: the number of thresholds below each x (binary search, one gather per probe).
HALO_AVX512 HALO_INLINE __m256i codes8(const double* th, __m512d x) {
  __m256i idx = _mm256_setzero_si256();
  for (int s = 128; s >= 1; s >>= 1) {
    const __m256i probe = _mm256_add_epi32(idx, _mm256_set1_epi32(s - 1));
    const __m512d t = _mm512_i32gather_pd(probe, th, 8);
    const __mmask8 lt = _mm512_cmp_pd_mask(t, x, _CMP_LT_OQ);  // false for a NaN x, like `<` in JS
    idx = _mm256_mask_add_epi32(idx, lt, idx, _mm256_set1_epi32(s));
  }
  return idx;
}

// Codes of 16 values by the bucket index (exact maps only).
HALO_AVX512 HALO_INLINE __m128i codes16(const CodeIndex& ix, __m512 x) {
  const int lowBits = 23 - ix.mantBits;
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i neg = _mm512_srai_epi32(bits, 31);  // all ones for negative x
  // exponent · 2^mantBits + prefix; below 2^-27 → slot 0; capped at the last slot (|x| ≤ 1 never passes it).
  const __m512i mag = _mm512_srli_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF)), lowBits);
  const __m512i base = _mm512_set1_epi32((kLowestExp - 1) << ix.mantBits);
  const __m512i u = _mm512_min_epi32(_mm512_sub_epi32(_mm512_max_epi32(mag, base), base), _mm512_set1_epi32((kSlots << ix.mantBits) - 1));
  const __m512i bucket = _mm512_add_epi32(u, _mm512_and_si512(neg, _mm512_set1_epi32(kSlots << ix.mantBits)));
  const __mmask16 ordered = _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q);  // a NaN x reads kNeverEntry: code 0, as the search
  const __m512i e = _mm512_mask_i32gather_epi32(_mm512_set1_epi32(int(kNeverEntry)), ordered, bucket, reinterpret_cast<const int*>(ix.entry), 4);
  const __m512i low = _mm512_and_si512(_mm512_xor_si512(bits, neg), _mm512_set1_epi32((1 << lowBits) - 1));
  const __m512i c0 = _mm512_and_si512(e, _mm512_set1_epi32(0xFF));
  const __mmask16 up = _mm512_cmpge_epu32_mask(low, _mm512_srli_epi32(e, 8));
  return _mm512_cvtepi32_epi8(_mm512_mask_sub_epi32(c0, up, c0, _mm512_set1_epi32(-1)));
}

// t[idx] for 16 indices in [0, 256) without a gather (slow on some CPUs: it made the step 1.2× longer): eight
// 32-entry two-table permutes, then bits 5–7 of idx pick among them.
HALO_AVX512 HALO_INLINE __m512 lookup256(const float* t, __m512i idx) {
  __m512 r[8];
  for (int j = 0; j < 8; j++) r[j] = _mm512_permutex2var_ps(_mm512_loadu_ps(t + 32 * j), idx, _mm512_loadu_ps(t + 32 * j + 16));
  const __mmask16 k5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32)), k6 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(64)),
                  k7 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(128));
  const __m512 s0 = _mm512_mask_blend_ps(k5, r[0], r[1]), s1 = _mm512_mask_blend_ps(k5, r[2], r[3]);
  const __m512 s2 = _mm512_mask_blend_ps(k5, r[4], r[5]), s3 = _mm512_mask_blend_ps(k5, r[6], r[7]);
  return _mm512_mask_blend_ps(k7, _mm512_mask_blend_ps(k6, s0, s1), _mm512_mask_blend_ps(k6, s2, s3));
}

HALO_AVX512 void block_avx512(float* p, const float* grad, uint8_t* qm, uint8_t* qv, float* sm, float* sv, int64_t len, const Maps& M,
                              const F32Scalars& s, float* mf, float* vf) {
  using namespace nn;
  const __m512 b1 = _mm512_set1_ps(s.b1), b2 = _mm512_set1_ps(s.b2), c1 = _mm512_set1_ps(s.c1), c2 = _mm512_set1_ps(s.c2);
  const __m512 decay = _mm512_set1_ps(s.decay), step = _mm512_set1_ps(s.step), bc2 = _mm512_set1_ps(s.bc2), eps = _mm512_set1_ps(s.eps);
  const __m512 am0 = _mm512_set1_ps(*sm), av0 = _mm512_set1_ps(*sv);
  const __m512 absMask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  __m512 accM = _mm512_setzero_ps(), accV = _mm512_setzero_ps();
  for (int64_t i = 0; i < len; i += 16) {
    const __mmask16 k = tail16(len - i);
    // Map values of 16 codes (masked-off lanes read code 0), times the block's absmax.
    const __m512 m = _mm512_mul_ps(lookup256(M.m, _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, qm + i))), am0);
    const __m512 v = _mm512_mul_ps(lookup256(M.v, _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, qv + i))), av0);
    const __m512 g = _mm512_maskz_loadu_ps(k, grad + i);
    const __m512 mn = _mm512_add_ps(_mm512_mul_ps(b1, m), _mm512_mul_ps(c1, g));
    const __m512 vn = _mm512_add_ps(_mm512_mul_ps(b2, v), _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
    _mm512_mask_storeu_ps(mf + i, k, mn);
    _mm512_mask_storeu_ps(vf + i, k, vn);
    const __m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vn), bc2), eps);
    const __m512 pw = _mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + i), decay), _mm512_div_ps(_mm512_mul_ps(step, mn), den));
    _mm512_mask_storeu_ps(p + i, k, pw);
    // max(a, acc) is (a > acc ? a : acc): a NaN a leaves acc, as the oracle's `if (a > max)`. Tail lanes keep acc.
    accM = _mm512_mask_max_ps(accM, k, _mm512_and_ps(mn, absMask), accM);
    accV = _mm512_mask_max_ps(accV, k, _mm512_and_ps(vn, absMask), accV);
  }
  const float am = _mm512_reduce_max_ps(accM), av = _mm512_reduce_max_ps(accV);  // no NaN in acc: order is moot
  *sm = am;
  *sv = av;
  const __m512 im = _mm512_set1_ps(reciprocal(am)), iv = _mm512_set1_ps(reciprocal(av));
  const bool indexed = M.ixM->exact && M.ixV->exact;
  for (int64_t i = 0; i < len; i += 16) {
    const __mmask16 k = tail16(len - i);
    const __m512 xm = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, mf + i), im);
    const __m512 xv = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, vf + i), iv);
    if (indexed) {
      _mm_mask_storeu_epi8(qm + i, k, codes16(*M.ixM, xm));
      _mm_mask_storeu_epi8(qv + i, k, codes16(*M.ixV, xv));
    } else {
      const __m128i lo = _mm256_cvtepi32_epi8(codes8(M.thM, _mm512_cvtps_pd(_mm512_castps512_ps256(xm))));
      const __m128i hi = _mm256_cvtepi32_epi8(codes8(M.thM, _mm512_cvtps_pd(_mm512_extractf32x8_ps(xm, 1))));
      _mm_mask_storeu_epi8(qm + i, k, _mm_unpacklo_epi64(lo, hi));
      const __m128i vlo = _mm256_cvtepi32_epi8(codes8(M.thV, _mm512_cvtps_pd(_mm512_castps512_ps256(xv))));
      const __m128i vhi = _mm256_cvtepi32_epi8(codes8(M.thV, _mm512_cvtps_pd(_mm512_extractf32x8_ps(xv, 1))));
      _mm_mask_storeu_epi8(qv + i, k, _mm_unpacklo_epi64(vlo, vhi));
    }
  }
}

}  // namespace

void adamw8bit_update(float* param, const float* grad, uint8_t* qm, uint8_t* qv, float* mScale, float* vScale, int64_t n, int64_t block,
                      const float* mapM, const float* mapV, const AdamwScalars& s) {
  Maps M;
  M.m = mapM;
  M.v = mapV;
  for (int j = 0; j < 255; j++) {
    M.thM[j] = (double(mapM[j]) + double(mapM[j + 1])) / 2;
    M.thV[j] = (double(mapV[j]) + double(mapV[j + 1])) / 2;
  }
  M.thM[255] = M.thV[255] = INFINITY;
  const F32Scalars fs(s);
  const int t = kernel_tier();
  if (t == 2) {
    M.ixM = &index_of(mapM, M.thM);
    M.ixV = &index_of(mapV, M.thV);
  }
  auto f = t == 2 ? block_avx512 : t == 1 ? block_avx2 : block_base;
  const int64_t blocks = (n + block - 1) / block;
#pragma omp parallel if (n >= nn::kParallelMin)
  {
    // Rounded up to whole vectors of 16: the AVX-512 path's masked tails read and write inside it.
    const size_t room = size_t((std::min(block, n) + 15) / 16 * 16);
    std::vector<float> scratch(2 * room);
    float* mf = scratch.data();
    float* vf = mf + room;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t i = b * block, len = std::min(block, n - i);
      f(param + i, grad + i, qm + i, qv + i, mScale + b, vScale + b, len, M, fs, mf, vf);
    }
  }
}

}  // namespace halo
