// GEMMs through oneDNN matmul. B arrives as [N,K] row-major; oneDNN's weights operand is [K,N], so we hand it
// the same memory described with format tag `ba` (strides {1, K}) — no copy. Primitives are cached by
// (type, M, N, K, scaled, threads): creating one costs ~0.1 ms, far more than a small GEMM.
//
// s8·s8: oneDNN computes in int32 and writes int32 into the output buffer (same 4 bytes per element); we
// then convert in place with out = fround(α·acc) in double, exactly as the TypeScript reference does.
// On x86 without AMX, oneDNN runs s8 sources on VNNI (vpdpbusd takes u8×s8) by adding 128 to the source
// and subtracting a precomputed 128·Σ_k B[k,n] compensation — exact, so we keep s8 sources.
#include "gemm.h"

#include <omp.h>

#include <dnnl.hpp>
#include <map>
#include <unordered_map>
#include <mutex>
#include <tuple>
#include <vector>

#include "codecs.h"

namespace halo {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct Entry {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

using Key = std::tuple<int, int64_t, int64_t, int64_t, bool, int>;

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

dt src_type(GemmType t) {
  switch (t) {
    case GemmType::f32: return dt::f32;
    case GemmType::s8: return dt::s8;
    default: return dt::bf16;  // bf16 and decoded fp8/fp6
  }
}

Entry& get_entry(GemmType type, int64_t M, int64_t N, int64_t K, bool scaled) {
  Context& c = ctx();
  const GemmType t = (type == GemmType::fp8e4m3 || type == GemmType::fp8e5m2 || type == GemmType::fp6e3m2) ? GemmType::bf16 : type;
  const Key key{int(t), M, N, K, scaled, omp_get_max_threads()};
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.cache.find(key);
  if (it != c.cache.end()) return it->second;
  if (c.cache.size() >= 256) c.cache.clear();  // shapes in training are few; this only bounds pathological use
  const dt in = src_type(t);
  const dt out = t == GemmType::s8 ? dt::s32 : dt::f32;
  dnnl::memory::desc a_md({M, K}, in, tag::ab);
  dnnl::memory::desc b_md({K, N}, in, tag::ba);  // B[N,K] row-major viewed as [K,N] with strides {1,K}
  dnnl::memory::desc c_md({M, N}, out, tag::ab);
  dnnl::primitive_attr attr;
  if (scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, c.eng);
  auto [pos, _] = c.cache.emplace(key, Entry{pd, dnnl::matmul(pd)});
  return pos->second;
}

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

// Thread-local scratch for decoded fp8/fp6 operands (reused across calls).
std::vector<uint16_t>& scratch(int i) {
  static thread_local std::vector<uint16_t> s[2];
  return s[i];
}

}  // namespace

void gemm_abt(GemmType type, const void* a, const void* b, float* out, int64_t M, int64_t N, int64_t K, double alpha) {
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M * N; i++) out[i] = 0.0f;
    return;
  }
  switch (type) {
    case GemmType::s8: {
      Entry& e = get_entry(type, M, N, K, false);
      run(e, a, b, out, 1.0f, false);
      int32_t* acc = reinterpret_cast<int32_t*>(out);
      const int64_t total = M * N;
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < total; i++) out[i] = float(alpha * double(acc[i]));
      return;
    }
    case GemmType::f32:
    case GemmType::bf16: {
      const bool scaled = alpha != 1.0;
      run(get_entry(type, M, N, K, scaled), a, b, out, float(alpha), scaled);
      return;
    }
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
      const bool scaled = alpha != 1.0;
      run(get_entry(GemmType::bf16, M, N, K, scaled), da.data(), db.data(), out, float(alpha), scaled);
      return;
    }
  }
  throw ArgError("gemm: unknown operand type " + std::to_string(int(type)));
}

std::string gemm_impl_name(GemmType type, int64_t M, int64_t N, int64_t K) {
  Entry& e = get_entry(type, M, N, K, type != GemmType::s8);
  return e.pd.impl_info_str();
}

std::string dnnl_version_string() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

}  // namespace halo
