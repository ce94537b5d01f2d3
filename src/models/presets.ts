// Real checkpoints' shapes, for `halo init --preset NAME`: each preset is the model's config.json as its
// Hugging Face repository ships it (same field names, same values, keys in transformers' sorted order), so a
// random folder made from it has exactly the real model's tensors — names, shapes, tied or not, Qwen2's q/k/v
// biases, Llama 3.1's rope scaling — and benchmarks or memory tests at real widths mean something without
// downloading weights. Only `transformers_version` is left out: it records the writer, and halo is not it.
// Each value was checked against the published config.json (the repository named in `repo`); the comments
// say which copy was read.
import { HaloError } from '../core/errors.ts';

export interface ModelPreset {
  /** The name `--preset` takes. */
  name: string;
  /** The Hugging Face repository whose config.json this is. */
  repo: string;
  config: Readonly<Record<string, unknown>>;
}

const LLAMA3_ROPE_SCALING_32 = { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' };

export const PRESETS: readonly ModelPreset[] = [
  {
    // HuggingFaceTB/SmolLM2-135M config.json (as printed by LlamaConfig.from_pretrained in public notes, and the
    // same fields in fine-tunes that name it as _name_or_path): GQA 9/3, head_dim 64, 8k context, θ 1e5.
    name: 'smollm2-135m',
    repo: 'HuggingFaceTB/SmolLM2-135M',
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 0,
      eos_token_id: 0,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 576,
      initializer_range: 0.041666666666666664,
      intermediate_size: 1536,
      is_llama_config: true,
      max_position_embeddings: 8192,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: 9,
      num_hidden_layers: 30,
      num_key_value_heads: 3,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_interleaved: false,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_cache: true,
      vocab_size: 49152,
    },
  },
  {
    // HuggingFaceTB/SmolLM2-360M config.json (unsloth/SmolLM2-360M's copy and fine-tunes of it): GQA 15/5.
    name: 'smollm2-360m',
    repo: 'HuggingFaceTB/SmolLM2-360M',
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 0,
      eos_token_id: 0,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 960,
      initializer_range: 0.02,
      intermediate_size: 2560,
      is_llama_config: true,
      max_position_embeddings: 8192,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: 15,
      num_hidden_layers: 32,
      num_key_value_heads: 5,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_interleaved: false,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_cache: true,
      vocab_size: 49152,
    },
  },
  {
    // Qwen/Qwen2.5-0.5B config.json: q/k/v biases (Qwen2), GQA 14/2, tied embeddings, a 151 936-row vocabulary.
    name: 'qwen2.5-0.5b',
    repo: 'Qwen/Qwen2.5-0.5B',
    config: {
      architectures: ['Qwen2ForCausalLM'],
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151643,
      hidden_act: 'silu',
      hidden_size: 896,
      initializer_range: 0.02,
      intermediate_size: 4864,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      model_type: 'qwen2',
      num_attention_heads: 14,
      num_hidden_layers: 24,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_cache: true,
      use_mrope: false,
      use_sliding_window: false,
      vocab_size: 151936,
    },
  },
  {
    // Qwen/Qwen2.5-1.5B config.json (the base model: 128k positions; the Instruct variant ships 32k): GQA 12/2.
    name: 'qwen2.5-1.5b',
    repo: 'Qwen/Qwen2.5-1.5B',
    config: {
      architectures: ['Qwen2ForCausalLM'],
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151643,
      hidden_act: 'silu',
      hidden_size: 1536,
      initializer_range: 0.02,
      intermediate_size: 8960,
      max_position_embeddings: 131072,
      max_window_layers: 28,
      model_type: 'qwen2',
      num_attention_heads: 12,
      num_hidden_layers: 28,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 131072,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_cache: true,
      use_mrope: false,
      use_sliding_window: false,
      vocab_size: 151936,
    },
  },
  {
    // meta-llama/Llama-3.2-1B config.json: head_dim 64, GQA 32/8, tied, llama3 rope scaling with factor 32.
    name: 'llama-3.2-1b',
    repo: 'meta-llama/Llama-3.2-1B',
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 8192,
      max_position_embeddings: 131072,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: 32,
      num_hidden_layers: 16,
      num_key_value_heads: 8,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: LLAMA3_ROPE_SCALING_32,
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_cache: true,
      vocab_size: 128256,
    },
  },
  {
    // meta-llama/Llama-3.2-3B config.json: head_dim 128, GQA 24/8, tied, llama3 rope scaling with factor 32.
    name: 'llama-3.2-3b',
    repo: 'meta-llama/Llama-3.2-3B',
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 128,
      hidden_act: 'silu',
      hidden_size: 3072,
      initializer_range: 0.02,
      intermediate_size: 8192,
      max_position_embeddings: 131072,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: 24,
      num_hidden_layers: 28,
      num_key_value_heads: 8,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: LLAMA3_ROPE_SCALING_32,
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_cache: true,
      vocab_size: 128256,
    },
  },
  {
    // TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json (its transformers 4.35 file: no attention_dropout or
    // mlp_bias keys): GQA 32/4, untied lm_head, Llama 2's 32 000-token vocabulary.
    name: 'tinyllama-1.1b',
    repo: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 5632,
      max_position_embeddings: 2048,
      model_type: 'llama',
      num_attention_heads: 32,
      num_hidden_layers: 22,
      num_key_value_heads: 4,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      use_cache: true,
      vocab_size: 32000,
    },
  },
  {
    // meta-llama/Llama-3.1-8B config.json: GQA 32/8, untied lm_head, llama3 rope scaling with factor 8
    // (its keys in the file's own order, which is not sorted).
    name: 'llama-3.1-8b',
    repo: 'meta-llama/Llama-3.1-8B',
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 128000,
      eos_token_id: 128001,
      hidden_act: 'silu',
      hidden_size: 4096,
      initializer_range: 0.02,
      intermediate_size: 14336,
      max_position_embeddings: 131072,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: 32,
      num_hidden_layers: 32,
      num_key_value_heads: 8,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      rope_theta: 500000.0,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      use_cache: true,
      vocab_size: 128256,
    },
  },
];

export const PRESET_NAMES: readonly string[] = PRESETS.map((p) => p.name);

/** The preset called `name`; an error listing the choices otherwise. */
export function getPreset(name: string): ModelPreset {
  const p = PRESETS.find((x) => x.name === name);
  if (!p) throw new HaloError('E_ARG', `unknown preset '${name}'; choose one of ${PRESET_NAMES.join(', ')}`);
  return p;
}

/**
 * A fresh copy of a preset's config.json object; `layers` replaces num_hidden_layers (real widths, fewer
 * layers: what tests and quick benchmarks want).
 */
export function presetConfigJson(preset: ModelPreset, opts: { layers?: number } = {}): Record<string, unknown> {
  const json = structuredClone(preset.config) as Record<string, unknown>;
  if (opts.layers !== undefined) {
    if (!Number.isInteger(opts.layers) || opts.layers < 1) throw new HaloError('E_ARG', `layers must be a positive integer, got ${opts.layers}`);
    json.num_hidden_layers = opts.layers;
  }
  return json;
}
