// What the trainer, evaluator and generator need from a language model — nothing about its layers.
import type { ModelConfig } from '../io/hf-config.ts';
import type { Batch } from '../data/batch.ts';
import type { Tensor } from '../core/tensor.ts';
import type { FloatArray } from '../core/dtype.ts';
import type { NnKernels } from '../backend/nn-kernels.ts';

/** A trainable tensor: f32 master weights and their gradient, keyed by the HF checkpoint name. */
export interface Param {
  name: string;
  shape: readonly number[];
  data: FloatArray;           // f32 for training; f64 for finite-difference checks
  grad: FloatArray | null;    // null when frozen
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
