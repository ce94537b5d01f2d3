// The N-API surface of halo_native.node: one registration table at the bottom. Arguments are TypedArrays
// (data used in place, never copied) and integers; every length is checked against the shape here, so a
// wrong call throws instead of touching memory it does not own. The typed TypeScript view of this surface
// is src/backend/native/binding.ts.
#include <napi.h>
#include <omp.h>

#include <string>

#include "common.h"
#include "cpu_features.h"
#include "gemm.h"
#include "hadamard.h"
#include "quantize.h"
#include "transpose.h"

namespace halo {

int num_threads() { return omp_get_max_threads(); }
void set_num_threads(int n) { omp_set_num_threads(n); }

namespace {

struct Bytes {
  void* data;
  size_t length;  // elements
  int elemBytes;
  napi_typedarray_type type;
};

Bytes typed(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsTypedArray()) throw ArgError(std::string(name) + " must be a TypedArray");
  Napi::TypedArray t = info[i].As<Napi::TypedArray>();
  Napi::ArrayBuffer buf = t.ArrayBuffer();
  Bytes b{static_cast<uint8_t*>(buf.Data()) + t.ByteOffset(), t.ElementLength(), int(t.ElementSize()), t.TypedArrayType()};
  return b;
}

Bytes typed_as(const Napi::CallbackInfo& info, size_t i, const char* name, napi_typedarray_type want, const char* wantName, size_t minLen) {
  Bytes b = typed(info, i, name);
  if (b.type != want) throw ArgError(std::string(name) + " must be a " + wantName);
  if (b.length < minLen)
    throw ArgError(std::string(name) + " has " + std::to_string(b.length) + " elements, needs " + std::to_string(minLen));
  return b;
}

int64_t integer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) throw ArgError(std::string(name) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 9.007199254740991e15) || v != double(int64_t(v))) throw ArgError(std::string(name) + " must be a non-negative integer");
  return int64_t(v);
}

int64_t signed_int(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) throw ArgError(std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

double number(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) throw ArgError(std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool boolean(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean()) throw ArgError(std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// Hadamard plan from (n, block, K, pow2, hadK|null, transpose) starting at argument i.
HadPlan plan_at(const Napi::CallbackInfo& info, size_t i) {
  HadPlan p;
  p.n = integer(info, i, "plan.n");
  p.block = integer(info, i + 1, "plan.block");
  p.K = integer(info, i + 2, "plan.K");
  p.pow2 = integer(info, i + 3, "plan.pow2");
  if (p.K > 1) p.hadK = static_cast<const int8_t*>(typed_as(info, i + 4, "plan.hadK", napi_int8_array, "Int8Array", size_t(p.K * p.K)).data);
  p.transpose = boolean(info, i + 5, "transpose");
  return p;
}

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("halo_native: ") + e.what());
  }
}

// ---------------------------------------------------------------- functions

Napi::Value CpuFeaturesJs(const Napi::CallbackInfo& info) {
  const CpuFeatures& f = cpu_features();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("avx2", f.avx2);
  o.Set("fma", f.fma);
  o.Set("avx512f", f.avx512f);
  o.Set("avx512bw", f.avx512bw);
  o.Set("avx512dq", f.avx512dq);
  o.Set("avx512vl", f.avx512vl);
  o.Set("avx512vnni", f.avx512vnni);
  o.Set("avx512bf16", f.avx512bf16);
  o.Set("avx512fp16", f.avx512fp16);
  o.Set("amxTile", f.amxTile);
  o.Set("amxInt8", f.amxInt8);
  o.Set("amxBf16", f.amxBf16);
  o.Set("tier", kernel_tier());
  return o;
}

// setKernelTier(tier: 0 portable | 1 AVX2 | 2 AVX-512) → tier in use (capped by the CPU)
Napi::Value SetKernelTierJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] { return Napi::Number::New(info.Env(), set_max_tier(int(integer(info, 0, "tier")))); });
}

Napi::Value GetThreadsJs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }

Napi::Value SetThreadsJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t n = integer(info, 0, "threads");
    if (n < 1) throw ArgError("threads must be ≥ 1");
    set_num_threads(int(n));
    return info.Env().Undefined();
  });
}

