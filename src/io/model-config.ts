// config.json of a Hugging Face causal LM → a validated, typed ModelConfig, and back.
// Field names are the HF ones (snake_case), so they read exactly like the file and like transformers'
// LlamaConfig / Qwen2Config / MistralConfig (configuration_llama.py etc.), whose defaults are used for the
// optional fields. The original JSON is kept in `raw`, and the serializer writes it back with the known fields
// updated, so a load → save round trip keeps every field transformers needs (and ones we don't know).
// Differences between the three architectures that matter to the model code are made explicit here:
//   Llama: attention_bias puts a bias on q/k/v AND o_proj (default false); mlp_bias on gate/up/down.
//   Qwen2: q/k/v always have a bias, o_proj never; no MLP bias; sliding window only if use_sliding_window.
//   Mistral: no biases; sliding_window (may be null).
// No I/O here (the browser build parses fetched files with it); src/io/hf-config.ts adds readModelConfig.
import type { DType } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { checkJsonDepth, preview } from '../core/json-guard.ts';

export const ARCHITECTURES = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  MistralForCausalLM: 'mistral',
} as const;
export type Architecture = keyof typeof ARCHITECTURES;
export type ModelType = (typeof ARCHITECTURES)[Architecture];

/** Llama 3.1's frequency-dependent RoPE scaling (transformers' _compute_llama3_parameters). */
export interface Llama3RopeScaling {
  rope_type: 'llama3';
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}
export type RopeScaling = Llama3RopeScaling;

export type TorchDtype = 'float32' | 'bfloat16' | 'float16' | 'float64';
export const HALO_DTYPE_OF_TORCH: Readonly<Record<TorchDtype, DType>> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16', float64: 'f64' };
export const TORCH_DTYPE_OF_HALO: Readonly<Partial<Record<DType, TorchDtype>>> = { f32: 'float32', bf16: 'bfloat16', f16: 'float16', f64: 'float64' };

export interface ModelConfig {
  architecture: Architecture;
  model_type: ModelType;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
  /** Bias on q_proj, k_proj, v_proj. */
  attention_bias: boolean;
  /** Bias on o_proj (Llama: same as attention_bias; Qwen2, Mistral: never). */
  o_proj_bias: boolean;
  /** Bias on gate_proj, up_proj, down_proj (Llama only). */
  mlp_bias: boolean;
  /** Attention window in tokens, or null for full causal attention. */
  sliding_window: number | null;
  bos_token_id: number | number[] | null;
  eos_token_id: number | number[] | null;
  /** Storage dtype the checkpoint declares (config's torch_dtype, or dtype in newer transformers). */
  torch_dtype: TorchDtype | null;
  /** config.json as read, unknown fields included ({} for a config made in code). */
  raw: Readonly<Record<string, unknown>>;
}

/** Upper bounds far above any real model, so a typo or a corrupt file is caught before allocating memory. */
export const CONFIG_LIMITS = {
  vocab_size: 1 << 22,
  hidden_size: 1 << 16,
  intermediate_size: 1 << 20,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 4096,
  max_position_embeddings: 1 << 26,
} as const;

type Json = Record<string, unknown>;

class Reader {
  constructor(
    readonly src: string,
    readonly obj: Json,
  ) {}

