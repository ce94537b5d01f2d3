// Text generation with a KV cache: prefill the prompt(s) once, then one token per step (src/models/llama-decode.ts).
// Greedy (temperature 0, what HALO's eval uses) or sampled with temperature → top-k → top-p, the order of
// transformers' logits warpers, drawn from a seeded Rng so a run can be repeated exactly.
//
// Several prompts of different lengths run as one left-padded batch: padding keys are masked and each row's
// positions start at 0 at its first real token, so a row's logits do not depend on its neighbours (exactly,
// with quantization off; with per-tensor quantization the activation scale is shared by the batch).
// A row that has stopped keeps feeding its stop token (its outputs are ignored) until every row is done.
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Rng } from '../core/rng.ts';
import { createDecodeState, decodeStep } from '../models/llama-decode.ts';
import type { LlamaModel } from '../models/llama.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax, lowest id on ties). Default 0. */
  temperature?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches topP. Default 1 (off). */
  topP?: number;
  /** Keep only the topK most likely tokens. Default 0 (off). */
  topK?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** Default 128. */
  maxNewTokens?: number;
  /** Seed of the sampling Rng (unused when greedy). Default 0. */
  seed?: number;
  /** Ids that end a sequence, on top of the tokenizer's end tokens (defaultStopIds). */
  stopIds?: readonly number[];
  /** Called after each step with the number of steps done (progress reporting). */
  onStep?: (step: number) => void;
}

export interface GenerateResult {
  /** New token ids, without the stop token. */
  ids: number[];
  /** ids decoded, special tokens skipped. */
  text: string;
  /** 'stop': a stop id was produced (stopId); 'length': maxNewTokens reached. */
  finish: 'stop' | 'length';
  stopId: number | null;
}

/** Special tokens that end a turn or a document in Llama 3 / Qwen2 vocabularies, when the tokenizer has them. */
const END_TOKENS = ['<|eot_id|>', '<|end_of_text|>', '<|im_end|>', '<|endoftext|>'];

/** The tokenizer's EOS, the end-of-turn / end-of-text tokens it knows, and `extra` (deduplicated). */
export function defaultStopIds(tok: TextTokenizer, extra: readonly number[] = []): number[] {
  const ids = [tok.eosId, ...END_TOKENS.map((t) => tok.tokenId(t)), ...extra];
  return [...new Set(ids.filter((i): i is number => i !== null))];
}

/** Generates a continuation of one prompt. */
export function generate(model: LlamaModel, tok: TextTokenizer, promptIds: ArrayLike<number>, opts: GenerateOptions = {}): GenerateResult {
  return generateBatch(model, tok, [promptIds], opts)[0]!;
}

