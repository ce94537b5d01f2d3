// The N-API surface of halo_native.node: one registration table at the bottom. Arguments are TypedArrays
// (data used in place, never copied) and integers; every length is checked against the shape here, so a
// wrong call throws instead of touching memory it does not own. The typed TypeScript view of this surface
// is src/backend/native/binding.ts.
#include <napi.h>
#include <omp.h>

#include <string>

#include "allocator.h"
#include "common.h"
#include "cpu_features.h"
#include "gemm.h"
#include "hadamard.h"
#include "nn.h"
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

// setSerialGemmWork(work) → previous: GEMMs with M·N·K < work run on one thread (0: never).
Napi::Value SetSerialGemmWorkJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t w = integer(info, 0, "work");
    if (w < 0) throw ArgError("work must be ≥ 0");
    return Napi::Number::New(info.Env(), double(set_serial_gemm_work(w)));
  });
}

Napi::Value DnnlVersionJs(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dnnl_version_string()); }

constexpr const char* kGemmNames[] = {"f32", "bf16", "s8", "fp8e4m3", "fp8e5m2", "fp6e3m2"};

GemmType gemm_type(int64_t t) {
  if (t < 0 || t > 5) throw ArgError("unknown GEMM operand type " + std::to_string(t));
  return GemmType(t);
}

// gemmImpl(type, m, n, k[, aKM, bKN]) → oneDNN implementation name
Napi::Value GemmImplJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const GemmType t = gemm_type(signed_int(info, 0, "type"));
    const bool aKM = info.Length() > 4 && boolean(info, 4, "aKM"), bKN = info.Length() > 5 && boolean(info, 5, "bKN");
    return Napi::String::New(info.Env(), gemm_impl_name(t, integer(info, 1, "m"), integer(info, 2, "n"), integer(info, 3, "k"), aKM, bKN));
  });
}

// The operands of matmul/matmulT of GEMM type t, with their lengths checked (a: m·k, b: n·k, out: m·n).
struct GemmArgs {
  Bytes a, b, out;
};
GemmArgs gemm_args(const Napi::CallbackInfo& info, GemmType t, size_t ia, size_t ib, size_t iout, int64_t m, int64_t n, int64_t k) {
  napi_typedarray_type want;
  const char* wantName;
  switch (t) {
    case GemmType::f32: want = napi_float32_array; wantName = "Float32Array"; break;
    case GemmType::bf16: want = napi_uint16_array; wantName = "Uint16Array"; break;
    case GemmType::s8: want = napi_int8_array; wantName = "Int8Array"; break;
    default: want = napi_uint8_array; wantName = "Uint8Array";
  }
  const std::string an = std::string("A (") + kGemmNames[int(t)] + ")", bn = std::string("B (") + kGemmNames[int(t)] + ")";
  return {typed_as(info, ia, an.c_str(), want, wantName, size_t(m * k)), typed_as(info, ib, bn.c_str(), want, wantName, size_t(n * k)),
          typed_as(info, iout, "out", napi_float32_array, "Float32Array", size_t(m * n))};
}

// matmulT(type, a, b, m, n, k, alpha, out): out[m,n] = alpha·a[m,k]·b[n,k]ᵀ
Napi::Value MatmulTJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const GemmType t = gemm_type(signed_int(info, 0, "type"));
    const int64_t m = integer(info, 3, "m"), n = integer(info, 4, "n"), k = integer(info, 5, "k");
    const double alpha = number(info, 6, "alpha");
    GemmArgs g = gemm_args(info, t, 1, 2, 7, m, n, k);
    gemm_abt(t, g.a.data, g.b.data, static_cast<float*>(g.out.data), m, n, k, alpha);
    return info.Env().Undefined();
  });
}

// matmul(type, a, b, m, n, k, aKM, bKN, alpha, out): out[m,n] = alpha·Σ_k A[m,k]·B[n,k] with a stored [m,k]
// (or [k,m] when aKM) and b stored [n,k] (or [k,n] when bKN)
Napi::Value MatmulJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const GemmType t = gemm_type(signed_int(info, 0, "type"));
    const int64_t m = integer(info, 3, "m"), n = integer(info, 4, "n"), k = integer(info, 5, "k");
    const bool aKM = boolean(info, 6, "aKM"), bKN = boolean(info, 7, "bKN");
    const double alpha = number(info, 8, "alpha");
    GemmArgs g = gemm_args(info, t, 1, 2, 9, m, n, k);
    gemm(t, g.a.data, g.b.data, static_cast<float*>(g.out.data), m, n, k, aKM, bKN, alpha);
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
    if (g < 0 || g > 3) throw ArgError("unknown granularity " + std::to_string(g));
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
    if (g < 0 || g > 3) throw ArgError("unknown granularity " + std::to_string(g));
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

