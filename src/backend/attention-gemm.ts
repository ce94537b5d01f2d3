// Causal GQA attention built on the backend's GEMM (matmulT, transpose): the same op as
// src/nn/ops/attention.ts (its exact semantics: causal + key padding mask + sliding window, 1/√D default
// scale, GQA head h → h / (Hq/Hkv), a query row with no visible key → output 0, lse −∞, gradient 0), with the
// T² dot products done by the backend's GEMM (oneDNN on the native backend) instead of plain JS loops. The
// reference op stays the oracle (test/backend/attention-gemm.test.ts). In f32 on the native backend the model now
// runs the addon's attention kernel instead (native/src/nn_attention.cc, via attention-kernels.ts);
// this path serves the reference backend, f64 inputs and an addon built without that kernel.
//
// Layout. Per (batch b, kv head g) the rep = Hq/Hkv query heads sharing g are gathered into one matrix
// Q_g [T·rep, D] with row (t, r) = t·rep + r, so ONE GEMM serves all of them, and every block of consecutive
// rows is a block of query positions (all rep heads) that sees the same key range. Queries are processed in
// tiles of blockT positions; tile [t0, t1) only multiplies keys [kLo, t1) (kLo = t0 − W + 1 with a window,
// else 0), so the causal upper triangle is skipped except inside the diagonal tile (waste ≈ blockT/T) and a
// sliding window costs O(T·W), not O(T²). Masking and softmax run row-wise in JS over the tile (f32 rows,
// f64 sums); in f32 the exponentials use expF32 below, which is what makes the JS part affordable.
//
// Memory: like the reference, the forward saves only lse [B, Hq, T] (B·Hq·T floats); the backward recomputes
// the score tile with one extra GEMM instead of keeping P [B, Hq, T, T] (B·Hq·T² floats: 64 MiB per layer for
// B=4, Hq=16, T=512 in f32 — ×layers, more than the weights of a small model), the FlashAttention trade. The
// backward's Δ_t = Σ_j P_tj·dP_tj is taken from the recomputed tile, so `out` need not be kept either (under
// HALO the o_proj input is saved only as 8-bit codes). Scratch: Q_g (and dO_g) [T·rep, D], K_g, V_g [T, D],
// f64 dK/dV accumulators [T, D], plus the backend's per-call results of at most [blockT·rep, T].
//
// Time (B=4, T=512, Hq=16, Hkv=4, D=64, f32, 2 cores, native backend): forward ≈ 0.11 s, backward ≈ 0.21 s
// (reference op: 2.7 s + 8.6 s). About a third is GEMM, the rest the JS passes over the tiles (exp, max,
// Δ) and the transposes of P and dS the backward's dk/dv GEMMs need.
import { HaloError } from '../core/errors.ts';
import type { FloatArray } from '../core/dtype.ts';
import { floatMatrix, type Backend } from './backend.ts';
import { backwardBuffers, type AttentionGrads, type AttentionOptions, type AttentionOut } from '../nn/ops/attention.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from '../nn/ops/check.ts';

/** Query positions per tile. 64 keeps the diagonal-tile waste at 12.5% for T = 512 while the tile GEMMs
 * ([64·rep, ≤T]·[≤T, D]) stay large enough for oneDNN to run near its peak. */
export const DEFAULT_BLOCK_T = 64;

export interface AttentionGemmOptions extends AttentionOptions {
  /** query positions per tile (default DEFAULT_BLOCK_T); any value ≥ 1 gives the same result */
  blockT?: number;
}

/**
 * @param be the backend whose matmulT/transpose run the GEMMs (native: oneDNN; reference: plain TS)
 * @param q [B, T, Hq, D] queries (after RoPE)
 * @param k [B, T, Hkv, D] keys (after RoPE)
 * @param v [B, T, Hkv, D] values
 * @param buffers optional outputs: out [B, T, Hq, D], lse [B, Hq, T] (every element is written)
 * @returns out [B, T, Hq, D] and lse [B, Hq, T] (pass it to attentionGemmBackward)
 */