Napi::Value DnnlVersionJs(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dnnl_version_string()); }

constexpr const char* kGemmNames[] = {"f32", "bf16", "s8", "fp8e4m3", "fp8e5m2", "fp6e3m2"};

GemmType gemm_type(int64_t t) {
  if (t < 0 || t > 5) throw ArgError("unknown GEMM operand type " + std::to_string(t));
  return GemmType(t);
}

// gemmImpl(type, m, n, k) → oneDNN implementation name
Napi::Value GemmImplJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const GemmType t = gemm_type(signed_int(info, 0, "type"));
    return Napi::String::New(info.Env(), gemm_impl_name(t, integer(info, 1, "m"), integer(info, 2, "n"), integer(info, 3, "k")));
  });
}

// matmulT(type, a, b, m, n, k, alpha, out): out[m,n] = alpha·a[m,k]·b[n,k]ᵀ
Napi::Value MatmulTJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const GemmType t = gemm_type(signed_int(info, 0, "type"));
    const int64_t m = integer(info, 3, "m"), n = integer(info, 4, "n"), k = integer(info, 5, "k");
    const double alpha = number(info, 6, "alpha");
    napi_typedarray_type want;
    const char* wantName;
    switch (t) {
      case GemmType::f32: want = napi_float32_array; wantName = "Float32Array"; break;
      case GemmType::bf16: want = napi_uint16_array; wantName = "Uint16Array"; break;
      case GemmType::s8: want = napi_int8_array; wantName = "Int8Array"; break;
      default: want = napi_uint8_array; wantName = "Uint8Array";
    }
    const std::string an = std::string("A (") + kGemmNames[int(t)] + ")", bn = std::string("B (") + kGemmNames[int(t)] + ")";
    Bytes a = typed_as(info, 1, an.c_str(), want, wantName, size_t(m * k));
    Bytes b = typed_as(info, 2, bn.c_str(), want, wantName, size_t(n * k));
    Bytes o = typed_as(info, 7, "out", napi_float32_array, "Float32Array", size_t(m * n));
    gemm_abt(t, a.data, b.data, static_cast<float*>(o.data), m, n, k, alpha);
    return info.Env().Undefined();
  });
}

// transpose(src, dst, rows, cols): same TypedArray kind, 1/2/4/8-byte elements
Napi::Value TransposeJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Bytes s = typed(info, 0, "src"), d = typed(info, 1, "dst");
    const int64_t r = integer(info, 2, "rows"), c = integer(info, 3, "cols");
    if (s.elemBytes != d.elemBytes) throw ArgError("transpose: src and dst element sizes differ");
    if (s.length < size_t(r * c) || d.length < size_t(r * c)) throw ArgError("transpose: arrays are shorter than rows·cols");
    if (s.data == d.data && r > 1 && c > 1) throw ArgError("transpose: src and dst must not be the same memory");
    transpose2d(s.data, d.data, r, c, s.elemBytes);
    return info.Env().Undefined();
  });
}

// rotate(x, out, rows, cols, side, n, block, K, pow2, hadK|null, transpose); out may be x
Napi::Value RotateJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t r = integer(info, 2, "rows"), c = integer(info, 3, "cols");
    Bytes x = typed_as(info, 0, "x", napi_float32_array, "Float32Array", size_t(r * c));
    Bytes o = typed_as(info, 1, "out", napi_float32_array, "Float32Array", size_t(r * c));
    const int64_t side = signed_int(info, 4, "side");
    if (side != 0 && side != 1) throw ArgError("side must be 0 (right) or 1 (left)");
    const HadPlan p = plan_at(info, 5);
    hadamard_rotate(static_cast<const float*>(x.data), static_cast<float*>(o.data), r, c, Side(side), p);
    return info.Env().Undefined();
  });
}