  err(field: string, what: string, v: unknown): HaloError {
    return new HaloError('E_FORMAT', `${this.src}: field '${field}' ${what}, got ${preview(v)}`);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  int(field: string, opts: { min?: number; max?: number; def?: number } = {}, obj: Json = this.obj): number {
    const v = obj[field];
    if (v === undefined || v === null) {
      if (opts.def !== undefined) return opts.def;
      throw new HaloError('E_FORMAT', `${this.src}: missing required field '${field}'`);
    }
    const min = opts.min ?? 1;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw this.err(field, 'must be an integer', v);
    if (v < min) throw this.err(field, `must be ≥ ${min}`, v);
    if (opts.max !== undefined && v > opts.max) throw this.err(field, `is absurdly large (limit ${opts.max})`, v);
    return v;
  }

  num(field: string, opts: { def?: number; gt?: number; lt?: number }, obj: Json = this.obj): number {
    const v = obj[field];
    if (v === undefined || v === null) {
      if (opts.def !== undefined) return opts.def;
      throw new HaloError('E_FORMAT', `${this.src}: missing required field '${field}'`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.err(field, 'must be a finite number', v);
    if (opts.gt !== undefined && !(v > opts.gt)) throw this.err(field, `must be > ${opts.gt}`, v);
    if (opts.lt !== undefined && !(v < opts.lt)) throw this.err(field, `must be < ${opts.lt}`, v);
    return v;
  }

  bool(field: string, def: boolean): boolean {
    const v = this.obj[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') throw this.err(field, 'must be true or false', v);
    return v;
  }

  tokenIds(field: string, vocab: number): number | number[] | null {
    const v = this.obj[field];
    if (v === undefined || v === null) return null;
    const ok = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < vocab;
    if (Array.isArray(v) ? v.length > 0 && v.every(ok) : ok(v)) return v as number | number[];
    throw this.err(field, `must be a token id (or list of ids) in [0, ${vocab})`, v);
  }
}

function architectureOf(r: Reader): Architecture {
  const archs = r.obj.architectures;
  const supported = Object.keys(ARCHITECTURES).join(', ');
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || archs.length === 0 || !archs.every((a) => typeof a === 'string')) {
      throw r.err('architectures', 'must be a non-empty list of class names', archs);
    }
    const a = archs.find((x) => Object.hasOwn(ARCHITECTURES, x as string)) as Architecture | undefined;
    if (!a) throw new HaloError('E_UNSUPPORTED', `${r.src}: architectures ${preview(archs)} is not supported; halo loads ${supported}`);
    return a;
  }
  const mt = r.obj.model_type;
  const a = (Object.keys(ARCHITECTURES) as Architecture[]).find((k) => ARCHITECTURES[k] === mt);
  if (!a) throw new HaloError('E_UNSUPPORTED', `${r.src}: no 'architectures' and model_type ${preview(mt)} is not one of llama, qwen2, mistral`);
  return a;
}

function parseRope(r: Reader, maxPos: number): { theta: number; scaling: RopeScaling | null } {
  // transformers ≥ 5 folds both into rope_parameters; older files have rope_theta + rope_scaling.
  const params = r.obj.rope_parameters;
  const hasParams = typeof params === 'object' && params !== null && !Array.isArray(params);
  const field = hasParams ? 'rope_parameters' : 'rope_scaling';
  const theta =
    hasParams && (params as Json).rope_theta !== undefined ? r.num('rope_theta', { gt: 0 }, params as Json) : r.num('rope_theta', { def: 10000, gt: 0 });
  const s = hasParams ? params : r.obj.rope_scaling;
  if (s === undefined || s === null) return { theta, scaling: null };
  if (typeof s !== 'object' || Array.isArray(s)) throw r.err(field, 'must be an object or null', s);
  const o = s as Json;
  const type = o.rope_type ?? o.type ?? 'default';
  if (type === 'default') return { theta, scaling: null };
  if (type !== 'llama3') {
    throw new HaloError('E_UNSUPPORTED', `${r.src}: ${field} type ${preview(type)} is not supported (supported: llama3, default)`);
  }
  const num = (k: string, opts: { gt?: number }) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || (opts.gt !== undefined && !(v > opts.gt))) {
      throw r.err(`${field}.${k}`, `must be a number${opts.gt !== undefined ? ` > ${opts.gt}` : ''}`, v);
    }
    return v;
  };
  const factor = num('factor', { gt: 0 });
  const low = num('low_freq_factor', { gt: 0 });
  const high = num('high_freq_factor', { gt: low });
  const orig = o.original_max_position_embeddings;
  if (typeof orig !== 'number' || !Number.isInteger(orig) || orig < 1 || orig > maxPos) {
    throw r.err(`${field}.original_max_position_embeddings`, `must be an integer in [1, max_position_embeddings=${maxPos}]`, orig);
  }
  return { theta, scaling: { rope_type: 'llama3', factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: orig } };
}