export function attentionGemmForward(
  be: Backend,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  B: number,
  T: number,
  Hq: number,
  Hkv: number,
  D: number,
  opts: AttentionGemmOptions = {},
  buffers: { out?: FloatArray; lse?: FloatArray } = {},
): AttentionOut {
  const op = 'attentionGemmForward';
  const geo = geometry(op, B, T, Hq, Hkv, D, opts);
  checkLen(op, 'q', q, B * T * Hq * D, '[B, T, Hq, D]');
  checkLen(op, 'k', k, B * T * Hkv * D, '[B, T, Hkv, D]');
  checkLen(op, 'v', v, B * T * Hkv * D, '[B, T, Hkv, D]');
  checkSameFloat(op, q, { k, v });
  const out = outBuffer(op, 'out', buffers.out, q, B * T * Hq * D, '[B, T, Hq, D]');
  const lse = outBuffer(op, 'lse', buffers.lse, q, B * Hq * T, '[B, Hq, T]');
  const { rep, scale, blockT } = geo;
  const f64 = q instanceof Float64Array;
  const qg = make(f64, T * rep * D);
  const kg = make(f64, T * D);
  const vg = make(f64, T * D);
  const inv = new Float64Array(blockT * rep); // 1 / Σ_j exp(s_j − max) per tile row (0: no visible key)
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < Hkv; g++) {
      gather(q, b, T, Hq, g * rep, rep, D, qg);
      gather(k, b, T, Hkv, g, 1, D, kg);
      gather(v, b, T, Hkv, g, 1, D, vg);
      for (let t0 = 0; t0 < T; t0 += blockT) {
        const t1 = Math.min(T, t0 + blockT);
        const kLo = keyStart(geo, t0);
        const L = t1 - kLo;
        const rows = (t1 - t0) * rep;
        const qb = floatMatrix(qg.subarray(t0 * rep * D, t1 * rep * D), rows, D);
        const s = be.matmulT(qb, floatMatrix(kg.subarray(kLo * D, t1 * D), L, D), scale);
        expTile(s.data, geo, b, g, t0, t1, kLo, lse, inv);
        // E·V = matmulT(E, Vᵀ): V's key dim must be the contiguous one. Normalizing the [rows, D] result
        // instead of the [rows, L] tile saves a pass over the tile.
        const vt = be.transpose(floatMatrix(vg.subarray(kLo * D, t1 * D), L, D));
        const o = be.matmulT(s, vt);
        scatterRows(o.data, inv, b, T, Hq, g * rep, rep, D, t0, t1, out);
      }
    }
  }
  return { out, lse };
}

/**
 * With P recomputed from lse, dP = dout·vᵀ and Δ_t = Σ_j P_tj·dP_tj:
 *   dS = P ⊙ (dP − Δ),  dq = scale·dS·k,  dk = scale·dSᵀ·q,  dv = Pᵀ·dout,
 * dk/dv summed over the Hq/Hkv query heads sharing a key head (the GEMMs contract over their rows).
 * WRITES dq, dk, dv (every element).
 * @param dout  [B, T, Hq, D] gradient of out
 * @param q     [B, T, Hq, D] the forward's q
 * @param k     [B, T, Hkv, D] the forward's k
 * @param v     [B, T, Hkv, D] the forward's v
 * @param saved the forward's result; only lse [B, Hq, T] is read
 * @param opts  must be the forward's options (blockT may differ)
 * @param buffers optional outputs dq [B, T, Hq, D], dk, dv [B, T, Hkv, D]
 */
