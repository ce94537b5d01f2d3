// Per-projection weight statistics of a model: RMS and largest |w| of each linear kind (q_proj … down_proj)
// over all layers. The ratio absmax/RMS is what per-tensor absmax quantization pays for: the larger it is, the
// fewer INT8 levels the typical weight gets (HALO's right rotation shrinks it). HUT's update is LoRA's scaled by
// W0, so the RMS also says how much smaller a HUT step moves the weight than a LoRA step at the same lr.
import type { Tensor } from '../core/tensor.ts';
import { PROJECTIONS } from './capture.ts';

export interface WeightStats {
  /** A projection name, or 'all' for every projection together. */
  name: string;
  /** Layers the projection was found in. */
  tensors: number;
  values: number;
  rms: number;
  absmax: number;
}

/** Stats per projection kind (in PROJECTIONS order, kinds absent from `weights` left out), then 'all'. */
export function projectionWeightStats(weights: ReadonlyMap<string, Tensor>): WeightStats[] {
  const acc = new Map<string, { tensors: number; values: number; sumSq: number; absmax: number }>();
  for (const [key, t] of weights) {
    const m = /\.(\w+_proj)\.weight$/.exec(key);
    if (!m || !(PROJECTIONS as readonly string[]).includes(m[1]!)) continue;
    const a = acc.get(m[1]!) ?? { tensors: 0, values: 0, sumSq: 0, absmax: 0 };
    const d = t.data as ArrayLike<number>;
    let sumSq = 0;
    let absmax = a.absmax;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      sumSq += v * v;
      if (Math.abs(v) > absmax) absmax = Math.abs(v);
    }
    acc.set(m[1]!, { tensors: a.tensors + 1, values: a.values + d.length, sumSq: a.sumSq + sumSq, absmax });
  }
  const rows: WeightStats[] = [];
  const all = { tensors: 0, values: 0, sumSq: 0, absmax: 0 };
  for (const name of PROJECTIONS) {
    const a = acc.get(name);
    if (!a) continue;
    rows.push({ name, tensors: a.tensors, values: a.values, rms: Math.sqrt(a.sumSq / a.values), absmax: a.absmax });
    all.tensors += a.tensors;
    all.values += a.values;
    all.sumSq += a.sumSq;
    all.absmax = Math.max(all.absmax, a.absmax);
  }
  if (all.values) rows.push({ name: 'all', tensors: all.tensors, values: all.values, rms: Math.sqrt(all.sumSq / all.values), absmax: all.absmax });
  return rows;
}