// quantize(x, rows, cols, side, n, block, K, pow2, hadK|null, transpose, format, granularity, transposeOut,
//          unitScale, clipRatio, codes, scales, strategy) → 0 | count of non-finite values | -1 (scale overflow)
Napi::Value QuantizeJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    QuantArgs a;
    a.rows = integer(info, 1, "rows");
    a.cols = integer(info, 2, "cols");
    a.x = static_cast<const float*>(typed_as(info, 0, "x", napi_float32_array, "Float32Array", size_t(a.rows * a.cols)).data);
    const int64_t side = signed_int(info, 3, "side");
    if (side < -1 || side > 1) throw ArgError("side must be -1 (none), 0 (right) or 1 (left)");
    a.side = Side(side);
    if (a.side != Side::none) a.plan = plan_at(info, 4);
    const int64_t fmt = signed_int(info, 10, "format");
    if (fmt < 0 || fmt > 4) throw ArgError("unknown format " + std::to_string(fmt));
    a.format = Format(fmt);
    const int64_t g = signed_int(info, 11, "granularity");
    if (g < 0 || g > 2) throw ArgError("unknown granularity " + std::to_string(g));
    a.gran = Granularity(g);
    a.transposeOut = boolean(info, 12, "transposeOut");
    a.unitScale = boolean(info, 13, "unitScale");
    a.clipRatio = number(info, 14, "clipRatio");
    const size_t n = size_t(a.rows * a.cols);
    if (a.format == Format::bf16) a.codes = typed_as(info, 15, "codes", napi_uint16_array, "Uint16Array", n).data;
    else if (a.format == Format::int8) a.codes = typed_as(info, 15, "codes", napi_int8_array, "Int8Array", n).data;
    else a.codes = typed_as(info, 15, "codes", napi_uint8_array, "Uint8Array", n).data;
    const int64_t R = a.transposeOut ? a.cols : a.rows, C = a.transposeOut ? a.rows : a.cols;
    a.scales = static_cast<float*>(typed_as(info, 16, "scales", napi_float32_array, "Float32Array", size_t(quant_scale_count(a.gran, R, C))).data);
    const int64_t st = info.Length() > 17 ? signed_int(info, 17, "strategy") : 0;
    if (st < 0 || st > 2) throw ArgError("strategy must be 0 (auto), 1 (recompute) or 2 (scratch)");
    a.strategy = QuantStrategy(st);
    return Napi::Number::New(info.Env(), double(quantize(a)));
  });
}

// dequantize(codes, R, C, format, granularity, scales, out)
Napi::Value DequantizeJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t R = integer(info, 1, "R"), C = integer(info, 2, "C");
    const int64_t fmt = signed_int(info, 3, "format"), g = signed_int(info, 4, "granularity");
    if (fmt < 0 || fmt > 4) throw ArgError("unknown format " + std::to_string(fmt));
    if (g < 0 || g > 2) throw ArgError("unknown granularity " + std::to_string(g));
    const Format f = Format(fmt);
    const size_t n = size_t(R * C);
    const void* codes = f == Format::bf16 ? typed_as(info, 0, "codes", napi_uint16_array, "Uint16Array", n).data
                        : f == Format::int8 ? typed_as(info, 0, "codes", napi_int8_array, "Int8Array", n).data
                                            : typed_as(info, 0, "codes", napi_uint8_array, "Uint8Array", n).data;
    Bytes s = typed_as(info, 5, "scales", napi_float32_array, "Float32Array", size_t(quant_scale_count(Granularity(g), R, C)));
    Bytes o = typed_as(info, 6, "out", napi_float32_array, "Float32Array", n);
    dequantize(codes, R, C, f, Granularity(g), static_cast<const float*>(s.data), static_cast<float*>(o.data));
    return info.Env().Undefined();
  });
}

// ---------------------------------------------------------------- registration table

struct Entry {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

constexpr Entry kFunctions[] = {
    {"cpuFeatures", CpuFeaturesJs},
    {"setKernelTier", SetKernelTierJs},
    {"getThreads", GetThreadsJs},
    {"setThreads", SetThreadsJs},
    {"dnnlVersion", DnnlVersionJs},
    {"gemmImpl", GemmImplJs},
    {"matmulT", MatmulTJs},
    {"transpose", TransposeJs},
    {"rotate", RotateJs},
    {"quantize", QuantizeJs},
    {"dequantize", DequantizeJs},
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const Entry& e : kFunctions) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  return exports;
}

}  // namespace
}  // namespace halo

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return halo::Init(env, exports); }

NODE_API_MODULE(halo_native, InitModule)
