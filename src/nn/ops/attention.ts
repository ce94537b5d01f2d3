// Causal grouped-query attention (transformers' eager_attention_forward with repeat_kv, as used by
// LlamaAttention): for query head h the key/value head is h / (Hq/Hkv), and
//   out[b, t, h] = Σ_j softmax_j(q[b,t,h] · k[b,j,g] · scale + mask) · v[b,j,g]
// over keys j ≤ t that are not padding (and, with a sliding window W, t − W < j).
// Memory: the forward keeps only the logsumexp of each score row, lse [B, Hq, T] (the FlashAttention
// trade): B·Hq·T floats instead of the B·Hq·T² probabilities, and backward recomputes the scores (one extra
// q·kᵀ). Backward also needs q, k, v, which the caller holds anyway (they are the projection outputs after
// RoPE). Scratch: a few rows of length T and D per call, plus 2·T·D doubles in backward — never T².
// A query row with no visible key (a padding query before its sequence's first real token) gets output 0,
// lse −∞ and gradient 0.
// https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py
import { HaloError } from '../../core/errors.ts';
import type { FloatArray } from '../../core/dtype.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from './check.ts';
import type { KvCache } from './kv-cache.ts';

/** Integer mask over key positions: nonzero = real token, 0 = padding (transformers' attention_mask). */
export type KeyMask = Uint8Array | Int32Array;

export interface AttentionOptions {
  /** [B, T] key padding mask ([B, capacity] for attentionDecode); omitted = every key is real */
  keyMask?: KeyMask | null;
  /** sliding window W (config sliding_window): query t sees keys j with t − W < j ≤ t; null = full causal */
  window?: number | null;
  /** score scale; default 1/√D */
  scale?: number;
}

export interface AttentionOut {
  /** [B, T, Hq, D] */
  out: FloatArray;
  /** [B, Hq, T] log Σ_j exp(score_j) per query row (−∞ for a row with no visible key); saved for backward */
  lse: FloatArray;
}

export interface AttentionGrads {
  /** [B, T, Hq, D] */
  dq: FloatArray;
  /** [B, T, Hkv, D] */
  dk: FloatArray;
  /** [B, T, Hkv, D] */
  dv: FloatArray;
}

/**
 * @param q [B, T, Hq, D] queries (after RoPE)
 * @param k [B, T, Hkv, D] keys (after RoPE)
 * @param v [B, T, Hkv, D] values
 * @param buffers optional outputs: out [B, T, Hq, D], lse [B, Hq, T]
 */
export function attentionForward(
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  B: number,
  T: number,
  Hq: number,
  Hkv: number,
  D: number,
  opts: AttentionOptions = {},
  buffers: { out?: FloatArray; lse?: FloatArray } = {},
): AttentionOut {
  const op = 'attentionForward';
  const g = geometry(op, B, T, T, Hq, Hkv, D, opts);
  checkLen(op, 'q', q, B * T * Hq * D, '[B, T, Hq, D]');
  checkLen(op, 'k', k, B * T * Hkv * D, '[B, T, Hkv, D]');
  checkLen(op, 'v', v, B * T * Hkv * D, '[B, T, Hkv, D]');
  checkSameFloat(op, q, { k, v });
  const out = outBuffer(op, 'out', buffers.out, q, B * T * Hq * D, '[B, T, Hq, D]');
  const lse = outBuffer(op, 'lse', buffers.lse, q, B * Hq * T, '[B, Hq, T]');
  attend(q, k, v, out, lse, g, T, 0);
  return { out, lse };
}

/**
 * Incremental attention for generation: the Tn newest positions of `cache` (already appended with
 * kvCacheAppend) attend to every cached position up to their own. Equals the rows of attentionForward over
 * the whole sequence.
 * @param q   [B, Tn, Hq, D] queries of the new positions (after RoPE)
 * @param opts keyMask is [B, cache.capacity]
 * @param out [B, Tn, Hq, D] optional output buffer
 * @returns   [B, Tn, Hq, D]
 */
export function attentionDecode(q: FloatArray, cache: KvCache, Tn: number, Hq: number, opts: AttentionOptions = {}, out?: FloatArray): FloatArray {
  const op = 'attentionDecode';
  const { B, capacity, Hkv, D } = cache;
  checkDims(op, { Tn });
  if (Tn > cache.length) {
    throw new HaloError(
      'E_ARG',
      `${op}: ${Tn} new queries but the KV cache holds only ${cache.length} positions; append the new keys/values (kvCacheAppend) first`,
    );
  }
  const g = geometry(op, B, Tn, capacity, Hq, Hkv, D, opts);
  checkLen(op, 'q', q, B * Tn * Hq * D, '[B, Tn, Hq, D]');
  checkSameFloat(op, q, { 'cache.k': cache.k });
  const y = outBuffer(op, 'out', out, q, B * Tn * Hq * D, '[B, Tn, Hq, D]');
  attend(q, cache.k, cache.v, y, null, g, Tn, cache.length - Tn);
  return y;
}

