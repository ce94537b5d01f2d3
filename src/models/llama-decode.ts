// Inference-only forward of a LlamaModel with per-layer KV caches, for generation: a prefill call runs the
// prompt's tokens at once, then each decode call runs one new token per sequence against the cached keys
// and values of everything before it. Nothing is saved for a backward.
//
// The math is the training forward's (src/models/llama.ts) op for op — the same rmsnorm, HALO linears (the
// `saved` half of linearForward is simply dropped), RoPE tables, q/k/v/o biases, SwiGLU and lm_head — so
// with quantization off the logits of every position equal model.logits() of the whole sequence. With a
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
import { linearForward, prepareInput, type PreparedWeight } from '../halo/linear.ts';
import { attentionDecode } from '../nn/ops/attention.ts';
import { createKvCache, kvCacheAppend, type KvCache } from '../nn/ops/kv-cache.ts';
import { rmsnormForward } from '../nn/ops/rmsnorm.ts';
import { ropeForward, ropeTables } from '../nn/ops/rope.ts';
import { swigluForward } from '../nn/ops/swiglu.ts';
import type { LlamaModel } from './llama.ts';

/** Biases of one layer's attention projections (null where the architecture has none). */
interface LayerBiases {
  qkv: [FloatArray | null, FloatArray | null, FloatArray | null];
  o: FloatArray | null;
}

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
  readonly biases: LayerBiases[];
  /** Positions filled so far (the same for every row). */
  length: number;
}

/** Empty caches for `batchSize` sequences of up to `capacity` tokens each. */
export function createDecodeState(model: LlamaModel, batchSize: number, capacity: number): DecodeState {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new HaloError('E_ARG', `decode batch size must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(capacity) || capacity < 1) throw new HaloError('E_ARG', `KV cache capacity must be a positive integer, got ${capacity}`);
  const { Hkv, D } = model.dims;
  const precision: FloatDType = model.param('model.embed_tokens.weight').data instanceof Float64Array ? 'f64' : 'f32';
  // Biases exist only where the config has them (Qwen2's q/k/v, Llama with attention_bias): look them up once.
  const byName = new Map(model.parameters().map((p) => [p.name, p.data]));
  const biases = model.names.map((n) => ({
    qkv: n.qkvBias.map((b) => byName.get(b) ?? null) as LayerBiases['qkv'],
    o: byName.get(n.oBias) ?? null,
  }));
  return {
    B: batchSize,
    capacity,
    caches: model.names.map(() => createKvCache(batchSize, capacity, Hkv, D, precision)),
    keyMask: new Uint8Array(batchSize * capacity),
    precision,
    biases,
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
  if (positions.length !== ids.length) throw new HaloError('E_SHAPE', `decodeStep: positions has ${positions.length} entries, ids has ${ids.length}; both are [B, Tn]`);
  const mask = opts.mask ?? null;
  if (mask && mask.length !== ids.length) throw new HaloError('E_SHAPE', `decodeStep: mask has ${mask.length} entries, ids has ${ids.length}; both are [B, Tn]`);
  if (state.length + Tn > state.capacity) {
    throw new HaloError('E_ARG', `decodeStep: the KV cache holds ${state.capacity} positions and has ${state.length}; ${Tn} more do not fit — create the state with capacity ≥ prompt length + max new tokens`);
  }
  const N = B * Tn;
  const { C, V, I, Hq, Hkv, D, eps } = model.dims;
  const { be, halo, config: c } = model;
  for (let b = 0; b < B; b++) {
    const row = b * state.capacity + state.length;
    for (let t = 0; t < Tn; t++) state.keyMask[row + t] = mask ? (mask[b * Tn + t] !== 0 ? 1 : 0) : 1;
  }
  const rope = ropeTables(positions, D, c.rope_theta, c.rope_scaling, state.precision);
  const attnOpts = { keyMask: state.keyMask, window: c.sliding_window };
  const lin = (input: Parameters<typeof linearForward>[2], w: PreparedWeight): FloatArray => linearForward(be, halo, input, w).y.data;
  // Output adapters (LoRA) add Δ(x) beside the projection as in training; weight adapters (HUT) are already
  // inside model.weight(). Dropout is the caller's to switch off (PeftModel.eval()).
  const adapt = (name: string, x: FloatArray, y: FloatArray): void => {
    const a = model.adapters.get(name);
    if (a?.kind === 'output') addInto(y, a.forward(x, N).y);
  };

  let x = model.embed(ids);
  for (let l = 0; l < model.names.length; l++) {
    const n = model.names[l];
    const bias = state.biases[l];
    const { y: h } = rmsnormForward(x, model.param(n.ln1).data, N, C, eps);
    const shared = prepareInput(be, halo, model.mat(h, N, C), model.weight(n.q));
    const [q, k, v] = ([n.q, n.k, n.v] as const).map((name, i) => {
      const y = lin(shared, model.weight(name));
      const b = bias.qkv[i];
      if (b) addBias(y, b, N);
      adapt(name, h, y);
      return y;
    });
    ropeForward(q, rope.cos, rope.sin, N, Hq, D, q);
    ropeForward(k, rope.cos, rope.sin, N, Hkv, D, k);
    kvCacheAppend(state.caches[l], k, v, Tn);
    const att = attentionDecode(q, state.caches[l], Tn, Hq, attnOpts);
    const o = lin(model.mat(att, N, Hq * D), model.weight(n.o));
    if (bias.o) addBias(o, bias.o, N);
    adapt(n.o, att, o);
    addInto(o, x); // o ← x + attention: the residual stream after attention
    const x1 = o;
    const { y: h2 } = rmsnormForward(x1, model.param(n.ln2).data, N, C, eps);
    const shared2 = prepareInput(be, halo, model.mat(h2, N, C), model.weight(n.gate));
    const g = lin(shared2, model.weight(n.gate));
    const u = lin(shared2, model.weight(n.up));
    adapt(n.gate, h2, g);
    adapt(n.up, h2, u);
    const s = swigluForward(g, u);
    const d = lin(model.mat(s, N, I), model.weight(n.down));
    adapt(n.down, s, d);
    addInto(d, x1);
    x = d;
  }
  state.length += Tn;

  // Only the rows whose logits are wanted go through the final norm and lm_head.
  const rows = opts.allPositions ? N : B;
  const xs = opts.allPositions ? x : lastRows(x, B, Tn, C);
  const { y: hf } = rmsnormForward(xs, model.param('model.norm.weight').data, rows, C, eps);
  return model.headLogits(hf, rows);
}

/** [B, Tn, C] → [B, C]: the hidden state of each row's last position. */
function lastRows(x: FloatArray, B: number, Tn: number, C: number): FloatArray {
  if (Tn === 1) return x;
  const out = floatLike(x, B * C);
  for (let b = 0; b < B; b++) out.set(x.subarray(((b + 1) * Tn - 1) * C, (b + 1) * Tn * C), b * C);
  return out;
}

function addBias(y: FloatArray, bias: FloatArray, N: number): void {
  const F = bias.length;
  for (let n = 0; n < N; n++) for (let f = 0; f < F; f++) y[n * F + f] += bias[f];
}

function addInto(dst: FloatArray, src: FloatArray): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}