// ---------------------------------------------------------------- nn kernels (nn.h; typed view: NativeNnAddon)

float* f32_at(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t minLen) {
  return static_cast<float*>(typed_as(info, i, name, napi_float32_array, "Float32Array", size_t(minLen)).data);
}

const int32_t* i32_at(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t minLen) {
  return static_cast<const int32_t*>(typed_as(info, i, name, napi_int32_array, "Int32Array", size_t(minLen)).data);
}

// A Uint8Array row mask, or null/undefined for none.
const uint8_t* mask_at(const Napi::CallbackInfo& info, size_t i, int64_t N) {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return static_cast<const uint8_t*>(typed_as(info, i, "mask", napi_uint8_array, "Uint8Array", size_t(N)).data);
}

// rmsnormForward(x, w, N, C, eps, y, rstd)
Napi::Value RmsnormForwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t N = integer(info, 2, "N"), C = integer(info, 3, "C");
    const double eps = number(info, 4, "eps");
    rmsnorm_forward(f32_at(info, 0, "x", N * C), f32_at(info, 1, "w", C), N, C, eps, f32_at(info, 5, "y", N * C), f32_at(info, 6, "rstd", N));
    return info.Env().Undefined();
  });
}

// rmsnormBackward(dy, x, w, rstd, N, C, dw | null, dx)
Napi::Value RmsnormBackwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t N = integer(info, 4, "N"), C = integer(info, 5, "C");
    float* dw = info.Length() > 6 && (info[6].IsNull() || info[6].IsUndefined()) ? nullptr : f32_at(info, 6, "dw", C);
    rmsnorm_backward(f32_at(info, 0, "dy", N * C), f32_at(info, 1, "x", N * C), f32_at(info, 2, "w", C), f32_at(info, 3, "rstd", N), N, C, dw,
                     f32_at(info, 7, "dx", N * C));
    return info.Env().Undefined();
  });
}

// addRmsnormForward(a, b, w, N, C, eps, x, y, rstd): x = a + b (x may be a or b), y/rstd its RMSNorm
Napi::Value AddRmsnormForwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t N = integer(info, 3, "N"), C = integer(info, 4, "C");
    const double eps = number(info, 5, "eps");
    add_rmsnorm_forward(f32_at(info, 0, "a", N * C), f32_at(info, 1, "b", N * C), f32_at(info, 2, "w", C), N, C, eps, f32_at(info, 6, "x", N * C),
                        f32_at(info, 7, "y", N * C), f32_at(info, 8, "rstd", N));
    return info.Env().Undefined();
  });
}

// rmsnormBackwardAdd(dy, x, w, rstd, N, C, dw | null, res, dx): dx = RMSNorm backward + res (dx may be dy or res)
Napi::Value RmsnormBackwardAddJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t N = integer(info, 4, "N"), C = integer(info, 5, "C");
    float* dw = info[6].IsNull() || info[6].IsUndefined() ? nullptr : f32_at(info, 6, "dw", C);
    rmsnorm_backward_add(f32_at(info, 0, "dy", N * C), f32_at(info, 1, "x", N * C), f32_at(info, 2, "w", C), f32_at(info, 3, "rstd", N), N, C, dw,
                         f32_at(info, 7, "res", N * C), f32_at(info, 8, "dx", N * C));
    return info.Env().Undefined();
  });
}

// ropeRotate(x, cos, sin, N, H, D, sign, out): sign +1 forward, −1 backward; out may be x
Napi::Value RopeRotateJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t N = integer(info, 3, "N"), H = integer(info, 4, "H"), D = integer(info, 5, "D");
    if (D % 2 != 0) throw ArgError("ropeRotate: head dimension D = " + std::to_string(D) + " must be even");
    const int64_t sign = signed_int(info, 6, "sign");
    if (sign != 1 && sign != -1) throw ArgError("ropeRotate: sign must be 1 (forward) or -1 (backward)");
    rope_rotate(f32_at(info, 0, "x", N * H * D), f32_at(info, 1, "cos", N * D / 2), f32_at(info, 2, "sin", N * D / 2), N, H, D, int(sign),
                f32_at(info, 7, "out", N * H * D));
    return info.Env().Undefined();
  });
}

