// GEMMs through oneDNN matmul, with each operand in either row-major layout: A as [M,K] or [K,M], B as [N,K]
// or [K,N]. oneDNN's operands are src [M,K] and weights [K,N]; every layout is the same memory described with
// strides (A [K,M]: {1, M}; B [N,K]: {1, K}, format tag `ba`; B [K,N]: {N, 1}, tag `ab`) — never a copy, so a
// weight is stored once and the backward reads it (and the saved activations) transposed in place.
// Primitives are cached by (types, M, N, K, layouts and leading dimensions, scaled, threads): creating one
// costs ~0.1 ms, far more than a small GEMM.
// No layout is much slower than copying the operand to A·Bᵀ first, so none is copied (2 Zen 4 cores, shared
// and noisy, interleaved runs, min ms; `halo bench gemm --layouts ABt,AB,AtB --copy-compare`): s8
// 2048×4096×4096 A·Bᵀ 72.8, A·B 77.9 vs copy+A·Bᵀ 76.0, Aᵀ·B 71.1 vs 77.5 (oneDNN runs s8 Aᵀ on gemm:jit,
// not brgemm, at the same speed); bf16 A·B 168.9 vs 161.6, Aᵀ·B 162.8 vs 159.4; f32 A·B 289.6 vs 286.7,
// Aᵀ·B 299.5 vs 299.8; at 512×896×4864 and its transposes every layout is within noise of A·Bᵀ or faster.
//
// s8·s8: oneDNN computes in int32 and writes int32 into the output buffer (same 4 bytes per element); we
// then convert in place with out = fround(α·acc) in double, exactly as the TypeScript reference does.
// On x86 without AMX, oneDNN runs s8 sources on VNNI (vpdpbusd takes u8×s8) by adding 128 to the source
// and subtracting a precomputed 128·Σ_k B[k,n] compensation — exact, so we keep s8 sources.
//
// Without VNNI (AVX2-only CPUs such as Zen 3, or AVX-512 without VNNI) oneDNN 2.6's int8 kernels use
// vpmaddubsw, whose u8·s8 pair sums saturate at int16: the result is silently WRONG for full-range int8
// (measured: a 1×7×33 product off by thousands). There the s8 GEMM runs as f32 GEMMs over K-chunks of 1024:
// every partial sum is an integer of magnitude ≤ 128²·1024 = 2^24, which f32 holds exactly whatever the
// summation order, and the chunks are added in int32 — still bit-identical, at f32 GEMM speed. A chunk is
// the same strided view of the widened operand, offset by k0 along its K axis (a column offset when K is
// the row's contiguous axis, a row offset when it is not).
// bf16 matmul needs AVX-512 in oneDNN 2.6; without it bf16 (and decoded fp8/fp6) operands are widened to f32
// (exact) and run as an f32 GEMM, which is what oneDNN's bf16 kernels compute anyway (f32 accumulation).
// Widening and decoding are element-wise, so they keep the operand's layout.
// kernel_tier() < 2 (setKernelTier, used by the tests) forces both fallbacks, so one machine tests them all.
#include "gemm.h"

#include <omp.h>

#include <dnnl.hpp>
#include <algorithm>
#include <atomic>
#include <map>
#include <unordered_map>
#include <mutex>
#include <tuple>
#include <vector>

#include "codecs.h"
#include "cpu_features.h"

