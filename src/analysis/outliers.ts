// The statistics behind the paper's Figures 1 and 6: for a matrix M [tokens, features] (a layer input X or
// an output gradient E_Y), the largest |value| of every token row and of every feature column, as is, after
// the right Hadamard (M·Ĥᵀ, mixing features: what HALO-1/2 do to X) and after the left one (Ĥ·M, mixing
// tokens: what HALO-2 does to E_Y), plus the INT8 per-tensor quantization error of each version.
//
// "Outlier ratio" = largest row (or column) max ÷ the median row (column) max: 1 when every row peaks alike,
// large when a few rows carry the extremes. A per-tensor absmax quantizer spends its range on the largest
// value, so the ratio is roughly how many INT8 levels the typical row loses.
import type { Backend, FloatTensor } from '../backend/backend.ts';
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import { planHadamard } from '../hadamard/index.ts';
import { tokenPlan } from '../halo/linear.ts';
import { fakeQuantize } from '../quant/index.ts';

export const VIEWS = ['raw', 'rightH', 'leftH'] as const;
export type View = (typeof VIEWS)[number];

export interface Profile {
  /** max |m[t, ·]| per token row (leftH: per row of Ĥ·M, which has the padded token count). */
  perToken: Float32Array;
  /** max |m[·, c]| per feature column. */
  perChannel: Float32Array;
  absmax: number;
  tokenRatio: number;
  channelRatio: number;
  /** ‖fq(M) − M‖_F / ‖M‖_F with an INT8 per-tensor absmax quantizer (as HALO quantizes a GEMM operand). */
  int8RelError: number;
}

export type ViewProfiles = Record<View, Profile>;

/** The three views of m [tokens, features] and their profiles. */
export function profileViews(be: Backend, m: Tensor<'f32'> /* [tokens, features] */): ViewProfiles {
  const [tokens, features] = m.dims2('analysed matrix');
  const right = be.rotate(m, { plan: planHadamard(features, { block: 'auto' }), side: 'right', transpose: false });
  const plan = tokenPlan(tokens);
  const padded = Tensor.zeros([plan.n, features], 'f32');
  padded.data.set(m.data);
  const left = be.rotate(padded, { plan, side: 'left', transpose: false });
  return { raw: profile(m), rightH: profile(right), leftH: profile(left) };
}

export function profile(m: FloatTensor): Profile {
  const [rows, cols] = m.dims2('analysed matrix');
  const d = m.data;
  const perToken = new Float32Array(rows);
  const perChannel = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(d[r * cols + c]);
      if (a > perToken[r]) perToken[r] = a;
      if (a > perChannel[c]) perChannel[c] = a;
    }
  }
  const absmax = perToken.reduce((a, b) => Math.max(a, b), 0);
  const f32 = m.dtype === 'f32' ? (m as Tensor<'f32'>) : new Tensor(m.shape, 'f32', Float32Array.from(d));
  const fq = fakeQuantize(f32, 'int8', 'tensor').data;
  let num = 0;
  let den = 0;
  for (let i = 0; i < d.length; i++) {
    num += (fq[i] - d[i]) ** 2;
    den += d[i] * d[i];
  }
  return { perToken, perChannel, absmax, tokenRatio: ratio(perToken), channelRatio: ratio(perChannel), int8RelError: den > 0 ? Math.sqrt(num / den) : 0 };
}

/** Largest ÷ median of a profile, the median over non-zero entries (zero rows are padding, not data). */
export function ratio(p: Float32Array): number {
  const v = Array.from(p)
    .filter((x) => x > 0)
    .sort((a, b) => a - b);
  if (v.length === 0) return 1;
  const med = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  return v[v.length - 1] / med;
}

/**
 * Synthetic outliers of the kind HALO targets, on a copy: `count` feature columns (channel outliers, as in X)
 * or `count` token rows (as in E_Y) scaled by `factor`. Returns the copy and which indices were scaled.
 */
export function injectOutliers(
  m: Tensor<'f32'>,
  axis: 'channel' | 'token',
  factor: number,
  count: number,
  seed: number,
): { m: Tensor<'f32'>; indices: number[] } {
  const [rows, cols] = m.dims2('analysed matrix');
  const out = new Tensor([rows, cols], 'f32', Float32Array.from(m.data));
  const rng = new Rng(seed);
  const n = axis === 'channel' ? cols : rows;
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, n)) chosen.add(rng.int(n));
  const indices = [...chosen].sort((a, b) => a - b);
  for (const i of indices) {
    if (axis === 'channel') for (let r = 0; r < rows; r++) out.data[r * cols + i] *= factor;
    else for (let c = 0; c < cols; c++) out.data[i * cols + c] *= factor;
  }
  return { m: out, indices };
}

/** A verdict on the profile the paper plots (E_Y by token, X by channel): is there a clear outlier structure? */
export function hasOutliers(p: Profile, axis: 'token' | 'channel', threshold: number): boolean {
  return (axis === 'token' ? p.tokenRatio : p.channelRatio) >= threshold;
}