// swigluForward(gate, up, out): n = gate.length
Napi::Value SwigluForwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t n = int64_t(typed_as(info, 0, "gate", napi_float32_array, "Float32Array", 0).length);
    swiglu_forward(f32_at(info, 0, "gate", n), f32_at(info, 1, "up", n), n, f32_at(info, 2, "out", n));
    return info.Env().Undefined();
  });
}

// swigluBackward(dh, gate, up, dgate, dup): n = gate.length
Napi::Value SwigluBackwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t n = int64_t(typed_as(info, 1, "gate", napi_float32_array, "Float32Array", 0).length);
    swiglu_backward(f32_at(info, 0, "dh", n), f32_at(info, 1, "gate", n), f32_at(info, 2, "up", n), n, f32_at(info, 3, "dgate", n),
                    f32_at(info, 4, "dup", n));
    return info.Env().Undefined();
  });
}

// crossEntropyForward(logits, targets, N, V, ignoreIndex, mask | null, lse) → { lossSum, count }
Napi::Value CrossEntropyForwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t N = integer(info, 2, "N"), V = integer(info, 3, "V");
    const CeRows rows{i32_at(info, 1, "targets", N), int32_t(signed_int(info, 4, "ignoreIndex")), mask_at(info, 5, N)};
    const CeSums s = cross_entropy_forward(f32_at(info, 0, "logits", N * V), N, V, rows, f32_at(info, 6, "lse", N));
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("lossSum", s.lossSum);
    o.Set("count", double(s.count));
    return Napi::Value(o);
  });
}

// crossEntropyBackward(logits, targets, lse, N, V, ignoreIndex, mask | null, inv, dlogits); dlogits may be logits
Napi::Value CrossEntropyBackwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t N = integer(info, 3, "N"), V = integer(info, 4, "V");
    const CeRows rows{i32_at(info, 1, "targets", N), int32_t(signed_int(info, 5, "ignoreIndex")), mask_at(info, 6, N)};
    cross_entropy_backward(f32_at(info, 0, "logits", N * V), N, V, rows, f32_at(info, 2, "lse", N), number(info, 7, "inv"),
                           f32_at(info, 8, "dlogits", N * V));
    return info.Env().Undefined();
  });
}

// embeddingForward(ids, wte, V, C, out): N = ids.length
Napi::Value EmbeddingForwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t V = integer(info, 2, "V"), C = integer(info, 3, "C");
    const int64_t N = int64_t(typed_as(info, 0, "ids", napi_int32_array, "Int32Array", 0).length);
    embedding_forward(i32_at(info, 0, "ids", N), N, f32_at(info, 1, "wte", V * C), V, C, f32_at(info, 4, "out", N * C));
    return info.Env().Undefined();
  });
}

// embeddingBackward(dout, ids, dwte, V, C): N = ids.length
Napi::Value EmbeddingBackwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t V = integer(info, 3, "V"), C = integer(info, 4, "C");
    const int64_t N = int64_t(typed_as(info, 1, "ids", napi_int32_array, "Int32Array", 0).length);
    embedding_backward(f32_at(info, 0, "dout", N * C), i32_at(info, 1, "ids", N), N, f32_at(info, 2, "dwte", V * C), V, C);
    return info.Env().Undefined();
  });
}

// adamwUpdate(param, grad, m, v, beta1, beta2, oneMinusBeta1, oneMinusBeta2, decay, stepSize, bc2Sqrt, eps): n = param.length
Napi::Value AdamwUpdateJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t n = int64_t(typed_as(info, 0, "param", napi_float32_array, "Float32Array", 0).length);
    AdamwScalars s;
    s.beta1 = number(info, 4, "beta1");
    s.beta2 = number(info, 5, "beta2");
    s.oneMinusBeta1 = number(info, 6, "oneMinusBeta1");
    s.oneMinusBeta2 = number(info, 7, "oneMinusBeta2");
    s.decay = number(info, 8, "decay");
    s.stepSize = number(info, 9, "stepSize");
    s.bc2Sqrt = number(info, 10, "bc2Sqrt");
    s.eps = number(info, 11, "eps");
    adamw_update(f32_at(info, 0, "param", n), f32_at(info, 1, "grad", n), f32_at(info, 2, "m", n), f32_at(info, 3, "v", n), n, s);
    return info.Env().Undefined();
  });
}