/** Validates a parsed config.json. `src` names the file in error messages. */
export function parseModelConfig(json: unknown, src = 'config.json'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HaloError('E_FORMAT', `${src}: not a JSON object`);
  // Also keeps `raw` shallow enough for serializeModelConfig's JSON.stringify.
  checkJsonDepth(json, src);
  const r = new Reader(src, json as Json);
  const architecture = architectureOf(r);
  const model_type = ARCHITECTURES[architecture];
  const L = CONFIG_LIMITS;
  const vocab_size = r.int('vocab_size', { max: L.vocab_size });
  const hidden_size = r.int('hidden_size', { max: L.hidden_size });
  const intermediate_size = r.int('intermediate_size', { max: L.intermediate_size });
  const num_hidden_layers = r.int('num_hidden_layers', { max: L.num_hidden_layers });
  const num_attention_heads = r.int('num_attention_heads', { max: L.num_attention_heads });
  const num_key_value_heads = r.int('num_key_value_heads', { max: L.num_key_value_heads, def: num_attention_heads });
  if (num_key_value_heads > num_attention_heads || num_attention_heads % num_key_value_heads !== 0) {
    throw new HaloError('E_FORMAT', `${src}: field 'num_key_value_heads' (${num_key_value_heads}) must divide num_attention_heads (${num_attention_heads})`);
  }
  let head_dim: number;
  if (r.has('head_dim')) head_dim = r.int('head_dim', { max: L.head_dim });
  else {
    if (hidden_size % num_attention_heads !== 0) {
      throw new HaloError(
        'E_FORMAT',
        `${src}: field 'num_attention_heads' (${num_attention_heads}) must divide hidden_size (${hidden_size}) when head_dim is not given`,
      );
    }
    head_dim = hidden_size / num_attention_heads;
    if (head_dim > L.head_dim) {
      throw new HaloError('E_FORMAT', `${src}: head_dim derived as hidden_size / num_attention_heads = ${head_dim} is absurdly large (limit ${L.head_dim})`);
    }
  }
  if (head_dim % 2 !== 0) throw new HaloError('E_FORMAT', `${src}: field 'head_dim' must be even for rotary embeddings, got ${head_dim}`);
  const max_position_embeddings = r.int('max_position_embeddings', {
    max: L.max_position_embeddings,
    def: model_type === 'llama' ? 2048 : model_type === 'qwen2' ? 32768 : 4096 * 32,
  });
  const rope = parseRope(r, max_position_embeddings);
  const act = r.obj.hidden_act ?? 'silu';
  if (act !== 'silu') throw new HaloError('E_UNSUPPORTED', `${src}: field 'hidden_act' is ${preview(act)}; halo implements silu (SwiGLU) only`);

  const llama = model_type === 'llama';
  const attention_bias = model_type === 'qwen2' ? true : llama ? r.bool('attention_bias', false) : false;
  const o_proj_bias = llama ? attention_bias : false;
  const mlp_bias = llama ? r.bool('mlp_bias', false) : false;
  let sliding_window: number | null = null;
  if (model_type === 'mistral' || (model_type === 'qwen2' && r.bool('use_sliding_window', false))) {
    sliding_window = r.has('sliding_window') ? r.int('sliding_window') : null;
  }

  const dt = r.obj.torch_dtype ?? r.obj.dtype ?? null;
  const dtField = r.obj.torch_dtype !== undefined ? 'torch_dtype' : 'dtype';
  if (dt !== null && !(typeof dt === 'string' && Object.hasOwn(HALO_DTYPE_OF_TORCH, dt))) {
    throw r.err(dtField, `must be one of ${Object.keys(HALO_DTYPE_OF_TORCH).join(', ')}`, dt);
  }

  return {
    architecture,
    model_type,
    vocab_size,
    hidden_size,
    intermediate_size,
    num_hidden_layers,
    num_attention_heads,
    num_key_value_heads,
    head_dim,
    rms_norm_eps: r.num('rms_norm_eps', { def: 1e-6, gt: 0, lt: 1 }),
    rope_theta: rope.theta,
    rope_scaling: rope.scaling,
    max_position_embeddings,
    tie_word_embeddings: r.bool('tie_word_embeddings', false),
    attention_bias,
    o_proj_bias,
    mlp_bias,
    sliding_window,
    bos_token_id: r.tokenIds('bos_token_id', vocab_size),
    eos_token_id: r.tokenIds('eos_token_id', vocab_size),
    torch_dtype: dt as TorchDtype | null,
    raw: json as Json,
  };
}