/**
 * With P = softmax rows (recomputed from lse), dP = dout·vᵀ and Δ_t = Σ_j P_tj dP_tj:
 *   dS = P ⊙ (dP − Δ),  dq = scale·dS·k,  dk = scale·dSᵀ·q,  dv = Pᵀ·dout,
 * dk/dv summed over the Hq/Hkv query heads sharing a key head. WRITES dq, dk, dv (every element).
 * @param dout [B, T, Hq, D] gradient of out
 * @param q    [B, T, Hq, D] the forward's q
 * @param k    [B, T, Hkv, D] the forward's k
 * @param v    [B, T, Hkv, D] the forward's v
 * @param lse  [B, Hq, T] saved by the forward
 * @param opts must be the forward's options
 * @param buffers optional outputs dq [B, T, Hq, D], dk, dv [B, T, Hkv, D]
 */
export function attentionBackward(
  dout: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  lse: FloatArray,
  B: number,
  T: number,
  Hq: number,
  Hkv: number,
  D: number,
  opts: AttentionOptions = {},
  buffers: Partial<AttentionGrads> = {},
): AttentionGrads {
  const op = 'attentionBackward';
  const geo = geometry(op, B, T, T, Hq, Hkv, D, opts);
  const { dq, dk, dv } = backwardBuffers(op, dout, q, k, v, lse, B, T, Hq, Hkv, D, buffers);
  const { rep, scale, mask, window } = geo;
  const p = new Float64Array(T); // probabilities of one query row
  const dp = new Float64Array(T); // dout · v_j of one query row
  const dqAcc = new Float64Array(D);
  // dk, dv of one (b, g) slice summed over its query heads in f64, then written once.
  const dkAcc = new Float64Array(T * D);
  const dvAcc = new Float64Array(T * D);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < Hkv; g++) {
      dkAcc.fill(0);
      dvAcc.fill(0);
      for (let r = 0; r < rep; r++) {
        const h = g * rep + r;
        for (let t = 0; t < T; t++) {
          const qo = ((b * T + t) * Hq + h) * D;
          const l = lse[(b * Hq + h) * T + t];
          if (l === -Infinity) {
            dq.fill(0, qo, qo + D);
            continue;
          }
          const j0 = window ? Math.max(0, t - window + 1) : 0;
          let delta = 0;
          for (let j = j0; j <= t; j++) {
            if (mask && mask[b * T + j] === 0) {
              p[j] = 0;
              continue;
            }
            const ko = ((b * T + j) * Hkv + g) * D;
            let s = 0;
            let d = 0;
            for (let c = 0; c < D; c++) {
              s += q[qo + c] * k[ko + c];
              d += dout[qo + c] * v[ko + c];
            }
            p[j] = Math.exp(s * scale - l);
            dp[j] = d;
            delta += p[j] * d;
          }
          dqAcc.fill(0);
          for (let j = j0; j <= t; j++) {
            if (p[j] === 0) continue; // masked, or underflowed: contributes nothing
            const ds = p[j] * (dp[j] - delta) * scale;
            const ko = ((b * T + j) * Hkv + g) * D;
            const ao = j * D;
            for (let c = 0; c < D; c++) {
              dqAcc[c] += ds * k[ko + c];
              dkAcc[ao + c] += ds * q[qo + c];
              dvAcc[ao + c] += p[j] * dout[qo + c];
            }
          }
          for (let c = 0; c < D; c++) dq[qo + c] = dqAcc[c];
        }
      }
      for (let j = 0; j < T; j++) {
        const ko = ((b * T + j) * Hkv + g) * D;
        for (let c = 0; c < D; c++) {
          dk[ko + c] = dkAcc[j * D + c];
          dv[ko + c] = dvAcc[j * D + c];
        }
      }
    }
  }
  return { dq, dk, dv };
}

interface Geometry {
  B: number;
  Hq: number;
  Hkv: number;
  D: number;
  /** key positions per sequence in k/v (T, or the cache capacity) */
  S: number;
  /** query heads per key/value head */
  rep: number;
  scale: number;
  mask: KeyMask | null;
  window: number | null;
}

/**
 * attentionForward/attentionBackward's argument rules (same codes and messages) for other implementations of
 * the op (the native kernel's wrapper); returns the scale and window they run with.
 */
