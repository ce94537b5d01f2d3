// RMSNorm as transformers' LlamaRMSNorm computes it: y = w ⊙ (x / sqrt(mean(x²) + eps)), the statistics taken
// per row in at least f32 (here the row sum is a JS number, i.e. f64) and the weight applied last.
// https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py (LlamaRMSNorm)
// Saves rstd [N] = 1/sqrt(mean(x²)+eps) so backward needs no second reduction over x; x itself is the
// caller's (it is the residual stream, kept anyway). Extra memory: N floats.
import type { FloatArray } from '../../core/dtype.ts';
import { HaloError } from '../../core/errors.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from './check.ts';
import { add, addInPlace } from './elementwise.ts';

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

/**
 * The residual add and the norm after it, as one op (a backend may fuse them into one pass over the rows):
 * x = a + b, then rmsnormForward(x). x may be a or b (out.x); y must be neither.
 * @returns x [N, C] (the new residual stream), y [N, C], rstd [N]
 */
export function addRmsnormForward(
  a: FloatArray,
  b: FloatArray,
  w: FloatArray,
  N: number,
  C: number,
  eps: number,
  out: { x?: FloatArray; y?: FloatArray; rstd?: FloatArray } = {},
): RmsNormOut & { x: FloatArray } {
  checkAddRmsnormArgs(a, b, w, N, C, out);
  const x = add(a, b, out.x);
  return { x, ...rmsnormForward(x, w, N, C, eps, { y: out.y, rstd: out.rstd }) };
}

/**
 * The norm's backward with the residual's gradient added, as one op: rmsnormBackward(dy, x, w, rstd, …) + res.
 * dx may be dy or res. dw is ACCUMULATED as in rmsnormBackward.
 */
export function rmsnormBackwardAdd(
  dy: FloatArray,
  x: FloatArray,
  w: FloatArray,
  rstd: FloatArray,
  N: number,
  C: number,
  dw: FloatArray | null,
  res: FloatArray,
  dx?: FloatArray,
): FloatArray {
  checkRmsnormBackwardAddArgs(dy, x, w, rstd, N, C, dw, res);
  // With dx === res the norm's gradient cannot be written over res before the add: a temporary then.
  const g = rmsnormBackward(dy, x, w, rstd, N, C, dw, dx === res ? undefined : dx);
  addInPlace(g, res);
  if (dx === res) {
    res.set(g);
    return res;
  }
  return g;
}

/** rmsnormBackwardAdd's checks: rmsnormBackward's and the residual gradient's (shared with the native kernel). */
export function checkRmsnormBackwardAddArgs(
  dy: FloatArray,
  x: FloatArray,
  w: FloatArray,
  rstd: FloatArray,
  N: number,
  C: number,
  dw: FloatArray | null,
  res: FloatArray,
): void {
  checkRmsnormBackwardArgs(dy, x, w, rstd, N, C, dw);
  checkLen('rmsnormBackwardAdd', 'res', res, N * C, '[N, C]');
  checkSameFloat('rmsnormBackwardAdd', x, { res });
}

/** addRmsnormForward's checks beyond rmsnormForward's (shared with the native kernel). */
export function checkAddRmsnormArgs(a: FloatArray, b: FloatArray, w: FloatArray, N: number, C: number, out: { x?: FloatArray; y?: FloatArray }): void {
  const op = 'addRmsnormForward';
  checkRmsnormForwardArgs(a, w, N, C);
  checkLen(op, 'b', b, N * C, '[N, C]');
  checkSameFloat(op, a, { b });
  if (out.y !== undefined && (out.y === a || out.y === b || out.y === out.x)) {
    throw new HaloError('E_ARG', `${op}: y must be its own buffer (not a, b or x): the norm reads x after the add wrote it`);
  }
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
