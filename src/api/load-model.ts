// loadModel(): a model folder (optionally with a PEFT adapter folder applied, unmerged) loaded for inference —
// no gradient buffers — with its tokenizer and the HALO config it runs with. Full precision unless asked:
// a HALO level runs the linears quantized (int8 by default), asTrained re-applies the halo_config.json that
// finetune() saved beside the weights. evaluate(), generate() and `halo eval` / `halo generate` load with it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import { describeConfig, haloConfig, type Format, type HaloConfig, type Level } from '../halo/config.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import type { LlamaModel } from '../models/llama.ts';
import { loadLlama } from '../models/load.ts';
import { loadPeftLlama } from '../peft/load.ts';
import { GRANULARITIES, type Granularity } from '../quant/index.ts';
import { loadTokenizer } from '../tokenizer/hf.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';
import { haloFromSettings, type HaloSettings } from './halo-settings.ts';

export interface LoadModelOptions extends HaloSettings {
  /** A PEFT adapter folder (adapter_config.json + adapter_model.safetensors, LoRA or HUT) applied unmerged. */
  adapter?: string;
  /** Run as trained: the halo_config.json in the model folder (or the adapter folder); overrides level/format. */
  asTrained?: boolean;
  /** Load weights that hold NaN/Inf (default: an error naming the tensor). */
  allowNonfinite?: boolean;
  /** Where the one-line summary goes (default: nowhere). */
  log?: (line: string) => void;
}

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: TextTokenizer;
  halo: HaloConfig;
  config: ModelConfig;
  /** Token ids that end generation (config.json's eos_token_id). */
  eosTokenIds: number[];
  /** The folder it was loaded from (and the adapter's). */
  dir: string;
  adapter?: string;
}

/** Loads `dir` for inference. */
export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  return loadModelSync(dir, opts);
}

/** loadModel, synchronously (the CLI commands and the other API functions). */
export function loadModelSync(dir: string, opts: LoadModelOptions = {}): LoadedModel {
  const adapter = opts.adapter;
  const halo = opts.asTrained
    ? readHaloConfigFile(path.join(adapter ?? dir, 'halo_config.json'))
    : haloFromSettings({ ...opts, format: opts.format ?? (opts.level === undefined || opts.level === 'none' ? 'fp32' : 'int8') }, { level: 'none' });
  const tokenizer = loadTokenizer(dir);
  const backend = opts.backend;
  const allowNonfinite = opts.allowNonfinite === true;
  // With an adapter: the frozen base with the adapters hooked in (dropout off), as a plain LlamaModel to decode with.
  const peft = adapter !== undefined ? loadPeftLlama(dir, { halo, backend, adapter, allowNonfinite }) : null;
  const { model, source } = peft ? { model: peft.model.model, source: peft.source } : loadLlama(dir, { halo, backend, trainable: () => false, allowNonfinite });
  if (tokenizer.vocabSize > source.config.vocab_size) {
    throw new HaloError('E_FORMAT', `${dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${source.config.vocab_size}`);
  }
  opts.log?.(
    `model ${dir}${adapter !== undefined ? ` + adapter ${adapter}` : ''}: ${source.config.architecture}, ${source.config.num_hidden_layers} layers, hidden ${source.config.hidden_size}; linears ${describeConfig(halo)}`,
  );
  return { model, tokenizer, halo, config: source.config, eosTokenIds: source.eosTokenIds, dir, ...(adapter !== undefined ? { adapter } : {}) };
}

/** A halo_config.json that finetune() wrote, checked field by field. */
export function readHaloConfigFile(file: string): HaloConfig {
  if (!fs.existsSync(file)) throw new HaloError('E_IO', `--as-trained: no ${file} (it is written by 'halo finetune'); pass --level/--format instead`);
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new HaloError('E_FORMAT', `${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null) throw new HaloError('E_FORMAT', `${file}: not a JSON object`);
  const granularity = v.granularity ?? 'tensor';
  if (!GRANULARITIES.includes(granularity as Granularity))
    throw new HaloError('E_FORMAT', `${file}: granularity must be one of ${GRANULARITIES.join(', ')}, got ${JSON.stringify(granularity)}`);
  const block = v.hadamardBlock ?? 'auto';
  if (block !== 'auto' && block !== 'full' && !(Number.isInteger(block) && (block as number) > 0)) {
    throw new HaloError('E_FORMAT', `${file}: hadamardBlock must be 'auto', 'full' or a positive integer, got ${JSON.stringify(block)}`);
  }
  // Files from before lm_head's precision was written down never ran it in bf16 unless they say so: f32.
  const lmHead = v.lmHead ?? 'f32';
  if (lmHead !== 'f32' && lmHead !== 'bf16') throw new HaloError('E_FORMAT', `${file}: lmHead must be 'f32' or 'bf16', got ${JSON.stringify(lmHead)}`);
  try {
    return haloConfig({
      level: v.level as Level,
      format: v.format as Format,
      granularity: granularity as Granularity,
      hadamardBlock: block as HaloConfig['hadamardBlock'],
      lmHead,
    });
  } catch (e) {
    throw new HaloError('E_FORMAT', `${file}: ${(e as Error).message}`);
  }
}
