// How a decoder block's attention gets its keys and values: the one step where training and decoding differ
// inside a block (decoder-block.ts). Training attends causally over the whole sequence it was handed and keeps
// the logsumexp rows its backward recomputes the scores from; decoding appends the new positions' keys and
// values to the layer's KV cache and attends to everything cached. Both run the kernels of the model's backend
// (nnKernels(backend)), so a backend that supplies its own attention serves training and generation alike.
import type { NnKernels } from '../backend/nn-kernels.ts';
import type { FloatArray } from '../core/dtype.ts';
import { attentionDecode, type AttentionGrads, type AttentionOptions, type AttentionOut } from '../nn/ops/attention.ts';
import { kvCacheAppend, type KvCache } from '../nn/ops/kv-cache.ts';
import type { Dims } from './llama-names.ts';

export interface BlockAttention {
  /**
   * Attention of decoder layer l over its N rows.
   * @param q [N, Hq·D] queries after RoPE
   * @param k [N, Hkv·D] keys after RoPE
   * @param v [N, Hkv·D] values
   * @returns out [N, Hq·D]; lse [B, Hq, T] where a backward will need it, else null
   */
  forward(l: number, q: FloatArray, k: FloatArray, v: FloatArray): { out: FloatArray; lse: FloatArray | null };
}

/** Attention a block can differentiate: the forward keeps lse, the backward takes the forward's q, k, v and lse. */
export interface TrainableAttention extends BlockAttention {
  forward(l: number, q: FloatArray, k: FloatArray, v: FloatArray): AttentionOut;
  /** dout [N, Hq·D] → dq [N, Hq·D], dk, dv [N, Hkv·D] (dq, dk before RoPE's backward). */
  backward(dout: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, lse: FloatArray): AttentionGrads;
}

/** Causal attention over B sequences of T positions each (training, and any forward over whole sequences). */
export function sequenceAttention(nn: NnKernels, B: number, T: number, dims: Dims, opts: AttentionOptions): TrainableAttention {
  const { Hq, Hkv, D } = dims;
  return {
    forward: (_l, q, k, v) => nn.attentionForward(q, k, v, B, T, Hq, Hkv, D, opts),
    backward: (dout, q, k, v, lse) => nn.attentionBackward(dout, q, k, v, lse, B, T, Hq, Hkv, D, opts),
  };
}

/**
 * Tn new positions per sequence against per-layer KV caches (generation): layer l's keys and values are
 * appended to caches[l], then the new queries attend to every cached position up to their own.
 * @param opts keyMask is [B, capacity], covering the cached positions and the new ones
 */
export function cachedAttention(nn: NnKernels, caches: readonly KvCache[], Tn: number, Hq: number, opts: AttentionOptions): BlockAttention {
  // A backend without a decode kernel of its own runs the reference loop (the op the caches were made for).
  const decode = nn.attentionDecode ?? attentionDecode;
  return {
    forward: (l, q, k, v) => {
      kvCacheAppend(caches[l], k, v, Tn);
      return { out: decode(q, caches[l], Tn, Hq, opts), lse: null };
    },
  };
}
