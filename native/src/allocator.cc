// A training step allocates and frees the same large typed arrays every step (activations, logits, their
// gradients: gigabytes at the bench-step shape). Node backs them with glibc malloc, which serves blocks
// above 32 MiB with fresh mmap()s and hands freed heap tops back to the OS, so every step page-faults all of
// that memory in again and the kernel zeroes it: at the default bench-step shape on 2 cores that was ~2 s of
// system time per step. With mmap off for malloc, no trimming and a 256 MiB top pad, freed memory is reused
// in the process: system time halves and HALO-2 steps ran 8–19% faster in A/B runs (docs/performance.md).
// The price is that the process keeps its high-water mark of memory, which a training run reaches anyway.
// Skipped when the user set GLIBC_TUNABLES (their settings win) or HALO_MALLOC=system; glibc only.
#include "allocator.h"

#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace halo {

bool keep_freed_memory() {
#if defined(__GLIBC__)
  const char* own = std::getenv("HALO_MALLOC");
  if (std::getenv("GLIBC_TUNABLES") != nullptr || (own != nullptr && std::strcmp(own, "system") == 0)) return false;
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 0x7fffffff) == 1 && mallopt(M_TOP_PAD, 256 << 20) == 1;
#else
  return false;
#endif
}

}  // namespace halo
