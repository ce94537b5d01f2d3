// A Hugging Face model folder (what `save_pretrained` writes): config.json, model.safetensors or shards +
// model.safetensors.index.json, and the tokenizer files. This file knows which tensors a Llama / Qwen2 /
// Mistral config implies (names exactly as in transformers' modeling_llama.py state dict, shapes as
// nn.Linear's [out, in]), checks a checkpoint against that list by name before reading any data, loads it,
// and saves one back in the checkpoint's dtype with the tokenizer files copied beside it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DType } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { assertFiniteTensor } from '../core/finite.ts';
import { checkJsonDepth } from '../core/json-guard.ts';
import type { Tensor } from '../core/tensor.ts';
import { castTensor } from './cast.ts';
import { readModelConfig, serializeModelConfig, TORCH_DTYPE_OF_HALO, type ModelConfig } from './hf-config.ts';
import { INDEX_FILE, readShardedHeaders, SINGLE_FILE, writeShardedSafetensors } from './safetensors-index.ts';
import { checkTensors, describeTensorCheck, expectedTensors, isIgnorableTensor, type TensorCheck, type TensorSource } from './model-tensors.ts';
import {
  HALO_DTYPE_OF,
  pickleError,
  readSafetensorsHeader,
  SafetensorsFile,
  SAFETENSORS_ITEMSIZE,
  tensorEntries,
  writeFileAtomic,
  type SafetensorsDType,
  type SafetensorsHeader,
  type TensorDict,
} from './safetensors.ts';

// Which tensors a config implies, and the check against them, are model-tensors.ts (no I/O: the browser build
// uses them); re-exported so Node callers keep one import.
export * from './model-tensors.ts';

/** Files besides config.json and the weights that make a folder usable by transformers; copied on save. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'generation_config.json',
  'tokenizer.model',
] as const;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  bytes: number;
  /** Weight file (base name) holding it. */
  file: string;
}

export interface ModelFolderInfo {
  dir: string;
  config: ModelConfig;
  /** Weight files (base names); for a sharded checkpoint the index file comes first. */
  weightFiles: string[];
  sharded: boolean;
  /** Every tensor of the checkpoint (from the headers; no data read), in file then data order. */
  tensors: TensorInfo[];
  check: TensorCheck;
  /** Which of TOKENIZER_FILES the folder has. */
  tokenizerFiles: string[];
  generationConfig: Record<string, unknown> | null;
  /** Ids that end generation: generation_config's eos_token_id, then config.json's (deduplicated). */
  eosTokenIds: number[];
}

