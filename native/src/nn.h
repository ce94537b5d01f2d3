// The model's element-wise ops (RMSNorm, RoPE, SwiGLU, cross-entropy, embedding, AdamW, residual adds) as
// native f32 kernels: the counterparts of src/nn/ops/*.ts and src/optim/adamw.ts (the oracle; typed view in
// src/backend/nn-kernels.ts). Once the GEMMs run in oneDNN, these loops are what is left of a training step.
//
// Numerics: like the TypeScript ops, every value is computed in double from the f32 inputs and rounded to
// f32 once when stored, in the same operation order, so element-wise results are bit-identical to the
// reference; reductions (row sums) are also in double but summed in a different order (vector lanes,
// threads), so a row statistic can differ from the reference in its last double bits and, rarely, its
// rounded f32 by one ulp. Accumulating outputs (dw of RMSNorm, the embedding gradient) add rows in the
// reference's row order, one f32 rounding per row, so they match bit for bit.
//
// Arguments are raw pointers + sizes, already validated by binding.cc (lengths) and the TypeScript wrapper
// (dims); the few checks that guard memory (token ids, targets) are repeated here and throw ArgError.
#pragma once
#include <cstdint>

#include "common.h"

namespace halo {

// y [N, C] = w ⊙ x·rstd, rstd [N] = 1/√(mean(x²) + eps). y may be x.
void rmsnorm_forward(const float* x, const float* w, int64_t N, int64_t C, double eps, float* y, float* rstd);

// dw [C] += Σ_n dy ⊙ x·rstd (if dw), dx [N, C] = rstd·(w ⊙ dy) − x·rstd³·(Σ_c dy·w·x)/C. dx may be dy.
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t N, int64_t C, float* dw,
                      float* dx);

// x = a + b, then y, rstd = rmsnorm_forward(x): the bits of add() followed by rmsnorm_forward. x may be a or b.
void add_rmsnorm_forward(const float* a, const float* b, const float* w, int64_t N, int64_t C, double eps, float* x, float* y,
                         float* rstd);

// dx = rmsnorm_backward(dy, x, w, rstd, …) + res, dw as rmsnorm_backward: the bits of rmsnorm_backward followed by
// add_into. dx may be dy or res.
void rmsnorm_backward_add(const float* dy, const float* x, const float* w, const float* rstd, int64_t N, int64_t C, float* dw,
                          const float* res, float* dx);

// Rotary embedding of x [N, H, D] by cos/sin [N, D/2], sin negated when sign < 0 (the backward). out may be x.
void rope_rotate(const float* x, const float* cos, const float* sin, int64_t N, int64_t H, int64_t D, int sign, float* out);

// h = silu(gate) ⊙ up over n elements. h may alias gate or up.
void swiglu_forward(const float* gate, const float* up, int64_t n, float* h);

// dgate = dh ⊙ up ⊙ σ(g)(1 + g(1 − σ(g))), dup = dh ⊙ g·σ(g). Outputs may alias the inputs (element-wise).
void swiglu_backward(const float* dh, const float* gate, const float* up, int64_t n, float* dgate, float* dup);

// Which rows of a cross-entropy count: target ≠ ignore and (no mask or mask[n] ≠ 0).
struct CeRows {
  const int32_t* targets;  // [N], each in [0, V) or == ignore (checked: ArgError otherwise)
  int32_t ignore;
  const uint8_t* mask;     // [N] or null
};

struct CeSums {
  double lossSum;  // Σ over counted rows of lse − logit[target] (lse in double, before rounding)
  int64_t count;
};

// lse [N] = logsumexp of each logits row [N, V].
CeSums cross_entropy_forward(const float* logits, int64_t N, int64_t V, const CeRows& rows, float* lse);

// dlogits = (softmax − onehot)·inv for counted rows, 0 for the others. dlogits may be logits.
void cross_entropy_backward(const float* logits, int64_t N, int64_t V, const CeRows& rows, const float* lse, double inv,
                            float* dlogits);

// out [N, C] = wte [V, C] rows ids [N] (checked against V).
void embedding_forward(const int32_t* ids, int64_t N, const float* wte, int64_t V, int64_t C, float* out);

// dwte [V, C] rows ids[n] += dout [N, C] row n, in order of n.
void embedding_backward(const float* dout, const int32_t* ids, int64_t N, float* dwte, int64_t V, int64_t C);

// One AdamW step of n elements, in place; the step-dependent scalars come from the caller (src/optim/adamw.ts
// computes them in JS doubles, so both sides use the very same values).
struct AdamwScalars {
  double beta1, beta2, oneMinusBeta1, oneMinusBeta2;
  double decay;     // 1 − lr·weight_decay
  double stepSize;  // lr / (1 − β1^t)
  double bc2Sqrt;   // √(1 − β2^t)
  double eps;
};
void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamwScalars& s);

// The same step with block-wise quantized moments (src/optim/adamw8bit.ts adamwBlockUpdate): codes qm, qv [n]
// index the ascending maps mapM, mapV [256]; mScale, vScale [ceil(n / block)] are each block's absmax.
// All of them are updated in place.
void adamw8bit_update(float* param, const float* grad, uint8_t* qm, uint8_t* qv, float* mScale, float* vScale, int64_t n, int64_t block,
                      const float* mapM, const float* mapV, const AdamwScalars& s);

// dst += src;  out = a + b (out may be a or b).
void add_into(float* dst, const float* src, int64_t n);
// g [n] bf16 bits = bf16(f32(g) + x), round to nearest even (nn_bf16_grad.cc).
void add_into_bf16(uint16_t* g, const float* x, int64_t n);
double sum_squares_bf16(const uint16_t* g, int64_t n, double s0);  // s0 + Σ g², in index order
void scale_bf16(uint16_t* g, int64_t n, double coef);              // g = bf16(f32(g · coef))
void add(const float* a, const float* b, int64_t n, float* out);

// Causal GQA attention (src/nn/ops/attention.ts; tiled, see nn_attention.cc): q [B, T, Hq, D], k, v [B, T, Hkv, D],
// keyMask [B, T] (nonzero = real key) or null, window W (0: none; query t sees keys t − W < j ≤ t), scores
// scaled by `scale`. Forward writes out [B, T, Hq, D] and lse [B, Hq, T] (−∞ and out 0 for a row with no
// visible key); backward takes the forward's lse and writes dq, dk, dv (every element). f32, within ~1e-6 of
// the f64 reference relative to each output's scale (not bit-identical: f32 products, another summation order).
void attention_forward(const float* q, const float* k, const float* v, const uint8_t* keyMask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv,
                       int64_t D, int64_t window, double scale, float* out, float* lse);
void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* lse, const uint8_t* keyMask, int64_t B,
                        int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int64_t window, double scale, float* dq, float* dk, float* dv);

}  // namespace halo
