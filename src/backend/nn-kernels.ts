// The model's element-wise ops, attention and AdamW as a swappable set, part of a backend's contract: a
// backend's registration (registry.ts) may supply its own NnKernels (native/nn-kernels.ts: the addon's f32
// kernels); one that does not runs the reference below, the TypeScript ops of src/nn/ops, src/optim's updates
// and attention-gemm.ts over the reference GEMMs. The model asks `nnKernels(backend)` for them, for training and
// for KV-cached decoding alike (src/models/decoder-block.ts).
import type { Backend } from './backend.ts';
import { referenceAttention, type AttentionKernels } from './attention-kernels.ts';
import { registeredKernels } from './registry.ts';
import type { FloatArray } from '../core/dtype.ts';
import { attentionDecode } from '../nn/ops/attention.ts';
import { crossEntropyBackward, crossEntropyForward } from '../nn/ops/cross-entropy.ts';
import { add, addInPlace } from '../nn/ops/elementwise.ts';
import { embeddingBackward, embeddingForward } from '../nn/ops/embedding.ts';
import { addRmsnormForward, rmsnormBackward, rmsnormBackwardAdd, rmsnormForward } from '../nn/ops/rmsnorm.ts';
import { ropeBackward, ropeForward } from '../nn/ops/rope.ts';
import { swigluBackward, swigluForward } from '../nn/ops/swiglu.ts';
import { adamwUpdate } from '../optim/adamw.ts';
import { adamwBlockUpdate } from '../optim/adamw8bit.ts';

export interface NnKernels {
  /** Which implementation this is: 'reference', 'native' (the addon's f32 kernels; f64 still goes to the reference), … */
  readonly name: string;
  rmsnormForward: typeof rmsnormForward;
  rmsnormBackward: typeof rmsnormBackward;
  /** The residual add and the norm after it (x = a + b; rmsnorm(x)): one pass over the rows where fused. */
  addRmsnormForward: typeof addRmsnormForward;
  /** The norm's backward plus the residual's gradient (rmsnormBackward + res): one pass where fused. */
  rmsnormBackwardAdd: typeof rmsnormBackwardAdd;
  ropeForward: typeof ropeForward;
  ropeBackward: typeof ropeBackward;
  swigluForward: typeof swigluForward;
  swigluBackward: typeof swigluBackward;
  crossEntropyForward: typeof crossEntropyForward;
  crossEntropyBackward: typeof crossEntropyBackward;
  embeddingForward: typeof embeddingForward;
  embeddingBackward: typeof embeddingBackward;
  adamwUpdate: typeof adamwUpdate;
  /** AdamW with block-wise quantized moments (src/optim/adamw8bit.ts); native when the addon has it. */
  adamwBlockUpdate: typeof adamwBlockUpdate;
  /** Causal GQA attention (src/nn/ops/attention.ts): the tiled native kernel, else attention-gemm.ts (attention-kernels.ts). */
  attentionForward: AttentionKernels['attentionForward'];
  attentionBackward: AttentionKernels['attentionBackward'];
  /**
   * Attention of new positions against a KV cache (generation; src/nn/ops/attention.ts). Optional: a backend
   * without its own runs the reference loop, as the native one does.
   */
  attentionDecode?: typeof attentionDecode;
  /** dst += src, elementwise (equal lengths). */
  addInto(dst: FloatArray, src: FloatArray): void;
  /** out = a + b, elementwise; out may be a or b. */
  add(a: FloatArray, b: FloatArray, out?: FloatArray): FloatArray;
}

export const referenceNnKernels: NnKernels = Object.freeze({
  name: 'reference',
  rmsnormForward,
  rmsnormBackward,
  addRmsnormForward,
  rmsnormBackwardAdd,
  ropeForward,
  ropeBackward,
  swigluForward,
  swigluBackward,
  crossEntropyForward,
  crossEntropyBackward,
  embeddingForward,
  embeddingBackward,
  adamwUpdate,
  adamwBlockUpdate,
  ...referenceAttention,
  attentionDecode,
  addInto: addInPlace,
  add,
});

/**
 * The kernels to run with backend `be`: those its registration supplies (src/backend/registry.ts: the native
 * ones when the addon loads and has them), else the reference. By name, so a wrapper that keeps its backend's
 * name (bench/profile.ts) gets the same kernels, and one under another name gets the reference.
 */
export function nnKernels(be: Backend): NnKernels {
  return registeredKernels(be.name) ?? referenceNnKernels;
}