export function attentionGemmBackward(
  be: Backend,
  dout: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  saved: { lse: FloatArray },
  B: number,
  T: number,
  Hq: number,
  Hkv: number,
  D: number,
  opts: AttentionGemmOptions = {},
  buffers: Partial<AttentionGrads> = {},
): AttentionGrads {
  const op = 'attentionGemmBackward';
  const geo = geometry(op, B, T, Hq, Hkv, D, opts);
  const { lse } = saved;
  const { dq, dk, dv } = backwardBuffers(op, dout, q, k, v, lse, B, T, Hq, Hkv, D, buffers);
  const { rep, scale, blockT } = geo;
  const f64 = q instanceof Float64Array;
  const qg = make(f64, T * rep * D);
  const dog = make(f64, T * rep * D);
  const kg = make(f64, T * D);
  const vg = make(f64, T * D);
  // dk, dv of one (b, g) collect a contribution from every query tile; summed in f64, written once.
  const dkAcc = new Float64Array(T * D);
  const dvAcc = new Float64Array(T * D);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < Hkv; g++) {
      gather(q, b, T, Hq, g * rep, rep, D, qg);
      gather(dout, b, T, Hq, g * rep, rep, D, dog);
      gather(k, b, T, Hkv, g, 1, D, kg);
      gather(v, b, T, Hkv, g, 1, D, vg);
      dkAcc.fill(0);
      dvAcc.fill(0);
      for (let t0 = 0; t0 < T; t0 += blockT) {
        const t1 = Math.min(T, t0 + blockT);
        const kLo = keyStart(geo, t0);
        const L = t1 - kLo;
        const rows = (t1 - t0) * rep;
        const qb = floatMatrix(qg.subarray(t0 * rep * D, t1 * rep * D), rows, D);
        const dob = floatMatrix(dog.subarray(t0 * rep * D, t1 * rep * D), rows, D);
        const kb = floatMatrix(kg.subarray(kLo * D, t1 * D), L, D);
        const vb = floatMatrix(vg.subarray(kLo * D, t1 * D), L, D);
        const p = be.matmulT(qb, kb, scale); // scores, turned into P in place
        const ds = be.matmulT(dob, vb); // dP, turned into scale·dS in place
        softmaxGradTile(p.data, ds.data, geo, b, g, t0, t1, kLo, lse);
        // Every GEMM wants its contraction dim contiguous: k for dq, the query rows for dk and dv.
        const dqb = be.matmulT(ds, be.transpose(kb));
        scatter(dqb.data, b, T, Hq, g * rep, rep, D, t0, t1, dq);
        const dkb = be.matmulT(be.transpose(ds), be.transpose(qb));
        accumulate(dkAcc, kLo * D, dkb.data);
        const dvb = be.matmulT(be.transpose(p), be.transpose(dob));
        accumulate(dvAcc, kLo * D, dvb.data);
      }
      scatter(dkAcc, b, T, Hkv, g, 1, D, 0, T, dk);
      scatter(dvAcc, b, T, Hkv, g, 1, D, 0, T, dv);
    }
  }
  return { dq, dk, dv };
}

interface Geometry {
  T: number;
  Hq: number;
  rep: number;
  scale: number;
  /** [B, T] 0 for a real key, −∞ for padding (added to scores: exp then gives exactly 0); null = no mask */
  bias: Float64Array | null;
  window: number | null;
  blockT: number;
}

/** The reference op's argument rules (same codes and wording), plus blockT. */
function geometry(op: string, B: number, T: number, Hq: number, Hkv: number, D: number, opts: AttentionGemmOptions): Geometry {
  checkDims(op, { B, T, Hq, Hkv, D });
  if (Hq % Hkv !== 0) {
    throw new HaloError(
      'E_SHAPE',
      `${op}: ${Hq} query heads cannot share ${Hkv} key/value heads; num_attention_heads must be a multiple of num_key_value_heads`,
    );
  }
  const mask = opts.keyMask ?? null;
  if (mask) checkLen(op, 'keyMask', mask, B * T, '[B, T]');
  const window = opts.window ?? null;
  if (window !== null && (!Number.isInteger(window) || window < 1)) {
    throw new HaloError('E_ARG', `${op}: sliding window must be a positive integer or null, got ${window}`);
  }
  const blockT = opts.blockT ?? DEFAULT_BLOCK_T;
  if (!Number.isInteger(blockT) || blockT < 1) {
    throw new HaloError('E_ARG', `${op}: blockT must be a positive integer (query positions per tile), got ${blockT}`);
  }
  const bias = mask ? Float64Array.from(mask, (m) => (m === 0 ? -Infinity : 0)) : null;
  return { T, Hq, rep: Hq / Hkv, scale: opts.scale ?? 1 / Math.sqrt(D), bias, window, blockT };
}

