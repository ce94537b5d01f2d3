// Shared definitions for the halo native kernels: the enums that cross the N-API boundary (their values
// are mirrored in src/backend/native/binding.ts), the ISA target strings used for run-time dispatch, and
// OpenMP helpers. Kernels take raw pointers and integer shapes; N-API lives only in binding.cc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace halo {

// Element formats of quantized codes (values mirrored in binding.ts: FORMAT_CODES).
enum class Format : int { int8 = 0, fp8e4m3 = 1, fp8e5m2 = 2, fp6e3m2 = 3, bf16 = 4 };

// GEMM operand types (mirrored in binding.ts: GEMM_TYPES). fp8/fp6 codes are decoded to bf16 first.
enum class GemmType : int { f32 = 0, bf16 = 1, s8 = 2, fp8e4m3 = 3, fp8e5m2 = 4, fp6e3m2 = 5 };

// Which side a rotation acts on (mirrored in binding.ts). none: no rotation.
enum class Side : int { none = -1, right = 0, left = 1 };

enum class Granularity : int { tensor = 0, row = 1, block32 = 2, tile32 = 3 };  // mirrored in binding.ts
constexpr int64_t kQuantBlock = 32;  // block32: elements per scale along a code row; tile32: the tile's side

// A Hadamard plan as the kernels see it: rotation length n = blocks·block, block = K·pow2.
// hadK: K×K ±1 matrix, row-major (null when K == 1).
struct HadPlan {
  int64_t n = 0, block = 0, K = 1, pow2 = 0;
  const int8_t* hadK = nullptr;
  bool transpose = false;
};

// An error a caller can cause (bad shape / argument); binding.cc turns it into a JS Error with code E_NATIVE.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define HALO_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,bmi2,prefer-vector-width=512")))
#define HALO_AVX2 __attribute__((target("avx2,fma,bmi2,f16c")))
#define HALO_INLINE inline __attribute__((always_inline))

int num_threads();          // omp_get_max_threads()
void set_num_threads(int);  // omp_set_num_threads (affects oneDNN too)

}  // namespace halo
