// lm_head + cross-entropy fused and chunked over tokens: the loss (and, when training, dh and dW) without a
// [tokens, vocab] tensor. At a 152k vocabulary the unchunked head's logits (and the dlogits written over
// them) are the largest activation of a step (311 MB at 512 tokens). Here only rows with a counted target get
// logits at all (in chat fine-tuning most rows are prompt), and those go through `chunkTokens` rows at a time:
//   logits_c = h_c·Wᵀ → loss terms (nn's cross-entropy on the chunk) → dlogits_c written over logits_c →
//   dh_c = dlogits_c·W and dW += dlogits_cᵀ·h_c.
// Extra memory: per chunk its logits and one transposed copy of them (f32; bf16: its codes, half that), a
// DW_SLICE_BYTES temporary for dW, and with bf16 GEMMs on an f32 W the bf16 codes of W [V, C], made once per
// call. Measured at V = 151936, C = 896, 512 counted tokens, f32: 266 MiB at the peak, against 818 MiB unchunked
// (logits plus the [V, C] product of its dW GEMM). Casting vocabulary slices of W per chunk instead of all of it
// was tried: for Qwen2.5-0.5B's full fine-tune it took the peak from 9505 to 9260 MiB (the f32 head's: 9153) but
// the step from 5.08 to 6.24 s, slower than the f32 head's 5.64, so W's codes are made whole.
//
// The GEMMs are lm-head.ts's (f32, or bf16 operands with f32 accumulation) on the same operand values, and
// the loss is the backend's cross-entropy kernels, so the result equals the unchunked path (headForward +
// crossEntropyForward/Backward + headWeightGrad/headInputGrad). On the reference backend logits, dlogits and
// dh are the same bit for bit; lossSum differs by f64 rounding (chunk sums are added) and dW by one f32
// rounding per chunk (see accumulateWeightGrad); with one chunk everything is identical.
import { floatMatrix as mat, type Backend } from '../backend/backend.ts';
import type { NnKernels } from '../backend/nn-kernels.ts';
import { floatLike, type FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import { checkDims, checkLen, checkSameFloat } from '../nn/ops/check.ts';
import { IGNORE_INDEX } from '../nn/ops/cross-entropy.ts';
import type { HeadPrecision } from './lm-head.ts';
import { addIntoBf16 } from '../optim/bf16-grad.ts';

/** lm_head's weight W [V, C] as stored: f32, f64 (gradient checks), or raw bf16 bits (a frozen head kept as loaded). */
export type HeadWeight = { dtype: 'f32'; data: Float32Array } | { dtype: 'f64'; data: Float64Array } | { dtype: 'bf16'; data: Uint16Array };

export interface HeadLossOptions {
  /** GEMM operands: 'f32', or 'bf16' (rounded, f32 accumulation). A bf16-stored W always runs bf16 GEMMs. */
  precision: HeadPrecision;
  /** counted rows per chunk (default: defaultChunkTokens(V), logits of HEAD_CHUNK_BYTES) */
  chunkTokens?: number;
  /** vocabulary rows per dW GEMM (default: a DW_SLICE_BYTES [rows, C] temporary) */
  weightGradSliceRows?: number;
  /**
   * Training: also return dh and ACCUMULATE dW. dlogits = (softmax − onehot) / normalizer (the counted tokens
   * of the whole optimizer step, 1 / gradScale). dW [V, C] null: a frozen head (dh only).
   */
  grad?: { normalizer: number; dW: FloatArray | Uint16Array | null }; // Uint16Array: bf16 bits (--grad-dtype bf16)
}

export interface HeadLossResult {
  /** Σ over counted rows of −log softmax(h·Wᵀ)[target], summed in f64 */
  lossSum: number;
  /** rows whose target is not IGNORE_INDEX */
  count: number;
  /** [N, C] gradient of lossSum / normalizer with respect to h (zero rows where not counted); null without `grad` */
  dh: FloatArray | null;
}

/** The logits chunk's budget: 128 MiB of f32 logits (220 rows at a 152k vocabulary, 1048 at 32k). */
export const HEAD_CHUNK_BYTES = 128 * 2 ** 20;
/**
 * dW's per-GEMM temporary [rows, C]: small next to a chunk, rows enough (1170 at C = 896) for an efficient GEMM.
 * (32 MiB slices were tried: within this host's noise at the default bench shape, and 81 MiB more at the peak
 * of Qwen2.5-0.5B's full fine-tune.)
 */
export const DW_SLICE_BYTES = 4 * 2 ** 20;

/** Rows per chunk so that one chunk of f32 logits [rows, V] is about HEAD_CHUNK_BYTES. */
export function defaultChunkTokens(V: number): number {
  return Math.max(1, Math.floor(HEAD_CHUNK_BYTES / (V * 4)));
}

/**
 * The loss of logits = h·Wᵀ against targets, and in training dh and dW += ∂(lossSum / normalizer)/∂W.
 * On E_NUMERIC (a non-finite loss, from the chunk's cross-entropy) dW may already hold earlier chunks'
 * contributions: the trainer skips such a step and zeroes the gradients before the next.
 * @param h       [N, C] the final norm's output
 * @param w       [V, C] lm_head's weight (the embedding table when tied)
 * @param targets [N] next-token ids, or IGNORE_INDEX (−100) for no loss
 */
export function headLoss(
  be: Backend,
  nn: NnKernels,
  h: FloatArray,
  w: HeadWeight,
  targets: Int32Array,
  N: number,
  C: number,
  V: number,
  o: HeadLossOptions,
): HeadLossResult {
  const gemm = checkHeadLossArgs(h, w, targets, N, C, V, o);
  const rows = countedRows(targets, N, V);
  const count = rows.length;
  const grad = o.grad;
  const dh = grad ? floatLike(h, N * C) : null;
  if (count === 0) return { lossSum: 0, count, dh };

  const chunk = Math.min(o.chunkTokens ?? defaultChunkTokens(V), count);
  const run: ChunkRun = {
    be,
    nn,
    gemm,
    C,
    V,
    grad,
    dh,
    wOp: w.dtype === 'bf16' ? new Tensor([V, C], 'bf16', w.data) : operand(be, gemm, w.data, V, C), // [V, C]
    sliceRows: o.weightGradSliceRows ?? Math.max(1, Math.floor(DW_SLICE_BYTES / (C * 4))),
  };
  const hBuf = floatLike(h, chunk * C); // h_c [chunk, C], the chunk's rows gathered
  const tBuf = new Int32Array(chunk);
  let lossSum = 0;
  for (let r0 = 0; r0 < count; r0 += chunk) {
    const n = Math.min(chunk, count - r0);
    const hc = hBuf.subarray(0, n * C);
    const tc = tBuf.subarray(0, n);
    const rc = rows.subarray(r0, r0 + n);
    for (let i = 0; i < n; i++) {
      hc.set(h.subarray(rc[i] * C, rc[i] * C + C), i * C);
      tc[i] = targets[rc[i]];
    }
    lossSum += headLossChunk(run, hc, tc, rc);
  }
  return { lossSum, count, dh };
}

/** What every chunk shares. */
interface ChunkRun {
  be: Backend;
  nn: NnKernels;
  gemm: HeadPrecision;
  C: number;
  V: number;
  grad: HeadLossOptions['grad'];
  /** [N, C] written at the chunk's rows; null without grad */
  dh: FloatArray | null;
  /** W [V, C] as the GEMM operand */
  wOp: Tensor;
  sliceRows: number;
}

/**
 * One chunk: its loss sum, and in training its rows of dh and its share of dW. A function of its own so that
 * its [n, V] buffers are unreachable once it returns (a loop body's locals can stay alive in the
 * interpreter's registers into the next iteration, holding a second chunk's worth of memory).
 * @param hc   [n, C] the chunk's rows of h
 * @param tc   [n] their targets (all counted)
 * @param rows [n] their row indices in h
 */
function headLossChunk(run: ChunkRun, hc: FloatArray, tc: Int32Array, rows: Int32Array): number {
  const { be, nn, gemm, C, V, grad, dh, wOp } = run;
  const n = rows.length;
  const hOp = operand(be, gemm, hc, n, C); // [n, C]
  const logits = be.matmulT(hOp, wOp, 1).data; // [n, V]
  const ce = nn.crossEntropyForward(logits, tc, n, V);
  if (!grad || !dh) return ce.lossSum;
  const dl = nn.crossEntropyBackward(logits, tc, ce.lse, n, V, { normalizer: grad.normalizer }, logits); // [n, V]
  // dlᵀ [V, n]: its vocabulary rows are contiguous, so dW can be made in slices (accumulateWeightGrad).
  // f32 transposes dl (dh reads dl itself); bf16 rounds dl straight into transposed codes, read by both.
  let dlT: Tensor;
  let dhc: FloatArray; // [n, C]
  if (gemm === 'bf16') {
    dlT = operand(be, gemm, dl, n, V, true);
    dhc = be.matmul(dlT, wOp, { aT: true }).data;
  } else {
    dhc = be.matmul(mat(dl, n, V), wOp).data;
    dlT = be.transpose(mat(dl, n, V));
  }
  for (let i = 0; i < n; i++) dh.set(dhc.subarray(i * C, i * C + C), rows[i] * C);
  if (grad.dW) accumulateWeightGrad(be, nn, dlT, hOp, V, C, run.sliceRows, grad.dW);
  return ce.lossSum;
}

/**
 * dW [V, C] += dlT [V, n] · h_c [n, C], in slices of vocabulary rows. The backend's GEMM writes a fresh
 * output (no β = 1 accumulation into an existing one), so each slice's product is added into dW: every chunk
 * reads and writes all of dW once more (at V·C = 136M, ~1.1 GB of memory traffic per chunk: on a many-core
 * CPU the same order of time as the chunk's dW GEMM; bigger chunks pay it less often), and each chunk's
 * partial sum is rounded to f32 before the add. Slicing bounds the temporary to [sliceRows, C] instead of a
 * second [V, C].
 */
function accumulateWeightGrad(
  be: Backend,
  nn: NnKernels,
  dlT: Tensor,
  hOp: Tensor,
  V: number,
  C: number,
  sliceRows: number,
  dW: FloatArray | Uint16Array,
): void {
  for (let v0 = 0; v0 < V; v0 += sliceRows) {
    const v1 = Math.min(V, v0 + sliceRows);
    const part = be.matmul(rowRange(dlT, v0, v1), hOp).data; // [v1 − v0, C]
    if (dW instanceof Uint16Array) addIntoBf16(dW.subarray(v0 * C, v1 * C), part);
    else nn.addInto(dW.subarray(v0 * C, v1 * C), part);
  }
}

/** x [rows, cols] as a GEMM operand: itself (f32/f64), or its bf16 codes (of xᵀ [cols, rows] when transposed) as lm-head.ts rounds it. */
function operand(be: Backend, gemm: HeadPrecision, x: FloatArray, rows: number, cols: number, transposed = false): Tensor {
  if (gemm === 'bf16') return be.rotateQuantize(mat(x, rows, cols), null, 'bf16', 'tensor', { unitScale: true, transposeOut: transposed }).q;
  return mat(x, rows, cols);
}

/** Rows [r0, r1) of a contiguous matrix t [R, K], as a view (no copy). */
function rowRange(t: Tensor, r0: number, r1: number): Tensor {
  const k = t.shape[1];
  return new Tensor([r1 - r0, k], t.dtype, t.data.subarray(r0 * k, r1 * k));
}

/** Indices of the rows that have a loss, each target checked against the vocabulary. */
function countedRows(targets: Int32Array, N: number, V: number): Int32Array {
  let count = 0;
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (t === IGNORE_INDEX) continue;
    if (t < 0 || t >= V) {
      throw new HaloError('E_ARG', `headLoss: target ${t} at row ${n} is outside the vocabulary [0, ${V}) and is not the ignore index ${IGNORE_INDEX}`);
    }
    count++;
  }
  const rows = new Int32Array(count);
  for (let n = 0, i = 0; n < N; n++) if (targets[n] !== IGNORE_INDEX) rows[i++] = n;
  return rows;
}

