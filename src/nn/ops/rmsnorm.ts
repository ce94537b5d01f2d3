// RMSNorm as transformers' LlamaRMSNorm computes it: y = w ⊙ (x / sqrt(mean(x²) + eps)), the statistics taken
// per row in at least f32 (here the row sum is a JS number, i.e. f64) and the weight applied last.
// https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py (LlamaRMSNorm)
// Saves rstd [N] = 1/sqrt(mean(x²)+eps) so backward needs no second reduction over x; x itself is the
// caller's (it is the residual stream, kept anyway). Extra memory: N floats.
import type { FloatArray } from '../../core/dtype.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from './check.ts';

export interface RmsNormOut {
  /** [N, C] normalised, weighted output */
  y: FloatArray;
  /** [N] reciprocal RMS of each row, saved for backward */
  rstd: FloatArray;
}

/**
 * @param x   [N, C] input rows
 * @param w   [C] weight
 * @param eps added to mean(x²) (config rms_norm_eps)
 * @param out optional buffers: y [N, C], rstd [N]
 */
export function rmsnormForward(x: FloatArray, w: FloatArray, N: number, C: number, eps: number, out: { y?: FloatArray; rstd?: FloatArray } = {}): RmsNormOut {
  const op = 'rmsnormForward';
  checkRmsnormForwardArgs(x, w, N, C);
  const y = outBuffer(op, 'y', out.y, x, N * C, '[N, C]');
  const rstd = outBuffer(op, 'rstd', out.rstd, x, N, '[N]');
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[o + c] * x[o + c];
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) y[o + c] = w[c] * (x[o + c] * r);
  }
  return { y, rstd };
}

/**
 * With r = rstd[n] and x̂ = x·r:  dw += Σ_n dy ⊙ x̂  (ACCUMULATED),
 * dx = r·(w ⊙ dy) − x · r³ · (Σ_c dy_c w_c x_c) / C  (WRITTEN; dx may be the dy buffer itself).
 * @param dy   [N, C] gradient of y
 * @param x    [N, C] the forward input
 * @param w    [C] weight
 * @param rstd [N] saved by the forward
 * @param dw   [C] weight gradient, accumulated into; null when the weight is frozen
 * @param dx   [N, C] optional output buffer
 * @returns    dx [N, C]
 */
export function rmsnormBackward(
  dy: FloatArray,
  x: FloatArray,
  w: FloatArray,
  rstd: FloatArray,
  N: number,
  C: number,
  dw: FloatArray | null,
  dx?: FloatArray,
): FloatArray {
  const op = 'rmsnormBackward';
  checkRmsnormBackwardArgs(dy, x, w, rstd, N, C, dw);
  const g = outBuffer(op, 'dx', dx, x, N * C, '[N, C]');
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const r = rstd[n];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[o + c] * w[c] * x[o + c];
    const k = (r * r * r * dot) / C;
    // Read dy before writing dx at the same index, so dx === dy is safe.
    for (let c = 0; c < C; c++) {
      const d = dy[o + c];
      if (dw) dw[c] += d * x[o + c] * r;
      g[o + c] = r * w[c] * d - x[o + c] * k;
    }
  }
  return g;
}

/** The forward's shape and dtype checks (shared with the native kernels). */
export function checkRmsnormForwardArgs(x: FloatArray, w: FloatArray, N: number, C: number): void {
  const op = 'rmsnormForward';
  checkDims(op, { N, C });
  checkLen(op, 'x', x, N * C, '[N, C]');
  checkLen(op, 'w', w, C, '[C]');
  checkSameFloat(op, x, { w });
}

/** The backward's shape and dtype checks (shared with the native kernels). */
export function checkRmsnormBackwardArgs(dy: FloatArray, x: FloatArray, w: FloatArray, rstd: FloatArray, N: number, C: number, dw: FloatArray | null): void {
  const op = 'rmsnormBackward';
  checkDims(op, { N, C });
  checkLen(op, 'dy', dy, N * C, '[N, C]');
  checkLen(op, 'x', x, N * C, '[N, C]');
  checkLen(op, 'w', w, C, '[C]');
  checkLen(op, 'rstd', rstd, N, '[N]');
  if (dw) checkLen(op, 'dw', dw, C, '[C]');
  checkSameFloat(op, x, { dy, w, rstd, dw });
}
