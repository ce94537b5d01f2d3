// A 2-D transpose copy of 1/2/4/8-byte elements: dst[c, r] = src[r, c].
#pragma once
#include "common.h"

namespace halo {

void transpose2d(const void* src, void* dst, int64_t rows, int64_t cols, int elemBytes);

// Single-threaded strided version for kernels that transpose a tile they own:
// dst[c*ldDst + r] = src[r*ldSrc + c] for r < rows, c < cols.
void transpose_tile(const void* src, int64_t ldSrc, void* dst, int64_t ldDst, int64_t rows, int64_t cols, int elemBytes);

}  // namespace halo
