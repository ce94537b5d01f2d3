// Test utility: writes a complete, random, tiny Hugging Face model folder (config.json, model.safetensors or
// shards, tokenizer.json, tokenizer_config.json with a chat template, special_tokens_map.json,
// generation_config.json) that loadModelFolder / loadTokenizer — and transformers — can open. Seeded, so two
// calls with the same options write byte-identical folders.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../core/errors.ts';
import { Rng } from '../../core/rng.ts';
import { Tensor } from '../../core/tensor.ts';
import { castTensor } from '../cast.ts';
import { parseModelConfig, TORCH_DTYPE_OF_HALO, type ModelConfig, type RopeScaling } from '../hf-config.ts';
import { expectedTensors, saveModelFolder } from '../hf-folder.ts';
import { writeFileAtomic } from '../safetensors.ts';
import { makeTinyTokenizer, type ChatFormat } from './tiny-tokenizer.ts';

export interface TinyModelOptions {
  arch?: 'llama' | 'qwen2' | 'mistral';
  hidden?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  /** Default hidden / heads. */
  headDim?: number;
  intermediate?: number;
  /** Embedding rows = tokenizer size; at least 261 (256 bytes + 5 specials). */
  vocab?: number;
  tied?: boolean;
  seed?: number;
  dtype?: 'f32' | 'bf16' | 'f16';
  /** Std of the random linear / embedding weights (norm weights are 1 + std·N(0,1)). */
  std?: number;
  ropeTheta?: number;
  ropeScaling?: RopeScaling | null;
  maxPositions?: number;
  rmsNormEps?: number;
  /** Llama only: biases on q/k/v/o (attention_bias) and on the MLP (mlp_bias). */
  attentionBias?: boolean;
  mlpBias?: boolean;
  /** Special tokens + chat template: 'llama3' (default, all archs) or 'chatml' (Qwen2's). */
  chat?: ChatFormat;
  /** Shard the weights above this many bytes (to test sharded loading). */
  maxShardBytes?: number;
}

export interface TinyModel {
  dir: string;
  config: ModelConfig;
  /** The weights as written (in opts.dtype). */
  weights: Map<string, Tensor>;
  /** Ids of the tokenizer's special tokens by content, e.g. ids['<|eot_id|>']. */
  specialIds: Record<string, number>;
}

const ARCH_CLASS = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', mistral: 'MistralForCausalLM' } as const;

/** config.json contents for the options (what transformers' config classes would write). */
export function tinyConfigJson(o: TinyModelOptions = {}): Record<string, unknown> {
  const arch = o.arch ?? 'llama';
  const hidden = o.hidden ?? 64;
  const heads = o.heads ?? 4;
  const vocab = o.vocab ?? 320;
  const tok = makeTinyTokenizer(vocab, o.chat ?? 'llama3');
  const json: Record<string, unknown> = {
    architectures: [ARCH_CLASS[arch]],
    model_type: arch,
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: o.intermediate ?? 128,
    num_hidden_layers: o.layers ?? 2,
    num_attention_heads: heads,
    num_key_value_heads: o.kvHeads ?? 2,
    hidden_act: 'silu',
    max_position_embeddings: o.maxPositions ?? 256,
    rms_norm_eps: o.rmsNormEps ?? 1e-5,
    rope_theta: o.ropeTheta ?? 500000,
    rope_scaling: o.ropeScaling ?? null,
    tie_word_embeddings: o.tied ?? false,
    initializer_range: 0.02,
    use_cache: true,
    bos_token_id: tok.bosId,
    eos_token_id: tok.eosIds.length === 1 ? tok.eosIds[0] : tok.eosIds,
    torch_dtype: TORCH_DTYPE_OF_HALO[o.dtype ?? 'f32'],
    transformers_version: '4.46.0',
  };
  if (o.headDim !== undefined) json.head_dim = o.headDim;
  if (arch === 'llama') {
    json.attention_bias = o.attentionBias ?? false;
    json.attention_dropout = 0.0;
    json.mlp_bias = o.mlpBias ?? false;
    json.pretraining_tp = 1;
  } else if (o.attentionBias || o.mlpBias) {
    throw new HaloError('E_ARG', `attentionBias / mlpBias are Llama options; ${arch} has fixed biases`);
  }
  if (arch === 'qwen2') Object.assign(json, { use_sliding_window: false, sliding_window: null, max_window_layers: o.layers ?? 2, attention_dropout: 0.0 });
  if (arch === 'mistral') Object.assign(json, { sliding_window: null, attention_dropout: 0.0 });
  return json;
}

/** Random weights for a config, in model order, generated in f32 from `seed` then cast to `dtype`. */
export function tinyWeights(config: ModelConfig, seed = 1, dtype: 'f32' | 'bf16' | 'f16' = 'f32', std = 0.02): Map<string, Tensor> {
  const rng = new Rng(seed);
  const out = new Map<string, Tensor>();
  for (const { name, shape } of expectedTensors(config)) {
    const t = Tensor.zeros(shape, 'f32');
    const d = t.data;
    if (name.endsWith('norm.weight')) for (let i = 0; i < d.length; i++) d[i] = 1 + std * rng.normal();
    else rng.fillNormal(d, std);
    out.set(name, castTensor(t, dtype, name));
  }
  return out;
}

/** Writes a complete random tiny HF model folder into `dir` (created if needed). */
export function writeTinyModelFolder(dir: string, opts: TinyModelOptions = {}): TinyModel {
  const vocab = opts.vocab ?? 320;
  const chat = opts.chat ?? 'llama3';
  const tok = makeTinyTokenizer(vocab, chat);
  const config = parseModelConfig(tinyConfigJson(opts), 'tiny config');
  const weights = tinyWeights(config, opts.seed ?? 1, opts.dtype ?? 'f32', opts.std ?? 0.02);
  saveModelFolder(dir, { config, weights, maxShardBytes: opts.maxShardBytes });
  const json = (name: string, v: unknown) => {
    const text = JSON.stringify(v, null, 2) + '\n';
    writeFileAtomic(path.join(dir, name), (fd) => fs.writeSync(fd, text));
  };
  json('tokenizer.json', tok.tokenizer);
  json('tokenizer_config.json', tok.tokenizerConfig);
  json('special_tokens_map.json', tok.specialTokensMap);
  json('generation_config.json', {
    bos_token_id: tok.bosId,
    eos_token_id: tok.eosIds,
    do_sample: false,
    transformers_version: '4.46.0',
  });
  return { dir, config, weights, specialIds: tok.ids };
}