/** First key any query of the tile starting at t0 can see. */
function keyStart(geo: Geometry, t0: number): number {
  return geo.window ? Math.max(0, t0 - geo.window + 1) : 0;
}

/**
 * Scores → unnormalized probabilities exp(s − rowmax), in place over the tile s [(t1−t0)·rep, L] (keys
 * kLo … t1−1); writes lse and inv[row] = 1 / row sum (0 for a row with no visible key). Entries a query must
 * not see (future, outside the window, padding) become exactly 0.
 */
function expTile(s: FloatArray, geo: Geometry, b: number, g: number, t0: number, t1: number, kLo: number, lse: FloatArray, inv: Float64Array): void {
  const { T, Hq, rep, bias, window } = geo;
  const fast = s instanceof Float32Array;
  const L = t1 - kLo;
  const mb = b * T;
  for (let t = t0; t < t1; t++) {
    const lo = window ? Math.max(kLo, t - window + 1) : kLo;
    for (let r = 0; r < rep; r++) {
      const row = ((t - t0) * rep + r) * L - kLo; // s[row + j] is the score of key j
      const li = (b * Hq + g * rep + r) * T + t;
      s.fill(0, row + kLo, row + lo);
      s.fill(0, row + t + 1, row + t1);
      let max = -Infinity;
      if (bias) {
        for (let j = lo; j <= t; j++) max = Math.max(max, s[row + j] + bias[mb + j]);
      } else {
        for (let j = lo; j <= t; j++) max = Math.max(max, s[row + j]);
      }
      if (max === -Infinity) {
        s.fill(0, row + lo, row + t + 1);
        lse[li] = -Infinity;
        inv[(t - t0) * rep + r] = 0;
        continue;
      }
      let sum = 0;
      for (let j = lo; j <= t; j++) {
        const x = (bias ? s[row + j] + bias[mb + j] : s[row + j]) - max;
        const e = fast ? expF32(x) : Math.exp(x);
        s[row + j] = e;
        sum += e;
      }
      inv[(t - t0) * rep + r] = 1 / sum;
      lse[li] = max + Math.log(sum);
    }
  }
}

/**
 * Over one tile [(t1−t0)·rep, L]: p holds scores → becomes P = exp(score − lse); dp holds dout·vᵀ → becomes
 * scale·dS with dS = P ⊙ (dP − Δ), Δ = Σ_j P_j·dP_j (every key a query sees lies in its tile, so Δ is
 * complete here; the scale is folded in so the dq and dk GEMMs need none). Invisible entries become 0.
 */
function softmaxGradTile(p: FloatArray, dp: FloatArray, geo: Geometry, b: number, g: number, t0: number, t1: number, kLo: number, lse: FloatArray): void {
  const { T, Hq, rep, bias, window, scale } = geo;
  const fast = p instanceof Float32Array;
  const L = t1 - kLo;
  const mb = b * T;
  for (let t = t0; t < t1; t++) {
    const lo = window ? Math.max(kLo, t - window + 1) : kLo;
    for (let r = 0; r < rep; r++) {
      const row = ((t - t0) * rep + r) * L - kLo;
      const l = lse[(b * Hq + g * rep + r) * T + t];
      if (l === -Infinity) {
        p.fill(0, row + kLo, row + t1);
        dp.fill(0, row + kLo, row + t1);
        continue;
      }
      p.fill(0, row + kLo, row + lo);
      p.fill(0, row + t + 1, row + t1);
      dp.fill(0, row + kLo, row + lo);
      dp.fill(0, row + t + 1, row + t1);
      let delta = 0;
      for (let j = lo; j <= t; j++) {
        const x = (bias ? p[row + j] + bias[mb + j] : p[row + j]) - l;
        const pj = fast ? expF32(x) : Math.exp(x);
        p[row + j] = pj;
        delta += pj * dp[row + j];
      }
      for (let j = lo; j <= t; j++) dp[row + j] = scale * p[row + j] * (dp[row + j] - delta);
    }
  }
}