/** The backward's inputs checked ([B, T, H, D] layouts, one float type) and its dq/dk/dv buffers (given or new). */
export function backwardBuffers(
  op: string,
  dout: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  lse: FloatArray,
  B: number,
  T: number,
  Hq: number,
  Hkv: number,
  D: number,
  buffers: Partial<AttentionGrads>,
): AttentionGrads {
  checkLen(op, 'dout', dout, B * T * Hq * D, '[B, T, Hq, D]');
  checkLen(op, 'q', q, B * T * Hq * D, '[B, T, Hq, D]');
  checkLen(op, 'k', k, B * T * Hkv * D, '[B, T, Hkv, D]');
  checkLen(op, 'v', v, B * T * Hkv * D, '[B, T, Hkv, D]');
  checkLen(op, 'lse', lse, B * Hq * T, '[B, Hq, T]');
  checkSameFloat(op, q, { dout, k, v, lse });
  const dq = outBuffer(op, 'dq', buffers.dq, q, B * T * Hq * D, '[B, T, Hq, D]');
  const dk = outBuffer(op, 'dk', buffers.dk, q, B * T * Hkv * D, '[B, T, Hkv, D]');
  const dv = outBuffer(op, 'dv', buffers.dv, q, B * T * Hkv * D, '[B, T, Hkv, D]');
  return { dq, dk, dv };
}

export function checkAttentionArgs(
  op: string,
  B: number,
  T: number,
  Hq: number,
  Hkv: number,
  D: number,
  opts: AttentionOptions,
): { scale: number; window: number | null } {
  const { scale, window } = geometry(op, B, T, T, Hq, Hkv, D, opts);
  return { scale, window };
}

function geometry(op: string, B: number, Tq: number, S: number, Hq: number, Hkv: number, D: number, opts: AttentionOptions): Geometry {
  checkDims(op, { B, T: Tq, Hq, Hkv, D });
  if (Hq % Hkv !== 0) {
    throw new HaloError(
      'E_SHAPE',
      `${op}: ${Hq} query heads cannot share ${Hkv} key/value heads; num_attention_heads must be a multiple of num_key_value_heads`,
    );
  }
  const mask = opts.keyMask ?? null;
  if (mask) checkLen(op, 'keyMask', mask, B * S, S === Tq ? '[B, T]' : '[B, capacity]');
  const window = opts.window ?? null;
  if (window !== null && (!Number.isInteger(window) || window < 1)) {
    throw new HaloError('E_ARG', `${op}: sliding window must be a positive integer or null, got ${window}`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  return { B, Hq, Hkv, D, S, rep: Hq / Hkv, scale, mask, window };
}

/**
 * The forward for Tq queries at absolute positions q0 … q0+Tq−1 over keys stored with S positions per
 * sequence; the full forward is q0 = 0, S = Tq, decoding is q0 = cache length − Tq, S = capacity.
 */
function attend(q: FloatArray, k: FloatArray, v: FloatArray, y: FloatArray, lse: FloatArray | null, geo: Geometry, Tq: number, q0: number): void {
  const { B, Hq, Hkv, D, S, rep, scale, mask, window } = geo;
  const s = new Float64Array(q0 + Tq); // scores of one query row
  const acc = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / rep);
      for (let t = 0; t < Tq; t++) {
        const pos = q0 + t;
        const qo = ((b * Tq + t) * Hq + h) * D;
        const j0 = window ? Math.max(0, pos - window + 1) : 0;
        let max = -Infinity;
        for (let j = j0; j <= pos; j++) {
          if (mask && mask[b * S + j] === 0) {
            s[j] = -Infinity;
            continue;
          }
          const ko = ((b * S + j) * Hkv + g) * D;
          let dot = 0;
          for (let c = 0; c < D; c++) dot += q[qo + c] * k[ko + c];
          s[j] = dot * scale;
          if (s[j] > max) max = s[j];
        }
        if (max === -Infinity) {
          y.fill(0, qo, qo + D);
          if (lse) lse[(b * Hq + h) * Tq + t] = -Infinity;
          continue;
        }
        let sum = 0;
        acc.fill(0);
        for (let j = j0; j <= pos; j++) {
          if (s[j] === -Infinity) continue;
          const e = Math.exp(s[j] - max);
          sum += e;
          const vo = ((b * S + j) * Hkv + g) * D;
          for (let c = 0; c < D; c++) acc[c] += e * v[vo + c];
        }
        for (let c = 0; c < D; c++) y[qo + c] = acc[c] / sum;
        if (lse) lse[(b * Hq + h) * Tq + t] = max + Math.log(sum);
      }
    }
  }
}
