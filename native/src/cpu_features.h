// Run-time CPU feature detection (cpuid + xgetbv), so one binary picks AVX-512 / AVX2 / portable kernels.
#pragma once

namespace halo {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512vnni = false, avx512bf16 = false, avx512fp16 = false;
  bool amxTile = false, amxInt8 = false, amxBf16 = false;
  // The tier our own kernels use: 2 = AVX-512 (F/BW/DQ/VL), 1 = AVX2+FMA, 0 = portable.
  int tier = 0;
};

const CpuFeatures& cpu_features();  // detected once
// Force a lower tier (tests run every code path on one machine); returns the tier now in use.
int set_max_tier(int tier);
int kernel_tier();

}  // namespace halo