/** Generates continuations of several prompts as one left-padded batch. */
export function generateBatch(model: LlamaModel, tok: TextTokenizer, prompts: readonly ArrayLike<number>[], opts: GenerateOptions = {}): GenerateResult[] {
  const maxNew = opts.maxNewTokens ?? 128;
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new HaloError('E_ARG', `maxNewTokens must be a positive integer, got ${maxNew}`);
  const sampling = checkSampling(opts);
  const B = prompts.length;
  if (B === 0) throw new HaloError('E_ARG', 'generate: no prompts');
  const V = model.dims.V;
  let Tp = 0;
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new HaloError('E_ARG', `generate: prompt ${b} is empty; it needs at least one token (e.g. BOS)`);
    for (let t = 0; t < p.length; t++) {
      const id = p[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new HaloError('E_ARG', `generate: prompt ${b} has token id ${id} at ${t}, outside the model's vocabulary [0, ${V})`);
    }
    Tp = Math.max(Tp, p.length);
  });
  const stop = new Set(defaultStopIds(tok, opts.stopIds ?? []));
  const rng = new Rng(opts.seed ?? 0);
  // Only ids the tokenizer can decode are candidates: real checkpoints pad the embedding past the vocabulary
  // (and `halo init` models keep a real 128k vocabulary beside a small tokenizer), and those rows' logits
  // are not meaningful tokens. Ids ≥ Vtok are masked by leaving them out of the sampler's range.
  const Vtok = Math.min(V, tok.vocabSize);

  // Prefill: prompts right-aligned in [B, Tp]; padding (id 0, mask 0) on the left.
  const ids = new Int32Array(B * Tp);
  const mask = new Uint8Array(B * Tp);
  const positions = new Int32Array(B * Tp);
  const next = new Int32Array(B); // next position of each row
  for (let b = 0; b < B; b++) {
    const p = prompts[b]!;
    const pad = Tp - p.length;
    for (let t = 0; t < p.length; t++) {
      ids[b * Tp + pad + t] = p[t]!;
      mask[b * Tp + pad + t] = 1;
      positions[b * Tp + pad + t] = t;
    }
    next[b] = p.length;
  }
  const state = createDecodeState(model, B, Tp + maxNew);
  let logits = decodeStep(model, state, ids, positions, { mask });

  const out: GenerateResult[] = Array.from({ length: B }, () => ({ ids: [], text: '', finish: 'length' as const, stopId: null }));
  const done = new Uint8Array(B);
  let live = B;
  const stepIds = new Int32Array(B);
  const stepPos = new Int32Array(B);
  for (let step = 0; step < maxNew && live > 0; step++) {
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      const id = sampleToken(logits, b * V, Vtok, sampling, rng);
      if (stop.has(id)) {
        out[b]!.finish = 'stop';
        out[b]!.stopId = id;
        done[b] = 1;
        live--;
      } else {
        out[b]!.ids.push(id);
      }
      stepIds[b] = id;
      stepPos[b] = next[b]++;
    }
    opts.onStep?.(step + 1);
    // The last step's token needs no forward: nothing reads its logits.
    if (live > 0 && step + 1 < maxNew) logits = decodeStep(model, state, stepIds, stepPos);
  }
  for (const r of out) r.text = tok.decode(r.ids, { skipSpecialTokens: true });
  return out;
}

function checkSampling(o: SamplingOptions): Required<SamplingOptions> {
  const temperature = o.temperature ?? 0;
  const topP = o.topP ?? 1;
  const topK = o.topK ?? 0;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new HaloError('E_ARG', `temperature must be ≥ 0 (0 = greedy), got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new HaloError('E_ARG', `topP must be in (0, 1], got ${topP}`);
  if (!Number.isInteger(topK) || topK < 0) throw new HaloError('E_ARG', `topK must be a non-negative integer (0 = off), got ${topK}`);
  return { temperature, topP, topK };
}

/**
 * Picks the next token from logits[offset .. offset+V). Greedy when temperature is 0; otherwise softmax of
 * logits/temperature restricted to the topK most likely tokens, then to the smallest prefix (most likely
 * first) whose probability reaches topP, renormalised and sampled with one rng.next().
 */
export function sampleToken(logits: FloatArray, offset: number, V: number, o: SamplingOptions, rng: Rng): number {
  const { temperature, topP, topK } = checkSampling(o);
  let best = 0;
  let max = -Infinity;
  for (let i = 0; i < V; i++) {
    const z = logits[offset + i];
    if (Number.isNaN(z)) throw new HaloError('E_NUMERIC', `logit of token ${i} is NaN; the model weights or activations are not finite`);
    if (z > max) [max, best] = [z, i];
  }
  if (max === -Infinity) throw new HaloError('E_NUMERIC', 'every logit is −∞; there is no token to choose');
  if (temperature === 0) return best;

  const order = Int32Array.from({ length: V }, (_, i) => i);
  order.sort((a, b) => logits[offset + b] - logits[offset + a] || a - b);
  const k = topK > 0 ? Math.min(topK, V) : V;
  const p = new Float64Array(k);
  let sum = 0;
  for (let r = 0; r < k; r++) sum += p[r] = Math.exp((logits[offset + order[r]] - max) / temperature);
  // Nucleus: the shortest most-likely-first prefix with mass ≥ topP (always at least one token).
  let keep = k;
  if (topP < 1) {
    let cum = 0;
    for (let r = 0; r < k; r++) {
      cum += p[r] / sum;
      if (cum >= topP) {
        keep = r + 1;
        break;
      }
    }
  }
  let kept = 0;
  for (let r = 0; r < keep; r++) kept += p[r];
  let u = rng.next() * kept;
  for (let r = 0; r < keep; r++) {
    u -= p[r];
    if (u < 0) return order[r];
  }
  return order[keep - 1];
}
