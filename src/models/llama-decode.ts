// Inference-only forward of a LlamaModel with per-layer KV caches, for generation: a prefill call runs the
// prompt's tokens at once, then each decode call runs one new token per sequence against the cached keys
// and values of everything before it. Nothing is saved for a backward.
//
// Each layer is the training forward's decoder block (decoder-block.ts) with a KV cache as its attention
// (block-attention.ts's cachedAttention) and no tape, on the model's backend kernels (nnKernels) and GEMMs; the
// embedding, RoPE tables, final norm and lm_head are the model's own. So with quantization off the logits of
// every position equal model.logits() of the whole sequence (up to the attention's summation order). With a
// quantized format and per-tensor scales they differ slightly: an activation's scale is taken over the
// tokens of the call (the prompt, then one token), not over the whole batch as in training.
//
// Rows may be left-padded to batch prompts of different lengths: a 0 in `mask` marks a padding token, whose
// key no query sees (attention's keyMask); a padding query sees no key and gets attention output 0.
// The final norm and lm_head run only on the rows whose logits are asked for (the last new position of
// each sequence by default), which saves (Tn − 1)·V·C multiply-adds per prefill.
import type { FloatArray, FloatDType } from '../core/dtype.ts';
import { floatLike } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { createKvCache, type KvCache } from '../nn/ops/kv-cache.ts';
import { ropeTables } from '../nn/ops/rope.ts';
import { cachedAttention } from './block-attention.ts';
import { blockForward, type BlockRows } from './decoder-block.ts';
import type { LlamaModel } from './llama.ts';

export interface DecodeState {
  /** Sequences decoded side by side. */
  readonly B: number;
  /** Positions each sequence's cache holds (prompt + new tokens). */
  readonly capacity: number;
  /** One cache per decoder layer: keys (after RoPE) and values, [B, capacity, Hkv, D] each. */
  readonly caches: KvCache[];
  /** [B, capacity] 1 = real token, 0 = padding; filled as positions are appended. */
  readonly keyMask: Uint8Array;
  readonly precision: FloatDType;
  /** Positions filled so far (the same for every row). */
  length: number;
}

/** Empty caches for `batchSize` sequences of up to `capacity` tokens each. */
export function createDecodeState(model: LlamaModel, batchSize: number, capacity: number): DecodeState {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new HaloError('E_ARG', `decode batch size must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(capacity) || capacity < 1) throw new HaloError('E_ARG', `KV cache capacity must be a positive integer, got ${capacity}`);
  const { Hkv, D } = model.dims;
  const precision: FloatDType = model.param('model.embed_tokens.weight').data instanceof Float64Array ? 'f64' : 'f32';
  return {
    B: batchSize,
    capacity,
    caches: model.names.map(() => createKvCache(batchSize, capacity, Hkv, D, precision)),
    keyMask: new Uint8Array(batchSize * capacity),
    precision,
    length: 0,
  };
}

export interface DecodeStepOptions {
  /** [B, Tn] 1 = real token, 0 = left padding. Default: every token is real. */
  mask?: Uint8Array | null;
  /** Return the logits of every new position [B, Tn, V] instead of only the last one of each row [B, V]. */
  allPositions?: boolean;
}

/**
 * Runs Tn new tokens of every sequence through the model, appending their keys/values to the caches.
 * @param ids       [B, Tn] token ids
 * @param positions [B, Tn] position ids (RoPE); for a left-padded row its first real token has position 0
 * @returns logits [B, V] of the last new position of each row ([B, Tn, V] with allPositions)
 */
export function decodeStep(model: LlamaModel, state: DecodeState, ids: Int32Array, positions: Int32Array, opts: DecodeStepOptions = {}): FloatArray {
  const { B } = state;
  if (ids.length === 0 || ids.length % B !== 0) {
    throw new HaloError('E_SHAPE', `decodeStep: ${ids.length} token ids do not form [B=${B}, Tn] (need a positive multiple of ${B})`);
  }
  const Tn = ids.length / B;
  if (positions.length !== ids.length)
    throw new HaloError('E_SHAPE', `decodeStep: positions has ${positions.length} entries, ids has ${ids.length}; both are [B, Tn]`);
  const mask = opts.mask ?? null;
  if (mask && mask.length !== ids.length)
    throw new HaloError('E_SHAPE', `decodeStep: mask has ${mask.length} entries, ids has ${ids.length}; both are [B, Tn]`);
  if (state.length + Tn > state.capacity) {
    throw new HaloError(
      'E_ARG',
      `decodeStep: the KV cache holds ${state.capacity} positions and has ${state.length}; ${Tn} more do not fit — create the state with capacity ≥ prompt length + max new tokens`,
    );
  }
  const N = B * Tn;
  const { C, Hq, D, eps } = model.dims;
  const c = model.config;
  for (let b = 0; b < B; b++) {
    const row = b * state.capacity + state.length;
    for (let t = 0; t < Tn; t++) state.keyMask[row + t] = mask ? (mask[b * Tn + t] !== 0 ? 1 : 0) : 1;
  }
  // Output adapters (LoRA) run inside the block as in training; dropout is the caller's to switch off
  // (PeftModel.eval()).
  const rows: BlockRows = {
    N,
    rope: ropeTables(positions, D, c.rope_theta, c.rope_scaling, state.precision),
    attention: cachedAttention(model.nn, state.caches, Tn, Hq, { keyMask: state.keyMask, window: c.sliding_window }),
  };
  let x = model.embed(ids);
  for (let l = 0; l < model.names.length; l++) x = blockForward(model, l, x, rows, false).x;
  state.length += Tn;

  // Only the rows whose logits are wanted go through the final norm and lm_head.
  const outRows = opts.allPositions ? N : B;
  const xs = opts.allPositions ? x : lastRows(x, B, Tn, C);
  const { y: hf } = model.nn.rmsnormForward(xs, model.param('model.norm.weight').data, outRows, C, eps);
  return model.headLogits(hf, outRows);
}

/** [B, Tn, C] → [B, C]: the hidden state of each row's last position. */
function lastRows(x: FloatArray, B: number, Tn: number, C: number): FloatArray {
  if (Tn === 1) return x;
  const out = floatLike(x, B * C);
  for (let b = 0; b < B; b++) out.set(x.subarray(((b + 1) * Tn - 1) * C, (b + 1) * Tn * C), b * C);
  return out;
}