/** dst [T·n, D] (row t·n + r) ← heads h0 … h0+n−1 of sequence b of src [B, T, H, D]. */
function gather(src: FloatArray, b: number, T: number, H: number, h0: number, n: number, D: number, dst: FloatArray): void {
  const w = n * D;
  for (let t = 0; t < T; t++) {
    const o = ((b * T + t) * H + h0) * D;
    dst.set(src.subarray(o, o + w), t * w);
  }
}

/** The inverse of gather for positions t0 … t1−1: src [(t1−t0)·n, D] → heads h0 … h0+n−1 of dst [B, T, H, D]. */
function scatter(src: FloatArray, b: number, T: number, H: number, h0: number, n: number, D: number, t0: number, t1: number, dst: FloatArray): void {
  const w = n * D;
  for (let t = t0; t < t1; t++) dst.set(src.subarray((t - t0) * w, (t - t0 + 1) * w), ((b * T + t) * H + h0) * D);
}

/** scatter() of rows scaled by inv[row]: src [(t1−t0)·n, D]. */
function scatterRows(
  src: FloatArray,
  inv: Float64Array,
  b: number,
  T: number,
  H: number,
  h0: number,
  n: number,
  D: number,
  t0: number,
  t1: number,
  dst: FloatArray,
): void {
  for (let t = t0; t < t1; t++) {
    const o = ((b * T + t) * H + h0) * D;
    for (let r = 0; r < n; r++) {
      const row = (t - t0) * n + r;
      const c = inv[row];
      for (let i = 0; i < D; i++) dst[o + r * D + i] = src[row * D + i] * c;
    }
  }
}

function accumulate(acc: Float64Array, at: number, x: FloatArray): void {
  for (let i = 0; i < x.length; i++) acc[at + i] += x[i];
}

// exp for the f32 path: Math.exp costs ~11 ns in V8 and would be most of the op's time (one exp per
// visible score, forward and backward). exp(x) = 2^(n/32)·e^r with n = round(x·32/ln2), |r| ≤ ln2/64, e^r by
// its cubic Taylor polynomial (truncation r⁴/24 ≤ 6e-10 relative, far below f32's 6e-8), 2^(n/32) from a
// table: ~3 ns. f64 inputs (gradient checks) keep Math.exp.
const EXP_N = 32;
const EXP_C = EXP_N / Math.LN2;
const EXP_STEP_HI = Math.fround(Math.LN2 / EXP_N); // n·STEP_HI is exact for the n used, so r keeps full precision
const EXP_STEP_LO = Math.LN2 / EXP_N - EXP_STEP_HI;
const EXP_MIN = -104; // e^−104 < half of f32's smallest subnormal: rounds to 0
const EXP_MAX = 88; // e^89 overflows f32; beyond this Math.exp
const EXP_OFF = Math.ceil(-EXP_MIN * EXP_C) + 1;
const EXP_TAB = Float64Array.from({ length: EXP_OFF + Math.ceil(EXP_MAX * EXP_C) + 2 }, (_, i) => 2 ** ((i - EXP_OFF) / EXP_N));

/** e^x to ~6e-10 relative (exported for its test); 0 for x ≤ −104. */
export function expF32(x: number): number {
  if (x <= EXP_MIN) return 0;
  if (!(x < EXP_MAX)) return Math.exp(x); // also passes NaN through
  const n = Math.floor(x * EXP_C + 0.5);
  const r = x - n * EXP_STEP_HI - n * EXP_STEP_LO;
  return EXP_TAB[n + EXP_OFF]! * (1 + r * (1 + r * (0.5 + r * (1 / 6))));
}

function make(f64: boolean, n: number): FloatArray {
  return f64 ? new Float64Array(n) : new Float32Array(n);
}