function readJsonIfPresent(file: string): Record<string, unknown> | null {
  if (!fs.existsSync(file)) return null;
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HaloError('E_FORMAT', `${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HaloError('E_FORMAT', `${file}: not a JSON object`);
  checkJsonDepth(v, file);
  return v as Record<string, unknown>;
}

function idList(v: unknown): number[] {
  const a = Array.isArray(v) ? v : v === null || v === undefined ? [] : [v];
  return a.filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0);
}

/** model.safetensors if present (transformers looks for it first), else the sharded index. */
function weightHeaders(dir: string): { files: string[]; sharded: boolean; headers: SafetensorsHeader[] } {
  const single = path.join(dir, SINGLE_FILE);
  if (fs.existsSync(single)) return { files: [SINGLE_FILE], sharded: false, headers: [readSafetensorsHeader(single)] };
  const index = path.join(dir, INDEX_FILE);
  if (fs.existsSync(index)) {
    const { headers } = readShardedHeaders(index);
    return { files: [INDEX_FILE, ...headers.map((h) => path.basename(h.file))], sharded: true, headers };
  }
  const names = fs.readdirSync(dir);
  const pickle = names.find((n) => /\.(bin|pt|pth|ckpt)$/.test(n) || n === 'pytorch_model.bin.index.json');
  if (pickle) throw pickleError(path.join(dir, pickle));
  throw new HaloError('E_IO', `no ${SINGLE_FILE} or ${INDEX_FILE} in ${dir}`);
}

/** Reads config, tensor headers and file list of a folder, without loading any tensor data. */
export function scanModelFolder(dir: string): ModelFolderInfo {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new HaloError('E_IO', `no such model folder: ${dir}`);
  }
  if (!st.isDirectory()) throw new HaloError('E_IO', `no such model folder: ${dir} (it is a file)`);
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new HaloError('E_IO', `no config.json in ${dir}`);
  const config = readModelConfig(path.join(dir, 'config.json'));
  const { files, sharded, headers } = weightHeaders(dir);
  const tensors: TensorInfo[] = [];
  for (const h of headers) {
    for (const t of h.tensors) tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.end - t.begin, file: path.basename(h.file) });
  }
  const generationConfig = readJsonIfPresent(path.join(dir, 'generation_config.json'));
  const eos = [...idList(generationConfig?.eos_token_id), ...idList(config.eos_token_id)];
  return {
    dir,
    config,
    weightFiles: files,
    sharded,
    tensors,
    check: checkTensors(config, tensors),
    tokenizerFiles: TOKENIZER_FILES.filter((f) => fs.existsSync(path.join(dir, f))),
    generationConfig,
    eosTokenIds: [...new Set(eos)],
  };
}

export interface LoadOptions {
  /** Convert every floating-point tensor to this dtype on load (e.g. 'f32' for training). Default: keep. */
  dtype?: DType;
  /** Throw on missing or mis-shaped tensors, or layers past the config's (default true). Other unexpected ones are only reported. */
  strict?: boolean;
  /** Let weights with NaN/Inf load (default: E_NUMERIC naming the tensor, checked as each one is read). */
  allowNonfinite?: boolean;
}

export interface HfModel extends ModelFolderInfo {
  /** Tensors keyed by their checkpoint names (ignorable buffers dropped). */
  weights: Map<string, Tensor>;
  /** Storage dtype of the checkpoint (that of model.embed_tokens.weight), before any conversion. */
  dtype: DType;
}

/** A folder opened for reading tensor by tensor: never more than one tensor's bytes in memory at a time. */
export interface OpenModelFolder extends ModelFolderInfo {
  /** Storage dtype of the checkpoint (that of model.embed_tokens.weight). */
  dtype: DType;
  /** Reads a tensor on each call (converted to LoadOptions.dtype when the folder was opened with one). */
  reader: TensorSource;
  close(): void;
}

function checkedInfo(dir: string, strict: boolean): { info: ModelFolderInfo; stored: DType } {
  const info = scanModelFolder(dir);
  if (strict) {
    const { missing, misshaped, extraLayers } = info.check;
    if (missing.length || misshaped.length || extraLayers.length) {
      throw new HaloError('E_FORMAT', `${dir}: tensors do not match config.json (${describeTensorCheck({ ...info.check, unexpected: [] })})`);
    }
  }
  const embed = info.tensors.find((t) => t.name === 'model.embed_tokens.weight') ?? info.tensors[0];
  const stored = embed ? HALO_DTYPE_OF[embed.dtype] : 'f32';
  if (!stored) throw new HaloError('E_UNSUPPORTED', `${dir}: weights are stored as ${embed!.dtype}, which halo does not load`);
  return { info, stored };
}

/**
 * Opens a folder (config and headers checked, no tensor data read) for tensor-by-tensor reading: what a large
 * checkpoint needs, since the model can then convert or quantize each weight as it arrives.
 */
export function openModelFolder(dir: string, opts: LoadOptions = {}): OpenModelFolder {
  const { info, stored } = checkedInfo(dir, opts.strict ?? true);
  const fileOf = new Map(info.tensors.filter((t) => !isIgnorableTensor(t.name)).map((t) => [t.name, t.file]));
  const files = new Map<string, SafetensorsFile>();
  const open = (file: string) => {
    let f = files.get(file);
    if (!f) files.set(file, (f = SafetensorsFile.open(path.join(dir, file))));
    return f;
  };
  return {
    ...info,
    dtype: stored,
    reader: {
      get(name) {
        const file = fileOf.get(name);
        if (file === undefined) return undefined;
        const x = open(file).read(name);
        // Scanned as stored, before a cast: one pass over bytes that were just read.
        if (!opts.allowNonfinite) assertFiniteTensor(name, x, path.join(dir, file), 'the checkpoint is damaged (or --allow-nonfinite loads it anyway)');
        return opts.dtype ? castTensor(x, opts.dtype, `${file}: ${name}`) : x;
      },
    },
    close() {
      for (const f of files.values()) f.close();
      files.clear();
    },
  };
}

/** Loads config and every tensor of a folder; checks names and shapes against the config first. */
export function loadModelFolder(dir: string, opts: LoadOptions = {}): HfModel {
  const folder = openModelFolder(dir, opts);
  const weights = new Map<string, Tensor>();
  try {
    for (const t of folder.tensors) if (!isIgnorableTensor(t.name)) weights.set(t.name, folder.reader.get(t.name)!);
  } finally {
    folder.close();
  }
  const { reader: _reader, close: _close, ...info } = folder;
  return { ...info, weights };
}

export interface SaveOptions {
  config: ModelConfig;
  weights: TensorDict;
  /** Store floating-point tensors in this dtype (default: as given); also written as config.torch_dtype. */
  dtype?: DType;
  /** Folder whose tokenizer files (TOKENIZER_FILES) are copied beside the weights; usually the source model. */
  tokenizerFrom?: string | null;
  /** Split into shards above this many bytes (default 5 GB, as transformers). */
  maxShardBytes?: number;
  /** Check weights against the config before writing (default true). */
  strict?: boolean;
}

const WEIGHT_FILE = /^model(-\d{5}-of-\d{5})?\.safetensors$/;

/** Writes config.json, the weights (single file or shards + index), and copies the tokenizer files. */
export function saveModelFolder(dir: string, opts: SaveOptions): string[] {
  let entries = tensorEntries(opts.weights);
  if (opts.strict ?? true) {
    const r = checkTensors(
      opts.config,
      entries.map(([name, t]) => ({ name, shape: t.shape })),
    );
    if (r.missing.length || r.misshaped.length || r.extraLayers.length) {
      throw new HaloError('E_SHAPE', `cannot save to ${dir}: weights do not match the config (${describeTensorCheck({ ...r, unexpected: [] })})`);
    }
  }
  let config = opts.config;
  if (opts.dtype) {
    const d = opts.dtype;
    entries = entries.map(([n, t]) => [n, ['f64', 'f32', 'bf16', 'f16'].includes(t.dtype) ? castTensor(t, d, n) : t]);
    config = { ...config, torch_dtype: TORCH_DTYPE_OF_HALO[d] ?? config.torch_dtype };
  }
  fs.mkdirSync(dir, { recursive: true });
  const written = writeShardedSafetensors(dir, new Map(entries), { maxShardBytes: opts.maxShardBytes, metadata: { format: 'pt' } });
  const text = serializeModelConfig(config);
  writeFileAtomic(path.join(dir, 'config.json'), (fd) => fs.writeSync(fd, text));
  written.unshift('config.json');
  // Weight files of an earlier save that the new one does not use would confuse loaders.
  for (const f of fs.readdirSync(dir)) {
    if ((WEIGHT_FILE.test(f) || f === INDEX_FILE) && !written.includes(f)) fs.rmSync(path.join(dir, f));
  }
  const from = opts.tokenizerFrom;
  if (from && path.resolve(from) !== path.resolve(dir)) {
    for (const f of TOKENIZER_FILES) {
      const src = path.join(from, f);
      if (!fs.existsSync(src)) continue;
      const bytes = fs.readFileSync(src);
      writeFileAtomic(path.join(dir, f), (fd) => fs.writeSync(fd, bytes));
      written.push(f);
    }
  }
  return written;
}

/** Bytes per element of a safetensors dtype (for size reports). */
export function itemSize(d: SafetensorsDType): number {
  return SAFETENSORS_ITEMSIZE[d];
}
