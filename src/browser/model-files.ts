// A Hugging Face model folder held in memory: the files a page fetched or the user picked (config.json,
// model.safetensors or its shards + index, tokenizer.json, tokenizer_config.json), parsed with the same
// validators the Node loader uses. No node: imports: this is the browser build's loader.
import { HaloError } from '../core/errors.ts';
import { parseJsonChecked } from '../core/json-guard.ts';
import type { Tensor } from '../core/tensor.ts';
import { parseModelConfig, type ModelConfig } from '../io/model-config.ts';
import { checkTensors, describeTensorCheck, isIgnorableTensor, type TensorSource } from '../io/model-tensors.ts';
import { parseSafetensorsBytes } from '../io/safetensors-format.ts';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.ts';

/** A folder's files by name (text or bytes). Weights: model.safetensors, or the shards model.safetensors.index.json names. */
export type ModelFiles = ReadonlyMap<string, string | Uint8Array>;

export interface LoadedModelFiles {
  config: ModelConfig;
  tokenizer: HfTokenizer;
  /** Every tensor of the checkpoint (as stored: bf16 stays bf16), checked against the config. */
  weights: TensorSource & { readonly tensors: ReadonlyMap<string, Tensor> };
}

const INDEX = 'model.safetensors.index.json';
const SINGLE = 'model.safetensors';

function text(files: ModelFiles, name: string, where: string): string {
  const f = files.get(name);
  if (f === undefined) throw new HaloError('E_IO', `${where}: no ${name}`);
  return typeof f === 'string' ? f : new TextDecoder().decode(f);
}

function bytes(files: ModelFiles, name: string, where: string): Uint8Array {
  const f = files.get(name);
  if (f === undefined) throw new HaloError('E_IO', `${where}: no ${name}`);
  return typeof f === 'string' ? new TextEncoder().encode(f) : f;
}

/** The weight files a folder needs: the single file, or the shards its index lists. */
export function weightFileNames(files: ModelFiles, where = 'model'): string[] {
  if (files.has(SINGLE)) return [SINGLE];
  if (!files.has(INDEX)) throw new HaloError('E_IO', `${where}: no ${SINGLE} or ${INDEX}`);
  const index = parseJsonChecked(text(files, INDEX, where), `${where}/${INDEX}`) as { weight_map?: Record<string, string> };
  if (typeof index?.weight_map !== 'object' || index.weight_map === null) throw new HaloError('E_FORMAT', `${where}/${INDEX}: no weight_map object`);
  return [...new Set(Object.values(index.weight_map))].sort();
}

/** Parses a folder held in memory; `where` names it in errors (a URL or the picked folder's name). */
export function loadModelFiles(files: ModelFiles, where = 'model'): LoadedModelFiles {
  const config = parseModelConfig(parseJsonChecked(text(files, 'config.json', where), `${where}/config.json`), `${where}/config.json`);
  const tcText = files.has('tokenizer_config.json') ? text(files, 'tokenizer_config.json', where) : '{}';
  const tokenizer = new HfTokenizer(
    parseJsonChecked(text(files, 'tokenizer.json', where), `${where}/tokenizer.json`),
    parseJsonChecked(tcText, `${where}/tokenizer_config.json`),
    { source: where },
  );
  const tensors = new Map<string, Tensor>();
  for (const name of weightFileNames(files, where)) {
    for (const [k, t] of parseSafetensorsBytes(bytes(files, name, where), `${where}/${name}`).tensors) if (!isIgnorableTensor(k)) tensors.set(k, t);
  }
  const check = checkTensors(
    config,
    [...tensors].map(([name, t]) => ({ name, shape: t.shape })),
  );
  if (check.missing.length || check.misshaped.length || check.extraLayers.length) {
    throw new HaloError('E_FORMAT', `${where}: tensors do not match config.json (${describeTensorCheck({ ...check, unexpected: [] })})`);
  }
  return { config, tokenizer, weights: { tensors, get: (name) => tensors.get(name) } };
}

/** The files of a served folder, fetched: config, tokenizer files, and the weights (single file or shards). */
export async function fetchModelFiles(baseUrl: string, fetchFn: typeof fetch = fetch): Promise<Map<string, string | Uint8Array>> {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const get = async (name: string, optional = false): Promise<Uint8Array | null> => {
    const r = await fetchFn(base + name);
    if (!r.ok) {
      if (optional) return null;
      throw new HaloError('E_IO', `${base}${name}: HTTP ${r.status}`);
    }
    return new Uint8Array(await r.arrayBuffer());
  };
  const files = new Map<string, string | Uint8Array>();
  for (const name of ['config.json', 'tokenizer.json']) files.set(name, (await get(name))!);
  const tc = await get('tokenizer_config.json', true);
  if (tc) files.set('tokenizer_config.json', tc);
  const single = await get(SINGLE, true);
  if (single) files.set(SINGLE, single);
  else {
    files.set(INDEX, (await get(INDEX))!);
    for (const shard of weightFileNames(files, base)) files.set(shard, (await get(shard))!);
  }
  return files;
}
