// Rotary position embedding, transformers' convention (apply_rotary_pos_emb with rotate_half): dimension i
// of a head is paired with i + D/2 (not with i+1 as in the original Meta code), and the pair is rotated by
// angle pos · inv_freq[i]:
//   out[i]       = x[i]·cos − x[i+D/2]·sin
//   out[i+D/2]   = x[i+D/2]·cos + x[i]·sin
// The map is a rotation, so its backward is the same rotation by the negative angle (sin → −sin); nothing
// is saved beyond the cos/sin tables, which the caller builds once per batch and shares by q, k and every
// layer ([N, D/2] each).
// inv_freq follows modeling_rope_utils.py: default 1/theta^(2i/D), and for rope_type 'llama3' the
// frequency-dependent rescaling of _compute_llama3_parameters (Llama 3.1+). With precision 'f32' every step
// is rounded to f32 the way transformers computes it (inv_freq, then the angle pos·inv_freq, in float32), so
// cos/sin agree with an HF forward even at large positions where the f32 angle is visibly coarse;
// 'f64' gives the exact values for gradient checks.
import { HaloError } from '../../core/errors.ts';
import type { FloatArray, FloatDType } from '../../core/dtype.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from './check.ts';

/** The fields of config.json's rope_scaling for rope_type 'llama3' (HF names, so the config passes as is). */
export interface Llama3Scaling {
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}

export interface RopeTables {
  /** [N, D/2] cos(pos[n] · inv_freq[i]) */
  cos: FloatArray;
  /** [N, D/2] sin(pos[n] · inv_freq[i]) */
  sin: FloatArray;
}

/**
 * Inverse frequencies [D/2] for head dimension D (even), base theta and optional llama3 scaling.
 * Returned as f64 numbers; with precision 'f32' each holds an f32-representable value, as in HF.
 */
export function ropeInvFreq(D: number, theta: number, scaling: Llama3Scaling | null = null, precision: FloatDType = 'f32'): Float64Array {
  checkDims('ropeInvFreq', { D });
  if (D % 2 !== 0) throw new HaloError('E_SHAPE', `ropeInvFreq: head_dim ${D} must be even (dimensions are rotated in pairs)`);
  if (!(theta > 0)) throw new HaloError('E_ARG', `ropeInvFreq: rope_theta must be > 0, got ${theta}`);
  const r = precision === 'f32' ? Math.fround : (v: number) => v;
  const half = D / 2;
  const inv = new Float64Array(half);
  // 1 / theta ** (arange(0, D, 2).float() / D), each operation in float32 under 'f32'.
  for (let i = 0; i < half; i++) inv[i] = r(1 / r(Math.pow(theta, r((2 * i) / D))));
  if (scaling) applyLlama3(inv, scaling, r);
  return inv;
}

/**
 * Wavelengths shorter than original_max_position_embeddings / high_freq_factor keep their frequency, longer
 * than .../low_freq_factor are divided by factor, and the band between is interpolated linearly in
 * original_max_position_embeddings / wavelength (transformers' _compute_llama3_parameters).
 */
function applyLlama3(inv: Float64Array, s: Llama3Scaling, r: (v: number) => number): void {
  const { factor, low_freq_factor: lo, high_freq_factor: hi, original_max_position_embeddings: ctx } = s;
  if (!(factor > 0) || !(lo > 0) || !(hi > lo) || !(ctx > 0)) {
    throw new HaloError(
      'E_ARG',
      `rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0; got ${JSON.stringify(s)}`,
    );
  }
  const lowFreqWavelen = ctx / lo;
  const highFreqWavelen = ctx / hi;
  const twoPi = r(2 * Math.PI);
  for (let i = 0; i < inv.length; i++) {
    const f = inv[i];
    const wavelen = r(twoPi / f);
    if (wavelen < highFreqWavelen) continue; // high frequency: unchanged
    if (wavelen > lowFreqWavelen) {
      inv[i] = r(f / factor); // low frequency: stretched by factor
      continue;
    }
    const smooth = r(r(r(ctx / wavelen) - lo) / (hi - lo));
    inv[i] = r(r(r(r(1 - smooth) * f) / factor) + r(smooth * f));
  }
}

