// Reads one projection's input X and output gradient E_Y out of a real training step, without the model
// knowing: a PEFT-style output adapter that adds nothing (Δ = 0, no parameters, no input-gradient
// contribution) but keeps a copy of what the model hands it — x [N, in] in the forward, dy [N, out] in the
// backward. So the analysis sees exactly the tensors the HALO linear quantizes, and the model code stays as is.
import type { Backend } from '../backend/backend.ts';
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import type { Batch } from '../data/batch.ts';
import { haloConfig } from '../halo/config.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { LlamaModel } from '../models/llama.ts';
import type { OutputAdapter } from '../peft/adapter.ts';

export const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type Projection = (typeof PROJECTIONS)[number];

/** The HF weight name of a projection, e.g. model.layers.3.self_attn.k_proj.weight. */
export function projectionWeightName(layer: number, module: Projection): string {
  const block = module === 'gate_proj' || module === 'up_proj' || module === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${block}.${module}.weight`;
}

export function parseProjection(s: string): Projection {
  if (!(PROJECTIONS as readonly string[]).includes(s)) throw new HaloError('E_ARG', `unknown module '${s}'; use one of ${PROJECTIONS.join(', ')}`);
  return s as Projection;
}

export class CaptureAdapter implements OutputAdapter {
  readonly kind = 'output' as const;
  x: Float32Array | null = null; // [N, in] the projection's input, as the forward saw it
  dy: Float32Array | null = null; // [N, out] its output gradient E_Y, as the backward saw it
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
  ) {}

  params() {
    return [];
  }

  forward(x: FloatArray, N: number): { y: FloatArray; tape: unknown } {
    this.x = Float32Array.from(x.subarray(0, N * this.inFeatures));
    return { y: new Float32Array(N * this.outFeatures), tape: null };
  }

  backward(_tape: unknown, dy: FloatArray, N: number): FloatArray {
    this.dy = Float32Array.from(dy.subarray(0, N * this.outFeatures));
    return new Float32Array(N * this.inFeatures);
  }
}

/**
 * One FP32 forward + backward of `batch` through a model built from `weights`, returning the projection's
 * X [tokens, in] and E_Y [tokens, out] restricted to the batch's real (unpadded) tokens. E_Y is the gradient of
 * the batch's mean token loss, as the trainer computes it.
 */
export function captureProjection(
  config: ModelConfig,
  weights: ReadonlyMap<string, Tensor>,
  be: Backend,
  batch: Batch,
  layer: number,
  module: Projection,
): { x: Tensor<'f32'>; ey: Tensor<'f32'>; tokens: number } {
  if (!Number.isInteger(layer) || layer < 0 || layer >= config.num_hidden_layers) {
    throw new HaloError('E_ARG', `--layer ${layer} is out of range: the model has layers 0..${config.num_hidden_layers - 1}`);
  }
  const name = projectionWeightName(layer, module);
  const w = weights.get(name);
  if (!w) throw new HaloError('E_FORMAT', `the model has no tensor ${name}`);
  const [outF, inF] = w.shape as [number, number];
  const cap = new CaptureAdapter(inF, outF);
  const model = new LlamaModel(config, weights, {
    halo: haloConfig({ level: 'none', format: 'fp32' }),
    backend: be,
    adapters: new Map([[name, cap]]),
    trainable: () => false,
  });
  if (batch.lossTokens === 0) throw new HaloError('E_ARG', 'the analysed batch has no loss tokens, so E_Y would be zero');
  model.forwardBackward(batch, 1 / batch.lossTokens);
  if (!cap.x || !cap.dy) throw new HaloError('E_UNSUPPORTED', `${name}: the model never ran this projection's adapter hook, so X and E_Y could not be read`);
  const keep: number[] = [];
  for (let i = 0; i < batch.B * batch.T; i++) if (batch.attnMask[i]) keep.push(i);
  const pick = (src: Float32Array, cols: number) => {
    const out = new Float32Array(keep.length * cols);
    keep.forEach((r, i) => out.set(src.subarray(r * cols, (r + 1) * cols), i * cols));
    return new Tensor([keep.length, cols], 'f32', out);
  };
  return { x: pick(cap.x, inF), ey: pick(cap.dy, outF), tokens: keep.length };
}
