// The output projection's three GEMMs: logits = h·Wᵀ, dW = dlogitsᵀ·h, dh = dlogits·W. HALO keeps lm_head out
// of the quantized path; its reference code runs it in BF16 like the rest of the model (spec §6), while halo
// defaults to f32. With `lmHead: 'bf16'` the operands are rounded to bf16 (RNE) and the GEMMs accumulate in
// f32 — what HALO's code and PyTorch bf16 autocast do — which halves the cost of the largest float GEMMs of a
// step at a large vocabulary. dW and dh read dlogits, h and W transposed in place (the backend's operand
// layouts), so neither precision copies an operand into its transpose.
import { floatMatrix as mat, type Backend } from '../backend/backend.ts';
import type { FloatArray } from '../core/dtype.ts';
import type { Tensor } from '../core/tensor.ts';

export type HeadPrecision = 'f32' | 'bf16';

/** x [rows, cols] rounded to bf16 codes [rows, cols]. */
function bf16(be: Backend, x: FloatArray, rows: number, cols: number): Tensor {
  return be.rotateQuantize(mat(x, rows, cols), null, 'bf16', 'tensor', { unitScale: true }).q;
}

/** logits [N, V] = h [N, C] · W [V, C]ᵀ. */
export function headForward(be: Backend, p: HeadPrecision, h: FloatArray, w: FloatArray, N: number, C: number, V: number): FloatArray {
  if (p === 'f32') return be.matmulT(mat(h, N, C), mat(w, V, C), 1).data;
  return be.matmulT(bf16(be, h, N, C), bf16(be, w, V, C), 1).data;
}

/** dW [V, C] = dl [N, V]ᵀ · h [N, C]. */
export function headWeightGrad(be: Backend, p: HeadPrecision, dl: FloatArray, h: FloatArray, N: number, C: number, V: number): FloatArray {
  if (p === 'f32') return be.matmul(mat(dl, N, V), mat(h, N, C), { aT: true }).data;
  return be.matmul(bf16(be, dl, N, V), bf16(be, h, N, C), { aT: true }).data;
}

/** dh [N, C] = dl [N, V] · W [V, C]. */
export function headInputGrad(be: Backend, p: HeadPrecision, dl: FloatArray, w: FloatArray, N: number, C: number, V: number): FloatArray {
  if (p === 'f32') return be.matmul(mat(dl, N, V), mat(w, V, C)).data;
  return be.matmul(bf16(be, dl, N, V), bf16(be, w, V, C)).data;
}