// adamw8bitUpdate(param, grad, qm, qv, mScale, vScale, mapM, mapV, block, beta1, beta2, oneMinusBeta1, oneMinusBeta2, decay,
//                 stepSize, bc2Sqrt, eps): n = param.length, ceil(n / block) scales
Napi::Value Adamw8bitUpdateJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t n = int64_t(typed_as(info, 0, "param", napi_float32_array, "Float32Array", 0).length);
    const int64_t block = integer(info, 8, "block");
    if (block < 1) throw ArgError("block must be ≥ 1");
    const int64_t nb = (n + block - 1) / block;
    AdamwScalars s;
    s.beta1 = number(info, 9, "beta1");
    s.beta2 = number(info, 10, "beta2");
    s.oneMinusBeta1 = number(info, 11, "oneMinusBeta1");
    s.oneMinusBeta2 = number(info, 12, "oneMinusBeta2");
    s.decay = number(info, 13, "decay");
    s.stepSize = number(info, 14, "stepSize");
    s.bc2Sqrt = number(info, 15, "bc2Sqrt");
    s.eps = number(info, 16, "eps");
    auto u8 = [&](size_t i, const char* name) { return static_cast<uint8_t*>(typed_as(info, i, name, napi_uint8_array, "Uint8Array", size_t(n)).data); };
    adamw8bit_update(f32_at(info, 0, "param", n), f32_at(info, 1, "grad", n), u8(2, "qm"), u8(3, "qv"), f32_at(info, 4, "mScale", nb),
                     f32_at(info, 5, "vScale", nb), n, block, f32_at(info, 6, "mapM", 256), f32_at(info, 7, "mapV", 256), s);
    return info.Env().Undefined();
  });
}

// addInto(dst, src): dst += src, n = dst.length
Napi::Value AddIntoJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t n = int64_t(typed_as(info, 0, "dst", napi_float32_array, "Float32Array", 0).length);
    add_into(f32_at(info, 0, "dst", n), f32_at(info, 1, "src", n), n);
    return info.Env().Undefined();
  });
}

// addIntoBf16(g, x): g = bf16(f32(g) + x) (bf16 bits in a Uint16Array), n = g.length
Napi::Value AddIntoBf16Js(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t n = int64_t(typed_as(info, 0, "g", napi_uint16_array, "Uint16Array", 0).length);
    add_into_bf16(static_cast<uint16_t*>(typed_as(info, 0, "g", napi_uint16_array, "Uint16Array", size_t(n)).data), f32_at(info, 1, "x", n), n);
    return info.Env().Undefined();
  });
}

// sumSquaresBf16(g, s0): s0 + Σ g² (double, index order), n = g.length
Napi::Value SumSquaresBf16Js(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const Bytes g = typed_as(info, 0, "g", napi_uint16_array, "Uint16Array", 0);
    return Napi::Number::New(info.Env(), sum_squares_bf16(static_cast<const uint16_t*>(g.data), int64_t(g.length), number(info, 1, "s0")));
  });
}

// scaleBf16(g, coef): g = bf16(f32(g · coef)), n = g.length
Napi::Value ScaleBf16Js(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const Bytes g = typed_as(info, 0, "g", napi_uint16_array, "Uint16Array", 0);
    scale_bf16(static_cast<uint16_t*>(g.data), int64_t(g.length), number(info, 1, "coef"));
    return info.Env().Undefined();
  });
}

// add(a, b, out): out = a + b, n = a.length; out may be a or b
Napi::Value AddJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t n = int64_t(typed_as(info, 0, "a", napi_float32_array, "Float32Array", 0).length);
    add(f32_at(info, 0, "a", n), f32_at(info, 1, "b", n), n, f32_at(info, 2, "out", n));
    return info.Env().Undefined();
  });
}

