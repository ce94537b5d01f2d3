// Which tensors a Llama / Qwen2 / Mistral config implies (names exactly as in transformers' modeling_llama.py
// state dict, shapes as nn.Linear's [out, in]), a checkpoint's names and shapes checked against that list, and
// where a model's tensors come from. No I/O: src/io/hf-folder.ts reads folders with these, the browser build
// checks fetched files with them.
import type { Tensor } from '../core/tensor.ts';
import type { ModelConfig } from './model-config.ts';

export interface TensorSpec {
  name: string;
  shape: number[];
}

/** Every tensor a config implies, in model order, with its [out, in] (or [n]) shape. */
export function expectedTensors(c: ModelConfig): TensorSpec[] {
  const H = c.hidden_size;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  const I = c.intermediate_size;
  const out: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocab_size, H] }];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [H] });
    for (const [n, rows] of [
      ['q_proj', q],
      ['k_proj', kv],
      ['v_proj', kv],
    ] as const) {
      out.push({ name: `${p}.self_attn.${n}.weight`, shape: [rows, H] });
      if (c.attention_bias) out.push({ name: `${p}.self_attn.${n}.bias`, shape: [rows] });
    }
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [H, q] });
    if (c.o_proj_bias) out.push({ name: `${p}.self_attn.o_proj.bias`, shape: [H] });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H] });
    for (const [n, shape] of [
      ['gate_proj', [I, H]],
      ['up_proj', [I, H]],
      ['down_proj', [H, I]],
    ] as const) {
      out.push({ name: `${p}.mlp.${n}.weight`, shape: [...shape] });
      if (c.mlp_bias) out.push({ name: `${p}.mlp.${n}.bias`, shape: [shape[0]] });
    }
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  if (!c.tie_word_embeddings) out.push({ name: 'lm_head.weight', shape: [c.vocab_size, H] });
  return out;
}

/** Buffers some old checkpoints saved that the model recomputes; skipped silently. */
export function isIgnorableTensor(name: string): boolean {
  return /\.rotary_emb\.inv_freq$/.test(name);
}

export interface TensorCheck {
  missing: string[];
  unexpected: string[];
  misshaped: { name: string; expected: number[]; actual: number[] }[];
  ignored: string[];
  /**
   * The unexpected tensors of decoder layers past num_hidden_layers: the config describes fewer layers than the
   * weights have, so loading would silently drop the rest of the model (an error when loading, not a note).
   */
  extraLayers: string[];
}

/** Compares tensor names and shapes with what the config implies. */
export function checkTensors(c: ModelConfig, actual: Iterable<{ name: string; shape: readonly number[] }>): TensorCheck {
  const want = new Map(expectedTensors(c).map((t) => [t.name, t.shape]));
  const res: TensorCheck = { missing: [], unexpected: [], misshaped: [], ignored: [], extraLayers: [] };
  const seen = new Set<string>();
  for (const { name, shape } of actual) {
    seen.add(name);
    const w = want.get(name);
    if (!w && !isIgnorableTensor(name) && Number(/^model\.layers\.(\d+)\./.exec(name)?.[1] ?? -1) >= c.num_hidden_layers) res.extraLayers.push(name);
    if (!w) (isIgnorableTensor(name) ? res.ignored : res.unexpected).push(name);
    else if (w.length !== shape.length || w.some((d, i) => d !== shape[i])) res.misshaped.push({ name, expected: w, actual: [...shape] });
  }
  for (const name of want.keys()) if (!seen.has(name)) res.missing.push(name);
  return res;
}

function list(names: string[], max = 5): string {
  return names.slice(0, max).join(', ') + (names.length > max ? ` … (${names.length} in all)` : '');
}

/**
 * One line per problem kind, or '' when the tensors fit the config. Unexpected tensors are only reported, except
 * those of layers past num_hidden_layers (extraLayers), which loading refuses.
 */
export function describeTensorCheck(r: TensorCheck): string {
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing ${list(r.missing)}`);
  if (r.extraLayers?.length) {
    const layers = new Set(r.extraLayers.map((n) => Number(/^model\.layers\.(\d+)\./.exec(n)![1])));
    parts.push(`${layers.size} more layer${layers.size === 1 ? '' : 's'} than config.json's num_hidden_layers (extra tensors ${list(r.extraLayers, 3)})`);
  }
  if (r.misshaped.length)
    parts.push(
      `wrong shape ${list(
        r.misshaped.map((m) => `${m.name} [${m.actual}] (expected [${m.expected}])`),
        3,
      )}`,
    );
  if (r.unexpected.length) parts.push(`unexpected ${list(r.unexpected)}`);
  return parts.join('; ');
}

/** Parameter count of the tensors the config implies (ignored buffers and unexpected tensors excluded). */
export function parameterCount(c: ModelConfig): number {
  return expectedTensors(c).reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** Where a model's tensors come from: a Map of loaded tensors, or a folder read one tensor at a time. */
export interface TensorSource {
  /** The tensor (a fresh copy the caller may keep, for a folder), or undefined when there is none. */
  get(name: string): Tensor | undefined;
}
