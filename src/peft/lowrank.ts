// What LoRA and HUT share: two trainable factors A [r, in] and B [out, r] initialised as HF peft does
// (A Kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in); B = 0, so the adapted layer starts equal to the base),
// and plain float GEMMs on them. The adapters stay in high precision (f32, or f64 in gradient checks): they are
// small, and HALO keeps them out of the quantized path (spec §8).
import { floatMatrix, type Backend } from '../backend/backend.ts';
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import type { Rng } from '../core/rng.ts';
import type { Param } from '../models/causal-lm.ts';
import { adapterTensorName } from './names.ts';

export interface LowRankOptions {
  /** HF weight name of the projection the adapter belongs to. */
  projection: string;
  inFeatures: number;
  outFeatures: number;
  rank: number;
  alpha: number;
  /** Scale α/√r instead of α/r (peft's use_rslora). */
  rslora?: boolean;
  /** Precision of the factors: that of the model they plug into. */
  precision?: 'f32' | 'f64';
  /** GEMMs for the factors (f32·f32 or f64·f64 only, never quantized). */
  backend: Backend;
}

/**
 * The factors and their settings. A is Kaiming-uniform (a = √5), B zero, named `…<prefix>_A.weight` /
 * `…<prefix>_B.weight`; LoRA and HUT differ only in how they use them.
 */
export abstract class LowRankAdapter {
  readonly projection: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly rank: number;
  readonly alpha: number;
  readonly scale: number;
  readonly a: Param; // [r, in]
  readonly b: Param; // [out, r]
  protected readonly be: Backend;

  protected constructor(o: LowRankOptions, prefix: 'lora' | 'hut', rng: Rng) {
    const { inFeatures: K, outFeatures: M, rank: r } = o;
    for (const [what, v] of [
      ['rank', r],
      ['in_features', K],
      ['out_features', M],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new HaloError('E_ARG', `${o.projection}: ${what} must be a positive integer, got ${v}`);
    }
    if (!Number.isFinite(o.alpha)) throw new HaloError('E_ARG', `${o.projection}: alpha must be a finite number, got ${o.alpha}`);
    const make = (n: number): FloatArray => (o.precision === 'f64' ? new Float64Array(n) : new Float32Array(n));
    const a = make(r * K);
    // torch.nn.init.kaiming_uniform_(a=√5): gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√fan_in, fan_in = in.
    const bound = 1 / Math.sqrt(K);
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.next() - 1) * bound;
    this.projection = o.projection;
    this.inFeatures = K;
    this.outFeatures = M;
    this.rank = r;
    this.alpha = o.alpha;
    this.scale = o.rslora ? o.alpha / Math.sqrt(r) : o.alpha / r;
    this.a = { name: adapterTensorName(o.projection, `${prefix}_A`), shape: [r, K], data: a, grad: make(r * K) };
    this.b = { name: adapterTensorName(o.projection, `${prefix}_B`), shape: [M, r], data: make(M * r), grad: make(M * r) };
    this.be = o.backend;
  }

  params(): readonly Param[] {
    return [this.a, this.b];
  }
}

/** out[M,N] = α·A·Bᵀ for A [M,K], B [N,K] given as flat arrays. */
export function gemmT(be: Backend, a: FloatArray, M: number, b: FloatArray, N: number, K: number, alpha = 1): FloatArray {
  return be.matmulT(floatMatrix(a, M, K), floatMatrix(b, N, K), alpha).data;
}

/** The transpose [cols, rows] of a flat [rows, cols] matrix. */
export function transposed(be: Backend, a: FloatArray, rows: number, cols: number): FloatArray {
  return be.transpose(floatMatrix(a, rows, cols)).data;
}

export function accumulate(into: FloatArray, src: FloatArray): void {
  for (let i = 0; i < into.length; i++) into[i] += src[i];
}
