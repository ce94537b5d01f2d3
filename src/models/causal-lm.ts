// What the trainer, evaluator and generator need from a language model — nothing about its layers.
import type { ModelConfig } from '../io/hf-config.ts';
import type { Batch } from '../data/batch.ts';
import type { Tensor } from '../core/tensor.ts';
import type { FloatArray } from '../core/dtype.ts';
import type { NnKernels } from '../backend/nn-kernels.ts';
import type { GradArray } from '../optim/bf16-grad.ts';
import { HaloError } from '../core/errors.ts';

/** A trainable tensor: f32 master weights and their gradient, keyed by the HF checkpoint name. */
export interface Param {
  name: string;
  shape: readonly number[];
  data: FloatArray; // f32 for training; f64 for finite-difference checks
  grad: FloatArray | null; // null when frozen or when gradBf16 holds the gradient
  /** --grad-dtype bf16: the gradient of a large 2-D tensor as bf16 bits (src/optim/bf16-grad.ts), grad then null. */
  gradBf16?: Uint16Array;
}

/** Whether p gets a gradient (f32 or bf16). */
export function isTrainable(p: Param): boolean {
  return p.grad !== null || p.gradBf16 !== undefined;
}

/** p's gradient store (f32 or bf16 bits); p must be trainable. */
export function gradOf(p: Param): GradArray {
  const g = p.grad ?? p.gradBf16;
  if (!g) throw new HaloError('E_ARG', `${p.name} is frozen: it has no gradient`);
  return g;
}

export interface LossResult {
  /** Sum of per-token losses over the batch's counted targets (not the mean: callers normalise). */
  lossSum: number;
  tokens: number;
}

export interface CausalLM {
  readonly config: ModelConfig;
  /** Every parameter, trainable or not, in a stable order. */
  parameters(): readonly Param[];
  /**
   * Forward + backward of one micro-batch; gradients are ACCUMULATED into Param.grad, scaled by
   * gradScale (1 / the number of counted tokens of the whole optimizer step, so accumulation is exact).
   */
  forwardBackward(batch: Batch, gradScale: number): LossResult;
  /** Forward only. */
  loss(batch: Batch): LossResult;
  /** Must be called after the optimizer changed the weights (drops cached quantized copies). */
  weightsChanged(): void;
  /** Weights as HF tensors (f32), for saving. */
  stateDict(): Map<string, Tensor>;
  /** The element-wise kernels of the model's backend; the trainer runs the same backend's AdamW update. */
  readonly nn?: NnKernels;
}
