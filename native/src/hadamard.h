// Block-diagonal Hadamard rotations Ĥ = I_{n/block} ⊗ (H_K ⊗ H_{pow2})/√block, on the right (over each row)
// or the left (over each column) of a row-major f32 matrix. See src/backend/backend.ts (Rotation).
#pragma once
#include <vector>

#include "common.h"

namespace halo {

// A plan prepared for the kernels: the K×K mixing coefficients (hadK or hadKᵀ, as f32) and 1/√block.
class HadKernel {
 public:
  explicit HadKernel(const HadPlan& plan);
  const HadPlan& plan() const { return plan_; }

  // Single-threaded pieces, used by the threaded drivers below and by the fused quantizer.
  // rows of length plan.n: dst[r] = src[r]·Ĥᵀ (·Ĥ when transpose); src may equal dst.
  void right_rows(const float* src, float* dst, int64_t nrows, int64_t ldSrc, int64_t ldDst) const;
  // columns [0, width) of a [plan.n, ·] matrix, width ≤ kMaxPanel: dst[:, c] = Ĥ·src[:, c] (Ĥᵀ when
  // transpose). The panel is first copied to dst, then transformed there: dst should be a compact buffer
  // (ldDst ≈ width), because butterflies over rows at a large power-of-two stride thrash the cache sets.
  void left_panel(const float* src, float* dst, int64_t ldSrc, int64_t ldDst, int64_t width) const;

  static constexpr int64_t kMaxPanel = 64;
  // Panel width for a left rotation over `rows` rows: the widest (≤ 64, multiple of 16) whose compact
  // buffer stays within ~512 KiB (L2).
  static int64_t panel_width(int64_t rows);

 private:
  HadPlan plan_;
  std::vector<float> coef_;  // coef_[k*K + l]: weight of input chunk l in output chunk k
  float scale_;
  int tier_;
};

// Threaded: out = rotated x (out may equal x). right: cols == plan.n; left: rows == plan.n.
void hadamard_rotate(const float* x, float* out, int64_t rows, int64_t cols, Side side, const HadPlan& plan);

// Checks a plan against the rotated dimension; throws ArgError with a clear message.
void check_plan(const HadPlan& plan, int64_t dim, const char* what);

}  // namespace halo
