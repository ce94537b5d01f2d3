// cpuid-based feature detection. The OS must also have enabled the register state (XCR0), otherwise the
// instructions fault even though cpuid advertises them (e.g. AVX-512 masked off by a hypervisor).
#include "cpu_features.h"

#include <cpuid.h>

#include <algorithm>
#include <cstdint>

namespace halo {
namespace {

uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool ymmState = (xcr0 & 0x6) == 0x6;
  const bool zmmState = (xcr0 & 0xe6) == 0xe6;
  const bool amxState = (xcr0 & 0x60000) == 0x60000;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = ymmState && (b & (1u << 5));
  f.avx512f = zmmState && (b & (1u << 16));
  f.avx512dq = f.avx512f && (b & (1u << 17));
  f.avx512bw = f.avx512f && (b & (1u << 30));
  f.avx512vl = f.avx512f && (b & (1u << 31));
  f.avx512vnni = f.avx512f && (c & (1u << 11));
  f.avx512fp16 = f.avx512f && (d & (1u << 23));
  f.amxBf16 = amxState && (d & (1u << 22));
  f.amxTile = amxState && (d & (1u << 24));
  f.amxInt8 = amxState && (d & (1u << 25));
  const unsigned maxSub = a;
  if (maxSub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512bf16 = f.avx512f && (a & (1u << 5));
  }
  f.fma = f.fma && ymmState;
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.fma) f.tier = 2;
  else if (f.avx2 && f.fma) f.tier = 1;
  return f;
}

int g_max_tier = 2;

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

int set_max_tier(int tier) {
  g_max_tier = std::clamp(tier, 0, 2);
  return kernel_tier();
}

int kernel_tier() { return std::min(g_max_tier, cpu_features().tier); }

}  // namespace halo
