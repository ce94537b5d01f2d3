// out[M,N] (f32) = α·Σ_k A[m,k]·B[n,k] through oneDNN matmul primitives (cached per shape/type/layout/threads),
// each operand read in either row-major layout (no transposed copies).
#pragma once
#include <string>

#include "common.h"

namespace halo {

// a, b: row-major codes of `type` (f32 / bf16 bits / int8 / fp8 / fp6 codes one per byte).
// out may not alias a or b. s8: exact int32 accumulation, out = fround(α·acc) with α·acc in double
// (bit-identical to the TypeScript reference). fp8/fp6: decoded exactly to bf16, then the bf16 GEMM.
// a_km: A is stored [K,M] (else [M,K]); b_kn: B is stored [K,N] (else [N,K]).
void gemm(GemmType type, const void* a, const void* b, float* out, int64_t M, int64_t N, int64_t K, bool a_km, bool b_kn, double alpha);

// The plain layouts: out = α·A[M,K]·B[N,K]ᵀ.
void gemm_abt(GemmType type, const void* a, const void* b, float* out, int64_t M, int64_t N, int64_t K, double alpha);

// Float GEMMs with α = 1 whose M·N·K is below `work`, and s8 GEMMs below 16·work, run on the calling
// thread only (default 2^21; the bits are the same either way); returns the previous bound.
int64_t set_serial_gemm_work(int64_t work);

// The oneDNN implementation name chosen for this problem (e.g. "brg:avx512_core_vnni"), for logs/benchmarks.
std::string gemm_impl_name(GemmType type, int64_t M, int64_t N, int64_t K, bool a_km = false, bool b_kn = false);

// oneDNN version string, e.g. "2.6.3".
std::string dnnl_version_string();

}  // namespace halo
