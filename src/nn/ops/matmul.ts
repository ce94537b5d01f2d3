// A plain float linear layer, y = x·Wᵀ + b (torch.nn.Linear, weight [out, in] as HF stores it), with its
// backward. Used for lm_head and in tests; the quantized HALO linear lives in src/halo/. Saves nothing: the
// backward needs x and W, which the caller owns. Dot products and gradient rows are summed in f64 scratch
// (one row of K per call), then stored in the arrays' precision.
import type { FloatArray } from '../../core/dtype.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from './check.ts';

/**
 * @param x   [N, K] input rows
 * @param w   [M, K] weight
 * @param b   [M] bias, or null
 * @param out [N, M] optional output buffer
 * @returns   y [N, M]
 */
export function linearForward(x: FloatArray, w: FloatArray, b: FloatArray | null, N: number, K: number, M: number, out?: FloatArray): FloatArray {
  const op = 'linearForward';
  checkDims(op, { N, K, M });
  checkLen(op, 'x', x, N * K, '[N, K]');
  checkLen(op, 'w', w, M * K, '[M, K]');
  if (b) checkLen(op, 'b', b, M, '[M]');
  checkSameFloat(op, x, { w, b });
  const y = outBuffer(op, 'out', out, x, N * M, '[N, M]');
  for (let n = 0; n < N; n++) {
    const xo = n * K;
    for (let m = 0; m < M; m++) {
      const wo = m * K;
      let s = b ? b[m] : 0;
      for (let k = 0; k < K; k++) s += x[xo + k] * w[wo + k];
      y[n * M + m] = s;
    }
  }
  return y;
}

/**
 * dW += dyᵀ·x and db += Σ_n dy (ACCUMULATED, skipped when null: frozen weight / no bias);
 * dx = dy·W (WRITTEN; pass null to skip it, e.g. when x needs no gradient).
 * @param dy [N, M] gradient of y
 * @param x  [N, K] the forward's input
 * @param w  [M, K] weight
 * @param dw [M, K] weight gradient, or null
 * @param db [M] bias gradient, or null
 * @param dx [N, K] output buffer; omitted = allocated; null = not computed
 * @returns  dx [N, K], or null when dx was null
 */
export function linearBackward(
  dy: FloatArray,
  x: FloatArray,
  w: FloatArray,
  N: number,
  K: number,
  M: number,
  dw: FloatArray | null,
  db: FloatArray | null,
  dx?: FloatArray | null,
): FloatArray | null {
  const op = 'linearBackward';
  checkDims(op, { N, K, M });
  checkLen(op, 'dy', dy, N * M, '[N, M]');
  checkLen(op, 'x', x, N * K, '[N, K]');
  checkLen(op, 'w', w, M * K, '[M, K]');
  if (dw) checkLen(op, 'dw', dw, M * K, '[M, K]');
  if (db) checkLen(op, 'db', db, M, '[M]');
  checkSameFloat(op, x, { dy, w, dw, db });
  const acc = new Float64Array(K);
  if (dw) {
    for (let m = 0; m < M; m++) {
      acc.fill(0);
      for (let n = 0; n < N; n++) {
        const d = dy[n * M + m];
        if (d === 0) continue; // ignored CE rows give whole zero rows of dy
        const xo = n * K;
        for (let k = 0; k < K; k++) acc[k] += d * x[xo + k];
      }
      const wo = m * K;
      for (let k = 0; k < K; k++) dw[wo + k] += acc[k];
    }
  }
  if (db) {
    for (let m = 0; m < M; m++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy[n * M + m];
      db[m] += s;
    }
  }
  if (dx === null) return null;
  const g = outBuffer(op, 'dx', dx, x, N * K, '[N, K]');
  for (let n = 0; n < N; n++) {
    acc.fill(0);
    for (let m = 0; m < M; m++) {
      const d = dy[n * M + m];
      if (d === 0) continue;
      const wo = m * K;
      for (let k = 0; k < K; k++) acc[k] += d * w[wo + k];
    }
    g.set(acc, n * K);
  }
  return g;
}
