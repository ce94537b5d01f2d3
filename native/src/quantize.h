// Fused "rotate (optional) + absmax + quantize (+ transpose)" and its inverse, dequantize.
// Semantics are those of src/quant/quantize.ts applied to src/hadamard/transform.ts's rotation:
//   O = rotated x (or x); code matrix = O, or Oᵀ with transposeOut; groups = tensor | code row | 1×32 block
//   | 32×32 tile (of the code matrix; scales row-major over the tile grid)
//   scale = fround(absmax·clipRatio/qmax) in double (1 for an all-zero group; min subnormal on underflow)
//   code  = encode(O / scale) with the division in double, RNE, saturating.
#pragma once
#include "common.h"

namespace halo {

enum class QuantStrategy : int { automatic = 0, recompute = 1, scratch = 2 };

struct QuantArgs {
  const float* x = nullptr;  // [rows, cols]
  int64_t rows = 0, cols = 0;
  Side side = Side::none;
  HadPlan plan;  // used when side != none
  Format format = Format::int8;
  Granularity gran = Granularity::tensor;
  bool transposeOut = false;
  bool unitScale = false;
  double clipRatio = 1.0;
  void* codes = nullptr;    // [rows, cols] or [cols, rows]; 1 byte per code, 2 for bf16
  float* scales = nullptr;  // quant_scale_count(...)
  QuantStrategy strategy = QuantStrategy::automatic;
};

int64_t quant_scale_count(Granularity g, int64_t codeRows, int64_t codeCols);

// Result: 0 on success; > 0: that many non-finite values in the input (codes unspecified);
// -1: a scale overflowed f32 (absmax·clipRatio/qmax > FLT_MAX).
int64_t quantize(const QuantArgs& a);

// out[R, C] = scale·decode(codes[R, C]) in f32 (bit-identical to the reference: the product is exact in
// double, so rounding it once to f32 equals the f32 multiply).
void dequantize(const void* codes, int64_t R, int64_t C, Format f, Granularity g, const float* scales, float* out);

}  // namespace halo