// attentionForward(q, k, v, keyMask | null, B, T, Hq, Hkv, D, window (0: none), scale, out, lse)
// attentionBackward(dout, q, k, v, lse, keyMask | null, B, T, Hq, Hkv, D, window, scale, dq, dk, dv)
struct AttnDims {
  int64_t B, T, Hq, Hkv, D, window;
  double scale;
  int64_t nq() const { return B * T * Hq * D; }
  int64_t nk() const { return B * T * Hkv * D; }
};

AttnDims attn_dims(const Napi::CallbackInfo& info, size_t i) {
  AttnDims d{integer(info, i, "B"), integer(info, i + 1, "T"), integer(info, i + 2, "Hq"), integer(info, i + 3, "Hkv"), integer(info, i + 4, "D"),
             integer(info, i + 5, "window"), number(info, i + 6, "scale")};
  if (d.B < 1 || d.T < 1 || d.D < 1) throw ArgError("attention: B, T and D must be ≥ 1");
  if (d.Hkv < 1 || d.Hq % d.Hkv != 0) throw ArgError("attention: Hq = " + std::to_string(d.Hq) + " must be a positive multiple of Hkv = " + std::to_string(d.Hkv));
  return d;
}

Napi::Value AttentionForwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const AttnDims d = attn_dims(info, 4);
    attention_forward(f32_at(info, 0, "q", d.nq()), f32_at(info, 1, "k", d.nk()), f32_at(info, 2, "v", d.nk()), mask_at(info, 3, d.B * d.T), d.B,
                      d.T, d.Hq, d.Hkv, d.D, d.window, d.scale, f32_at(info, 11, "out", d.nq()), f32_at(info, 12, "lse", d.B * d.Hq * d.T));
    return info.Env().Undefined();
  });
}

Napi::Value AttentionBackwardJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const AttnDims d = attn_dims(info, 6);
    attention_backward(f32_at(info, 0, "dout", d.nq()), f32_at(info, 1, "q", d.nq()), f32_at(info, 2, "k", d.nk()), f32_at(info, 3, "v", d.nk()),
                       f32_at(info, 4, "lse", d.B * d.Hq * d.T), mask_at(info, 5, d.B * d.T), d.B, d.T, d.Hq, d.Hkv, d.D, d.window, d.scale,
                       f32_at(info, 13, "dq", d.nq()), f32_at(info, 14, "dk", d.nk()), f32_at(info, 15, "dv", d.nk()));
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
    {"setSerialGemmWork", SetSerialGemmWorkJs},
    {"dnnlVersion", DnnlVersionJs},
    {"gemmImpl", GemmImplJs},
    {"matmulT", MatmulTJs},
    {"matmul", MatmulJs},
    {"transpose", TransposeJs},
    {"rotate", RotateJs},
    {"quantize", QuantizeJs},
    {"dequantize", DequantizeJs},
    {"rmsnormForward", RmsnormForwardJs},
    {"rmsnormBackward", RmsnormBackwardJs},
    {"addRmsnormForward", AddRmsnormForwardJs},
    {"rmsnormBackwardAdd", RmsnormBackwardAddJs},
    {"ropeRotate", RopeRotateJs},
    {"swigluForward", SwigluForwardJs},
    {"swigluBackward", SwigluBackwardJs},
    {"crossEntropyForward", CrossEntropyForwardJs},
    {"crossEntropyBackward", CrossEntropyBackwardJs},
    {"embeddingForward", EmbeddingForwardJs},
    {"embeddingBackward", EmbeddingBackwardJs},
    {"adamwUpdate", AdamwUpdateJs},
    {"adamw8bitUpdate", Adamw8bitUpdateJs},
    {"addInto", AddIntoJs},
    {"addIntoBf16", AddIntoBf16Js},
    {"sumSquaresBf16", SumSquaresBf16Js},
    {"scaleBf16", ScaleBf16Js},
    {"add", AddJs},
    {"attentionForward", AttentionForwardJs},
    {"attentionBackward", AttentionBackwardJs},
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const Entry& e : kFunctions) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  exports.Set("keepsFreedMemory", Napi::Boolean::New(env, keep_freed_memory()));
  return exports;
}

}  // namespace
}  // namespace halo

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return halo::Init(env, exports); }

NODE_API_MODULE(halo_native, InitModule)