/**
 * cos/sin tables for tokens at `positions`.
 * @param positions [N] position of each token (per-sequence, so packed or left-padded batches work)
 * @returns cos, sin: [N, D/2] each, in `precision`
 */
export function ropeTables(positions: Int32Array, D: number, theta: number, scaling: Llama3Scaling | null = null, precision: FloatDType = 'f32'): RopeTables {
  const inv = ropeInvFreq(D, theta, scaling, precision);
  const half = D / 2;
  const N = positions.length;
  const f32 = precision === 'f32';
  const cos = f32 ? new Float32Array(N * half) : new Float64Array(N * half);
  const sin = f32 ? new Float32Array(N * half) : new Float64Array(N * half);
  for (let n = 0; n < N; n++) {
    const p = positions[n];
    for (let i = 0; i < half; i++) {
      // HF: freqs = inv_freq @ position_ids in float32 — one rounded product.
      const a = f32 ? Math.fround(p * inv[i]) : p * inv[i];
      cos[n * half + i] = Math.cos(a);
      sin[n * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/**
 * Rotates every head of every token. out may be x itself (each pair is read before it is written).
 * @param x   [N, H, D] queries or keys (N tokens)
 * @param cos [N, D/2] from ropeTables
 * @param sin [N, D/2] from ropeTables
 * @param out [N, H, D] optional output buffer
 * @returns   [N, H, D]
 */
export function ropeForward(x: FloatArray, cos: FloatArray, sin: FloatArray, N: number, H: number, D: number, out?: FloatArray): FloatArray {
  return rotate('ropeForward', x, cos, sin, N, H, D, 1, out);
}

/**
 * dx = rotation of dout by the negative angle (the transpose of the forward rotation). WRITES dx, which may
 * be dout itself.
 * @param dout [N, H, D] gradient of the rotated output
 * @param cos  [N, D/2] the forward's table
 * @param sin  [N, D/2] the forward's table
 * @param dx   [N, H, D] optional output buffer
 * @returns    dx [N, H, D]
 */
export function ropeBackward(dout: FloatArray, cos: FloatArray, sin: FloatArray, N: number, H: number, D: number, dx?: FloatArray): FloatArray {
  return rotate('ropeBackward', dout, cos, sin, N, H, D, -1, dx);
}

/** Shapes and dtypes of a rotation's arguments (shared with the native kernels). */
export function checkRopeArgs(op: string, x: FloatArray, cos: FloatArray, sin: FloatArray, N: number, H: number, D: number): void {
  checkDims(op, { N, H, D });
  if (D % 2 !== 0) throw new HaloError('E_SHAPE', `${op}: head dimension D=${D} must be even`);
  checkLen(op, 'x', x, N * H * D, '[N, H, D]');
  checkLen(op, 'cos', cos, N * (D / 2), '[N, D/2]');
  checkLen(op, 'sin', sin, N * (D / 2), '[N, D/2]');
  checkSameFloat(op, x, { cos, sin });
}

function rotate(op: string, x: FloatArray, cos: FloatArray, sin: FloatArray, N: number, H: number, D: number, sign: 1 | -1, out?: FloatArray): FloatArray {
  checkRopeArgs(op, x, cos, sin, N, H, D);
  const half = D / 2;
  const y = outBuffer(op, 'out', out, x, N * H * D, '[N, H, D]');
  for (let n = 0; n < N; n++) {
    const t = n * half;
    for (let h = 0; h < H; h++) {
      const o = (n * H + h) * D;
      for (let i = 0; i < half; i++) {
        const c = cos[t + i];
        const s = sign * sin[t + i];
        const a = x[o + i];
        const b = x[o + half + i];
        y[o + i] = a * c - b * s;
        y[o + half + i] = b * c + a * s;
      }
    }
  }
  return y;
}