namespace halo {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct Entry {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

// How the two operands sit in memory: A [M,K] (a_km false) or [K,M]; B [N,K] (b_kn false) or [K,N]. lda and
// ldb are the stored row lengths; they exceed the problem's K only for the K-chunks of the s8 fallback.
struct Layout {
  bool a_km;
  bool b_kn;
  int64_t lda;
  int64_t ldb;
};

// The layout of a whole (unchunked) M×N×K problem.
Layout dense(int64_t M, int64_t N, int64_t K, bool a_km, bool b_kn) { return {a_km, b_kn, a_km ? M : K, b_kn ? N : K}; }

// (src type, dst type, M, N, K, A layout + ld, B layout + ld, scaled, threads)
using Key = std::tuple<int, int, int64_t, int64_t, int64_t, bool, int64_t, bool, int64_t, bool, int>;

struct Context {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::map<Key, Entry> cache;
  std::mutex mu;
};

Context& ctx() {
  static Context* c = new Context();  // never destroyed: oneDNN objects must outlive late finalizers
  return *c;
}

// src [M,K] and weights [K,N] as strided views of the stored A and B (see Layout); C [M,N] dense.
Entry& get_entry(dt in, dt out, int64_t M, int64_t N, int64_t K, const Layout& l, bool scaled) {
  Context& c = ctx();
  const Key key{int(in), int(out), M, N, K, l.a_km, l.lda, l.b_kn, l.ldb, scaled, omp_get_max_threads()};
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.cache.find(key);
  if (it != c.cache.end()) return it->second;
  if (c.cache.size() >= 256) c.cache.clear();  // shapes in training are few; this only bounds pathological use
  dnnl::memory::desc a_md({M, K}, in, l.a_km ? dnnl::memory::dims{1, l.lda} : dnnl::memory::dims{l.lda, 1});
  dnnl::memory::desc b_md({K, N}, in, l.b_kn ? dnnl::memory::dims{l.ldb, 1} : dnnl::memory::dims{1, l.ldb});
  dnnl::memory::desc c_md({M, N}, out, tag::ab);
  dnnl::primitive_attr attr;
  if (scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, c.eng);
  auto [pos, _] = c.cache.emplace(key, Entry{pd, dnnl::matmul(pd)});
  return pos->second;
}

// Whether oneDNN's own s8 kernels are exact here (VNNI or AMX; see the header comment).
bool native_s8() {
  const CpuFeatures& f = cpu_features();
  return kernel_tier() >= 2 && (f.avx512vnni || f.amxInt8);
}

// Whether oneDNN has a bf16 matmul on this CPU (asked once: creating a primitive is the only reliable test).
bool native_bf16() {
  static const bool ok = [] {
    try {
      get_entry(dt::bf16, dt::f32, 16, 16, 16, dense(16, 16, 16, false, false), false);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return ok && kernel_tier() >= 2;
}

constexpr int64_t kS8Chunk = 1024;  // 128²·1024 = 2^24: f32 sums of this many int8 products are exact

void run(Entry& e, const void* a, const void* b, void* c, float scale, bool scaled) {
  Context& x = ctx();
  dnnl::memory am(e.pd.src_desc(), x.eng, const_cast<void*>(a));
  dnnl::memory bm(e.pd.weights_desc(), x.eng, const_cast<void*>(b));
  dnnl::memory cm(e.pd.dst_desc(), x.eng, c);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
  dnnl::memory sm;
  if (scaled) {
    sm = dnnl::memory({{1}, dt::f32, tag::x}, x.eng, &scale);
    args.emplace(DNNL_ARG_ATTR_OUTPUT_SCALES, sm);
  }
  e.prim.execute(x.strm, args);
  x.strm.wait();
}

// Thread-local scratch for decoded operands (reused across calls).
std::vector<uint16_t>& scratch(int i) {
  static thread_local std::vector<uint16_t> s[2];
  return s[i];
}
std::vector<float>& scratch_f32(int i) {
  static thread_local std::vector<float> s[3];
  return s[i];
}

float* widened_s8(int i, const int8_t* x, int64_t n) {
  std::vector<float>& v = scratch_f32(i);
  v.resize(size_t(n));
  float* d = v.data();
#pragma omp parallel for schedule(static) if (n >= (int64_t(1) << 16))
  for (int64_t j = 0; j < n; j++) d[j] = float(x[j]);
  return d;
}

float* widened_bf16(int i, const uint16_t* x, int64_t n) {
  std::vector<float>& v = scratch_f32(i);
  v.resize(size_t(n));
  uint32_t* d = reinterpret_cast<uint32_t*>(v.data());
#pragma omp parallel for schedule(static) if (n >= (int64_t(1) << 16))
  for (int64_t j = 0; j < n; j++) d[j] = uint32_t(x[j]) << 16;
  return v.data();
}

// Element offset of column k0 of the K axis in a stored operand: K is contiguous ([M,K], [N,K]) or the row
// index ([K,M], [K,N], rows of length ld).
int64_t k_offset(bool k_rows, int64_t ld, int64_t k0) { return k_rows ? k0 * ld : k0; }

// Exact s8·s8 without VNNI: f32 GEMMs over K-chunks (header comment); out = fround(α·Σ chunks).
void s8_by_f32_chunks(const int8_t* a, const int8_t* b, float* out, int64_t M, int64_t N, int64_t K, const Layout& l, double alpha) {
  const float* fa = widened_s8(0, a, M * K);
  const float* fb = widened_s8(1, b, N * K);
  const int64_t total = M * N;
  if (K <= kS8Chunk) {
    run(get_entry(dt::f32, dt::f32, M, N, K, l, false), fa, fb, out, 1.0f, false);
#pragma omp parallel for schedule(static) if (total >= (int64_t(1) << 15))
    for (int64_t i = 0; i < total; i++) out[i] = float(alpha * double(out[i]));
    return;
  }
  std::vector<float>& tmp = scratch_f32(2);
  tmp.resize(size_t(total));
  std::vector<int32_t> acc(size_t(total), 0);
  for (int64_t k0 = 0; k0 < K; k0 += kS8Chunk) {
    const int64_t kc = std::min(kS8Chunk, K - k0);
    run(get_entry(dt::f32, dt::f32, M, N, kc, l, false), fa + k_offset(l.a_km, l.lda, k0), fb + k_offset(l.b_kn, l.ldb, k0), tmp.data(), 1.0f, false);
    const float* t = tmp.data();
    int32_t* s = acc.data();
#pragma omp parallel for schedule(static) if (total >= (int64_t(1) << 15))
    for (int64_t i = 0; i < total; i++) s[i] += int32_t(t[i]);
  }
#pragma omp parallel for schedule(static) if (total >= (int64_t(1) << 15))
  for (int64_t i = 0; i < total; i++) out[i] = float(alpha * double(acc[i]));
}

// bf16 bits (and decoded fp8/fp6) as bf16 GEMM when oneDNN has one, else widened to f32.
void bf16_gemm(const uint16_t* a, const uint16_t* b, float* out, int64_t M, int64_t N, int64_t K, const Layout& l, double alpha) {
  const bool scaled = alpha != 1.0;
  if (native_bf16()) {
    run(get_entry(dt::bf16, dt::f32, M, N, K, l, scaled), a, b, out, float(alpha), scaled);
    return;
  }
  const float* fa = widened_bf16(0, a, M * K);
  const float* fb = widened_bf16(1, b, N * K);
  run(get_entry(dt::f32, dt::f32, M, N, K, l, scaled), fa, fb, out, float(alpha), scaled);
}

// Products this small (a decode step: one token's row against a 256×768 weight; a short prompt's prefill)
// finish before a second thread is woken, so they run on the calling thread alone; the primitive cache keys
// on the thread count, so they get primitives made for one thread. `halo bench gemm --serial-compare` on 2
// Zen 4 cores, median ms on all threads vs one: f32 1×256×256 0.085 vs 0.014, 1×8192×256 (2^21) 0.32 vs
// 0.38, 256³ 0.23 vs 0.32; s8 1×256×256 0.134 vs 0.007, 256³ (2^24) 0.19 vs 0.11, 512×256×256 0.24 vs 0.20.
// Hence float GEMMs below 2^21 multiply-adds and s8 GEMMs below 16× that. Only where the bits cannot depend
// on the thread count: s8 (exact integer sums), and float GEMMs with α = 1, which oneDNN splits over M and N
// only. A float GEMM with a runtime output scale (attention scores) changes in the last bits with the thread
// count, so it keeps all threads (test/native/gemm.test.ts checks both).
constexpr int64_t kDefaultSerialWork = int64_t(1) << 21;
constexpr int64_t kS8SerialFactor = 16;
constexpr int64_t kSerialNever = INT64_MAX;

// set_serial_gemm_work moves the bound (halo bench gemm --serial-compare times both sides of it).
std::atomic<int64_t> g_serial_work{kDefaultSerialWork};

class SerialIfSmall {
 public:
  explicit SerialIfSmall(int64_t work) : prev_(omp_get_max_threads()) {
    if (work < g_serial_work.load(std::memory_order_relaxed) && prev_ > 1) omp_set_num_threads(1);
  }
  ~SerialIfSmall() { omp_set_num_threads(prev_); }
  SerialIfSmall(const SerialIfSmall&) = delete;
  SerialIfSmall& operator=(const SerialIfSmall&) = delete;

 private:
  int prev_;
};

}  // namespace

void gemm(GemmType type, const void* a, const void* b, float* out, int64_t M, int64_t N, int64_t K, bool a_km, bool b_kn, double alpha) {
  if (M <= 0 || N <= 0) return;
  // Scaled back to the float bound: an s8 product of 16× the work still runs on one thread.
  const int64_t work = M * N * K;
  const SerialIfSmall serial(type == GemmType::s8 ? work / kS8SerialFactor : alpha == 1.0 ? work : kSerialNever);
  if (K == 0) {
    for (int64_t i = 0; i < M * N; i++) out[i] = 0.0f;
    return;
  }
  const Layout l = dense(M, N, K, a_km, b_kn);
  switch (type) {
    case GemmType::s8: {
      if (!native_s8()) {
        s8_by_f32_chunks(static_cast<const int8_t*>(a), static_cast<const int8_t*>(b), out, M, N, K, l, alpha);
        return;
      }
      Entry& e = get_entry(dt::s8, dt::s32, M, N, K, l, false);
      run(e, a, b, out, 1.0f, false);
      int32_t* acc = reinterpret_cast<int32_t*>(out);
      const int64_t total = M * N;
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < total; i++) out[i] = float(alpha * double(acc[i]));
      return;
    }
    case GemmType::f32: {
      const bool scaled = alpha != 1.0;
      run(get_entry(dt::f32, dt::f32, M, N, K, l, scaled), a, b, out, float(alpha), scaled);
      return;
    }
    case GemmType::bf16:
      bf16_gemm(static_cast<const uint16_t*>(a), static_cast<const uint16_t*>(b), out, M, N, K, l, alpha);
      return;
    case GemmType::fp8e4m3:
    case GemmType::fp8e5m2:
    case GemmType::fp6e3m2: {
      const Format f = type == GemmType::fp8e4m3 ? Format::fp8e4m3 : type == GemmType::fp8e5m2 ? Format::fp8e5m2 : Format::fp6e3m2;
      std::vector<uint16_t>& da = scratch(0);
      std::vector<uint16_t>& db = scratch(1);
      da.resize(size_t(M * K));
      db.resize(size_t(N * K));
      decode_to_bf16(f, static_cast<const uint8_t*>(a), da.data(), M * K);
      decode_to_bf16(f, static_cast<const uint8_t*>(b), db.data(), N * K);
      bf16_gemm(da.data(), db.data(), out, M, N, K, l, alpha);
      return;
    }
  }
  throw ArgError("gemm: unknown operand type " + std::to_string(int(type)));
}

void gemm_abt(GemmType type, const void* a, const void* b, float* out, int64_t M, int64_t N, int64_t K, double alpha) {
  gemm(type, a, b, out, M, N, K, false, false, alpha);
}

int64_t set_serial_gemm_work(int64_t work) { return g_serial_work.exchange(work); }

std::string gemm_impl_name(GemmType type, int64_t M, int64_t N, int64_t K, bool a_km, bool b_kn) {
  const Layout l = dense(M, N, K, a_km, b_kn);
  if (type == GemmType::s8) {
    if (native_s8()) return get_entry(dt::s8, dt::s32, M, N, K, l, false).pd.impl_info_str();
    return std::string("f32 on exact int8 K-chunks (no VNNI): ") + get_entry(dt::f32, dt::f32, M, N, std::min(K, kS8Chunk), l, false).pd.impl_info_str();
  }
  if (type == GemmType::f32) return get_entry(dt::f32, dt::f32, M, N, K, l, true).pd.impl_info_str();
  if (native_bf16()) return get_entry(dt::bf16, dt::f32, M, N, K, l, true).pd.impl_info_str();
  return std::string("f32 on widened bf16 (no AVX-512 bf16 matmul): ") + get_entry(dt::f32, dt::f32, M, N, K, l, true).pd.impl_info_str();
}

std::string dnnl_version_string() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

}  // namespace halo
