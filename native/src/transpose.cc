// Cache-blocked transpose: tiles of 64×64 elements (a tile of 4-byte elements is 16 KB, so source and
// destination tiles both sit in L1), tiles spread over threads. Inside a tile, 8×8 sub-blocks are moved
// with registers so every destination line is written in full runs. The inner loops are plain C++ compiled
// three times (portable / AVX2 / AVX-512 targets) and picked at run time.
#include "transpose.h"

#include <cstring>

#include "cpu_features.h"

namespace halo {
namespace {

constexpr int64_t kTile = 64;

template <typename T>
HALO_INLINE void tile_kernel(const T* __restrict src, T* __restrict dst, int64_t rows, int64_t cols, int64_t r0, int64_t c0) {
  const int64_t r1 = r0 + kTile < rows ? r0 + kTile : rows;
  const int64_t c1 = c0 + kTile < cols ? c0 + kTile : cols;
  if (r1 - r0 == kTile && c1 - c0 == kTile) {
    // Full tile: 8×8 blocks through a small buffer the compiler keeps in registers.
    for (int64_t rb = r0; rb < r1; rb += 8) {
      for (int64_t cb = c0; cb < c1; cb += 8) {
        T blk[8][8];
        for (int i = 0; i < 8; i++)
          for (int j = 0; j < 8; j++) blk[j][i] = src[(rb + i) * cols + cb + j];
        for (int j = 0; j < 8; j++)
          for (int i = 0; i < 8; i++) dst[(cb + j) * rows + rb + i] = blk[j][i];
      }
    }
    return;
  }
  for (int64_t c = c0; c < c1; c++)
    for (int64_t r = r0; r < r1; r++) dst[c * rows + r] = src[r * cols + c];
}

template <typename T>
HALO_INLINE void transpose_t(const T* src, T* dst, int64_t rows, int64_t cols) {
  const int64_t tr = (rows + kTile - 1) / kTile, tc = (cols + kTile - 1) / kTile;
  const int64_t tiles = tr * tc;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 15))
  for (int64_t t = 0; t < tiles; t++) {
    // Tiles walk down a column of tiles first, so consecutive tiles of one thread write adjacent dst lines.
    const int64_t ti = t % tr, tj = t / tr;
    tile_kernel(src, dst, rows, cols, ti * kTile, tj * kTile);
  }
}

template <typename T>
HALO_AVX512 __attribute__((flatten)) void transpose_avx512(const T* s, T* d, int64_t r, int64_t c) { transpose_t(s, d, r, c); }
template <typename T>
HALO_AVX2 __attribute__((flatten)) void transpose_avx2(const T* s, T* d, int64_t r, int64_t c) { transpose_t(s, d, r, c); }
template <typename T>
__attribute__((flatten)) void transpose_base(const T* s, T* d, int64_t r, int64_t c) { transpose_t(s, d, r, c); }

template <typename T>
void dispatch(const void* src, void* dst, int64_t rows, int64_t cols) {
  const T* s = static_cast<const T*>(src);
  T* d = static_cast<T*>(dst);
  switch (kernel_tier()) {
    case 2: transpose_avx512(s, d, rows, cols); break;
    case 1: transpose_avx2(s, d, rows, cols); break;
    default: transpose_base(s, d, rows, cols);
  }
}

template <typename T>
HALO_INLINE void strided_t(const T* __restrict src, int64_t ldS, T* __restrict dst, int64_t ldD, int64_t rows, int64_t cols) {
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      T blk[8][8];
      for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) blk[j][i] = src[(r + i) * ldS + c + j];
      for (int j = 0; j < 8; j++)
        for (int i = 0; i < 8; i++) dst[(c + j) * ldD + r + i] = blk[j][i];
    }
    for (; c < cols; c++)
      for (int i = 0; i < 8; i++) dst[c * ldD + r + i] = src[(r + i) * ldS + c];
  }
  for (; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[c * ldD + r] = src[r * ldS + c];
}

template <typename T>
HALO_AVX512 __attribute__((flatten)) void strided_avx512(const T* s, int64_t a, T* d, int64_t b, int64_t r, int64_t c) { strided_t(s, a, d, b, r, c); }
template <typename T>
HALO_AVX2 __attribute__((flatten)) void strided_avx2(const T* s, int64_t a, T* d, int64_t b, int64_t r, int64_t c) { strided_t(s, a, d, b, r, c); }
template <typename T>
__attribute__((flatten)) void strided_base(const T* s, int64_t a, T* d, int64_t b, int64_t r, int64_t c) { strided_t(s, a, d, b, r, c); }

template <typename T>
void strided_dispatch(const void* src, int64_t ldS, void* dst, int64_t ldD, int64_t rows, int64_t cols) {
  const T* s = static_cast<const T*>(src);
  T* d = static_cast<T*>(dst);
  switch (kernel_tier()) {
    case 2: strided_avx512(s, ldS, d, ldD, rows, cols); break;
    case 1: strided_avx2(s, ldS, d, ldD, rows, cols); break;
    default: strided_base(s, ldS, d, ldD, rows, cols);
  }
}

}  // namespace

void transpose_tile(const void* src, int64_t ldSrc, void* dst, int64_t ldDst, int64_t rows, int64_t cols, int elemBytes) {
  switch (elemBytes) {
    case 1: return strided_dispatch<uint8_t>(src, ldSrc, dst, ldDst, rows, cols);
    case 2: return strided_dispatch<uint16_t>(src, ldSrc, dst, ldDst, rows, cols);
    case 4: return strided_dispatch<uint32_t>(src, ldSrc, dst, ldDst, rows, cols);
    case 8: return strided_dispatch<uint64_t>(src, ldSrc, dst, ldDst, rows, cols);
  }
  throw ArgError("transpose: element size must be 1, 2, 4 or 8 bytes");
}

void transpose2d(const void* src, void* dst, int64_t rows, int64_t cols, int elemBytes) {
  if (rows <= 0 || cols <= 0) return;
  if (rows == 1 || cols == 1) {
    std::memmove(dst, src, size_t(rows * cols * elemBytes));
    return;
  }
  switch (elemBytes) {
    case 1: return dispatch<uint8_t>(src, dst, rows, cols);
    case 2: return dispatch<uint16_t>(src, dst, rows, cols);
    case 4: return dispatch<uint32_t>(src, dst, rows, cols);
    case 8: return dispatch<uint64_t>(src, dst, rows, cols);
  }
  throw ArgError("transpose: element size must be 1, 2, 4 or 8 bytes, got " + std::to_string(elemBytes));
}

}  // namespace halo