/** Shapes, dtypes and options; returns the GEMM precision (bf16 whenever W is stored as bf16). */
function checkHeadLossArgs(h: FloatArray, w: HeadWeight, targets: Int32Array, N: number, C: number, V: number, o: HeadLossOptions): HeadPrecision {
  const op = 'headLoss';
  checkDims(op, { N, C, V });
  checkLen(op, 'h', h, N * C, '[N, C]');
  checkLen(op, 'targets', targets, N, '[N]');
  checkLen(op, 'w', w.data, V * C, '[V, C]');
  const storage = { f32: Float32Array, f64: Float64Array, bf16: Uint16Array }[w.dtype];
  if (!storage || !(w.data instanceof storage)) {
    throw new HaloError(
      'E_DTYPE',
      `${op}: w.dtype '${w.dtype}' needs a ${storage?.name ?? 'Float32Array, Float64Array or Uint16Array'}, got a ${w.data.constructor.name}`,
    );
  }
  if (o.precision !== 'f32' && o.precision !== 'bf16') {
    throw new HaloError('E_ARG', `${op}: precision must be 'f32' or 'bf16', got '${String(o.precision)}'`);
  }
  const f64 = h instanceof Float64Array;
  if (f64 !== (w.dtype === 'f64')) {
    throw new HaloError(
      'E_DTYPE',
      `${op}: h is a ${h.constructor.name} but w is ${w.dtype}; f64 inputs (gradient checks) need an f64 w, f32 inputs an f32 or bf16 w`,
    );
  }
  if (f64 && o.precision !== 'f32') {
    throw new HaloError('E_ARG', `${op}: precision 'bf16' needs f32 inputs; the f64 path is for gradient checks and runs f64 GEMMs (precision 'f32')`);
  }
  for (const [name, v] of [
    ['chunkTokens', o.chunkTokens],
    ['weightGradSliceRows', o.weightGradSliceRows],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new HaloError('E_ARG', `${op}: ${name} must be a positive integer, got ${v}`);
  }
  if (o.grad) {
    const { normalizer, dW } = o.grad;
    if (!(normalizer > 0) || !Number.isFinite(normalizer)) {
      throw new HaloError('E_ARG', `${op}: normalizer must be a positive finite number (the counted tokens of the step), got ${normalizer}`);
    }
    if (dW) {
      checkLen(op, 'dW', dW, V * C, '[V, C]');
      if (!(dW instanceof Uint16Array)) checkSameFloat(op, h, { dW });
    }
  }
  return w.dtype === 'bf16' ? 'bf16' : o.precision;
}