/** The config as a config.json object: `raw` with the known fields written over, keys sorted like transformers. */
export function modelConfigToJson(c: ModelConfig): Record<string, unknown> {
  const out: Json = { ...c.raw };
  out.architectures = [c.architecture];
  out.model_type = c.model_type;
  Object.assign(out, {
    vocab_size: c.vocab_size,
    hidden_size: c.hidden_size,
    intermediate_size: c.intermediate_size,
    num_hidden_layers: c.num_hidden_layers,
    num_attention_heads: c.num_attention_heads,
    num_key_value_heads: c.num_key_value_heads,
    rms_norm_eps: c.rms_norm_eps,
    max_position_embeddings: c.max_position_embeddings,
    tie_word_embeddings: c.tie_word_embeddings,
    hidden_act: out.hidden_act ?? 'silu',
  });
  if (c.head_dim * c.num_attention_heads !== c.hidden_size || out.head_dim !== undefined) out.head_dim = c.head_dim;
  const scaling = c.rope_scaling ? { ...c.rope_scaling } : null;
  const params = out.rope_parameters;
  if (typeof params === 'object' && params !== null && !Array.isArray(params)) {
    out.rope_parameters = { ...(params as Json), ...(scaling ?? { rope_type: 'default' }), rope_theta: c.rope_theta };
    if (out.rope_theta !== undefined) out.rope_theta = c.rope_theta;
  } else {
    out.rope_theta = c.rope_theta;
    const old = out.rope_scaling;
    // keep extra keys of the original object (e.g. 'type' beside 'rope_type')
    out.rope_scaling = scaling ? { ...(typeof old === 'object' && old !== null ? old : {}), ...scaling } : null;
  }
  if (c.model_type === 'llama') {
    if (c.o_proj_bias !== c.attention_bias) {
      throw new HaloError('E_ARG', 'a Llama config has one attention_bias for q/k/v and o_proj; o_proj_bias must equal attention_bias');
    }
    out.attention_bias = c.attention_bias;
    out.mlp_bias = c.mlp_bias;
  } else if (c.attention_bias !== (c.model_type === 'qwen2') || c.o_proj_bias || c.mlp_bias) {
    throw new HaloError('E_ARG', `${c.model_type} has fixed biases (q/k/v: ${c.model_type === 'qwen2'}, o_proj and MLP: none); the config asks otherwise`);
  }
  if (c.model_type === 'mistral') out.sliding_window = c.sliding_window;
  if (c.model_type === 'qwen2' && (c.sliding_window !== null || out.use_sliding_window !== undefined)) {
    out.use_sliding_window = c.sliding_window !== null;
    if (c.sliding_window !== null) out.sliding_window = c.sliding_window;
  }
  if (c.bos_token_id !== null || out.bos_token_id !== undefined) out.bos_token_id = c.bos_token_id;
  if (c.eos_token_id !== null || out.eos_token_id !== undefined) out.eos_token_id = c.eos_token_id;
  if (c.torch_dtype !== null || out.torch_dtype !== undefined || out.dtype !== undefined) {
    out[out.dtype !== undefined && out.torch_dtype === undefined ? 'dtype' : 'torch_dtype'] = c.torch_dtype;
  }
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((k) => [k, out[k]]),
  );
}

/** config.json text: 2-space indent and a final newline, as transformers' to_json_file. */
export function serializeModelConfig(c: ModelConfig): string {
  return JSON.stringify(modelConfigToJson(c), null, 2) + '\n';
}
