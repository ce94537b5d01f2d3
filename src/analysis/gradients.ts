// The paper's Figure 2 for any model: how close are one step's weight gradients under a quantization setting
// to the FP32 ones? Per decoder layer, the cosine similarity of each projection's weight gradient to FP32's,
// averaged over the layer's seven projections weighted by their parameter counts (as the paper does).
// Every setting sees the same weights and the same batch, so the only difference is the matmul precision.
import type { Backend } from '../backend/backend.ts';
import { HaloError } from '../core/errors.ts';
import type { Tensor } from '../core/tensor.ts';
import type { Batch } from '../data/batch.ts';
import { describeConfig, haloConfig, type Format, type HaloConfig } from '../halo/config.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { LlamaModel } from '../models/llama.ts';
import { projectionWeightName, PROJECTIONS } from './capture.ts';

export interface GradientSetting {
  id: string;
  label: string;
  /** 'figure2': the paper's three pass-sensitivity settings; 'level': HALO levels × formats; 'baseline': BF16. */
  group: 'figure2' | 'level' | 'baseline';
  halo: HaloConfig;
}

/** Figure 2's settings (in `format`), BF16, and HALO-0/1/2 × INT8/FP8/FP6. */
export function gradientSettings(format: Format = 'int8'): GradientSetting[] {
  const F = format.toUpperCase();
  const out: GradientSetting[] = [
    { id: `backward-only-${format}`, label: `backward only (${F})`, group: 'figure2', halo: haloConfig({ level: 'halo0', format, passes: 'backward' }) },
    { id: `forward-only-${format}`, label: `forward only (${F})`, group: 'figure2', halo: haloConfig({ level: 'halo0', format, passes: 'forward' }) },
    {
      id: `forward-only-hadamard-${format}`,
      label: `forward only + Hadamard (${F})`,
      group: 'figure2',
      halo: haloConfig({ level: 'halo1', format, passes: 'forward' }),
    },
    { id: 'bf16', label: 'BF16', group: 'baseline', halo: haloConfig({ level: 'none', format: 'bf16' }) },
  ];
  for (const level of ['halo0', 'halo1', 'halo2'] as const) {
    for (const f of ['int8', 'fp8', 'fp6'] as const) {
      const halo = haloConfig({ level, format: f });
      out.push({ id: `${level}-${f}`, label: describeConfig(halo), group: 'level', halo });
    }
  }
  return out;
}

/** Weight gradients of the seven projections of every layer for one forward + backward of `batch`. */
export function projectionGradients(
  config: ModelConfig,
  weights: ReadonlyMap<string, Tensor>,
  be: Backend,
  halo: HaloConfig,
  batch: Batch,
): Map<string, Float32Array> {
  if (batch.lossTokens === 0) throw new HaloError('E_ARG', 'the analysed batch has no loss tokens, so every gradient would be zero');
  const names = new Set(Array.from({ length: config.num_hidden_layers }, (_, l) => PROJECTIONS.map((m) => projectionWeightName(l, m))).flat());
  const model = new LlamaModel(config, weights, { halo, backend: be, trainable: (n) => names.has(n) });
  model.forwardBackward(batch, 1 / batch.lossTokens);
  const out = new Map<string, Float32Array>();
  for (const n of names) out.set(n, Float32Array.from(model.param(n).grad!));
  return out;
}

/** cos(a, b) accumulated in f64; 0 when either vector is zero. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new HaloError('E_SHAPE', `cosine of vectors of lengths ${a.length} and ${b.length}`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

export interface LayerSimilarity {
  layer: number;
  /** Parameter-weighted mean over the layer's projections. */
  cosine: number;
  modules: Record<string, number>;
}

export function layerSimilarities(ref: ReadonlyMap<string, Float32Array>, got: ReadonlyMap<string, Float32Array>, layers: number): LayerSimilarity[] {
  return Array.from({ length: layers }, (_, layer) => {
    let num = 0;
    let den = 0;
    const modules: Record<string, number> = {};
    for (const m of PROJECTIONS) {
      const n = projectionWeightName(layer, m);
      const r = ref.get(n);
      const g = got.get(n);
      if (!r || !g) throw new HaloError('E_ARG', `no gradient for ${n}`);
      const c = cosine(r, g);
      modules[m] = c;
      num += c * r.length;
      den += r.length;
    }
    return { layer, cosine: num / den, modules };
  });
}

/** Parameter-weighted mean over all layers (each layer has the same projection sizes, so a plain mean). */
export function meanCosine(layers: readonly LayerSimilarity[]): number {
  return layers.reduce((s, l) => s + l.cosine, 0) / Math.max(1, layers.length);
}
