// Synthetic linear-layer inputs with the outlier structure HALO is designed for (spec §12.5, Fig. 1/6):
// a few input channels of X scaled up (channel outliers, spread by the right Hadamard) and a few token rows
// of E_Y scaled up (token outliers, spread only by the left Hadamard of HALO-2).
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';

export interface OutlierInputs {
  x: Tensor<'f64'>; // [tokens, in]
  w: Tensor<'f64'>; // [out, in]
  ey: Tensor<'f64'>; // [tokens, out]
}

export interface OutlierOptions {
  tokens: number;
  inFeatures: number;
  outFeatures: number;
  seed?: number;
  /** How many channels of X / token rows of E_Y are outliers, and by what factor. */
  outliers?: number;
  factor?: number;
}

export function makeOutlierInputs(o: OutlierOptions): OutlierInputs {
  const rng = new Rng(o.seed ?? 1234);
  const count = o.outliers ?? 4;
  const factor = o.factor ?? 50;
  const x = rng.fillNormal(new Float64Array(o.tokens * o.inFeatures));
  const w = rng.fillNormal(new Float64Array(o.outFeatures * o.inFeatures), 1 / Math.sqrt(o.inFeatures));
  const ey = rng.fillNormal(new Float64Array(o.tokens * o.outFeatures), 1e-3);
  for (const c of pick(rng, o.inFeatures, count)) {
    for (let t = 0; t < o.tokens; t++) x[t * o.inFeatures + c] *= factor;
  }
  for (const t of pick(rng, o.tokens, count)) {
    for (let j = 0; j < o.outFeatures; j++) ey[t * o.outFeatures + j] *= factor;
  }
  return {
    x: new Tensor([o.tokens, o.inFeatures], 'f64', x),
    w: new Tensor([o.outFeatures, o.inFeatures], 'f64', w),
    ey: new Tensor([o.tokens, o.outFeatures], 'f64', ey),
  };
}

function pick(rng: Rng, n: number, count: number): number[] {
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, n)) chosen.add(rng.int(n));
  return [...chosen];
}

export function toF32(t: Tensor<'f64'>): Tensor<'f32'> {
  return new Tensor(t.shape, 'f32', Float32Array.from(t.data));
}

/** ‖a − ref‖_F / ‖ref‖_F, accumulated in f64. */
export function relFrobenius(a: Float32Array | Float64Array, ref: Float32Array | Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
