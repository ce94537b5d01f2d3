// Cache-blocked transpose. The matrix is cut into tiles of 64 KiB (128×128 4-byte elements, 256×256 bytes),
// spread over threads and staged through L1 buffers (see full()); inside a tile, square blocks that fill
// one 16-byte register per row (16×16 bytes, 8×8 halves, 4×4 words, 2×2 doubles) are transposed in
// registers with log2(block) rounds of SSE2 unpacks, so every load and store moves 16 contiguous bytes.
// SSE2 is part of the x86-64 baseline, so the same code serves every CPU; edges use plain loops.
//
// Unpack network: with rows r and byte columns p as bit strings, each round (unpack lo/hi of register
// pairs 2i, 2i+1 at unit width 1, 2, 4, 8 bytes) moves one column bit into the register index and one
// row bit into the position. After the last round register k holds column bitreverse(k), rows in order.
#include "transpose.h"

#include <emmintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace halo {
namespace {

template <int kLog>  // block side 2^kLog registers; element width 16 >> kLog bytes
HALO_INLINE void block_transpose(const uint8_t* src, int64_t ldS, uint8_t* dst, int64_t ldD) {
  constexpr int N = 1 << kLog;
  constexpr int W = 16 / N;  // element bytes
  __m128i x[N], t[N];
  for (int i = 0; i < N; i++) x[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * ldS * W));
  int width = W;  // unit width of the current round, bytes
  for (int round = 0; round < kLog; round++, width *= 2) {
    for (int i = 0; i < N / 2; i++) {
      const __m128i a = x[2 * i], b = x[2 * i + 1];
      switch (width) {
        case 1: t[i] = _mm_unpacklo_epi8(a, b); t[i + N / 2] = _mm_unpackhi_epi8(a, b); break;
        case 2: t[i] = _mm_unpacklo_epi16(a, b); t[i + N / 2] = _mm_unpackhi_epi16(a, b); break;
        case 4: t[i] = _mm_unpacklo_epi32(a, b); t[i + N / 2] = _mm_unpackhi_epi32(a, b); break;
        default: t[i] = _mm_unpacklo_epi64(a, b); t[i + N / 2] = _mm_unpackhi_epi64(a, b); break;
      }
    }
    for (int i = 0; i < N; i++) x[i] = t[i];
  }
  for (int c = 0; c < N; c++) {
    int rev = 0;
    for (int b = 0; b < kLog; b++) rev |= ((c >> b) & 1) << (kLog - 1 - b);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + c * ldD * W), x[rev]);
  }
}

// dst[c*ldD + r] = src[r*ldS + c] for a rows×cols region (strides in elements), single-threaded.
template <typename T>
void region(const T* src, int64_t ldS, T* dst, int64_t ldD, int64_t rows, int64_t cols) {
  constexpr int kLog = sizeof(T) == 1 ? 4 : sizeof(T) == 2 ? 3 : sizeof(T) == 4 ? 2 : 1;
  constexpr int64_t B = 1 << kLog;
  const int64_t rb = rows - rows % B, cb = cols - cols % B;
  for (int64_t r = 0; r < rb; r += B)
    for (int64_t c = 0; c < cb; c += B)
      block_transpose<kLog>(reinterpret_cast<const uint8_t*>(src + r * ldS + c), ldS, reinterpret_cast<uint8_t*>(dst + c * ldD + r), ldD);
  for (int64_t r = 0; r < rows; r++)  // right edge
    for (int64_t c = cb; c < cols; c++) dst[c * ldD + r] = src[r * ldS + c];
  for (int64_t r = rb; r < rows; r++)  // bottom edge
    for (int64_t c = 0; c < cb; c++) dst[c * ldD + r] = src[r * ldS + c];
}

// Tiles go through two contiguous L1 buffers: rows of a matrix whose row pitch is a multiple of 4 KiB all
// map to the same L1 set, so transposing straight between the strided arrays thrashes the cache; copying
// whole tile rows in and out keeps every strided access a long contiguous run.
template <typename T>
void full(const void* src, void* dst, int64_t rows, int64_t cols) {
  constexpr int64_t S = sizeof(T) == 1 ? 256 : 512 / int64_t(sizeof(T));  // tile side: 256-512 B runs, 64 KiB
  const T* s = static_cast<const T*>(src);
  T* d = static_cast<T*>(dst);
  const int64_t tr = (rows + S - 1) / S, tc = (cols + S - 1) / S;
  const int64_t tiles = tr * tc;
#pragma omp parallel if (rows * cols > (1 << 15))
  {
    static thread_local std::vector<T> bufA(S * S), bufB(S * S);
    T* a = bufA.data();
    T* b = bufB.data();
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
      // Tiles walk down a column of tiles first, so consecutive tiles of one thread write adjacent dst lines.
      const int64_t r0 = (t % tr) * S, c0 = (t / tr) * S;
      const int64_t h = std::min(S, rows - r0), w = std::min(S, cols - c0);
      for (int64_t i = 0; i < h; i++) std::memcpy(a + i * w, s + (r0 + i) * cols + c0, size_t(w) * sizeof(T));
      region(a, w, b, h, h, w);
      for (int64_t j = 0; j < w; j++) std::memcpy(d + (c0 + j) * rows + r0, b + j * h, size_t(h) * sizeof(T));
    }
  }
}

}  // namespace

void transpose_tile(const void* src, int64_t ldSrc, void* dst, int64_t ldDst, int64_t rows, int64_t cols, int elemBytes) {
  switch (elemBytes) {
    case 1: return region(static_cast<const uint8_t*>(src), ldSrc, static_cast<uint8_t*>(dst), ldDst, rows, cols);
    case 2: return region(static_cast<const uint16_t*>(src), ldSrc, static_cast<uint16_t*>(dst), ldDst, rows, cols);
    case 4: return region(static_cast<const uint32_t*>(src), ldSrc, static_cast<uint32_t*>(dst), ldDst, rows, cols);
    case 8: return region(static_cast<const uint64_t*>(src), ldSrc, static_cast<uint64_t*>(dst), ldDst, rows, cols);
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
    case 1: return full<uint8_t>(src, dst, rows, cols);
    case 2: return full<uint16_t>(src, dst, rows, cols);
    case 4: return full<uint32_t>(src, dst, rows, cols);
    case 8: return full<uint64_t>(src, dst, rows, cols);
  }
  throw ArgError("transpose: element size must be 1, 2, 4 or 8 bytes, got " + std::to_string(elemBytes));
}

}  // namespace halo
