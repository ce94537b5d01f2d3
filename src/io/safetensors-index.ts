// Sharded safetensors checkpoints, as transformers writes them: `model-00001-of-00003.safetensors`, … plus
// `model.safetensors.index.json` = {"metadata": {"total_size": N}, "weight_map": {tensor: file}}.
// A checkpoint small enough for one shard is a single `model.safetensors` with no index (transformers does
// the same). The index is untrusted input too: file names must be plain names inside the folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import { checkJsonDepth, preview } from '../core/json-guard.ts';
import type { Tensor } from '../core/tensor.ts';
import {
  readSafetensorsHeader,
  SafetensorsFile,
  tensorEntries,
  writeFileAtomic,
  writeSafetensors,
  type SafetensorsHeader,
  type TensorDict,
} from './safetensors.ts';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';
/** transformers' default max_shard_size ("5GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

export interface SafetensorsIndex {
  metadata: Record<string, unknown>;
  weight_map: Record<string, string>;
}

function indexError(file: string, reason: string): HaloError {
  return new HaloError('E_FORMAT', `${file}: not a valid safetensors index: ${reason}`);
}

/** Reads and validates an index file (JSON shape and shard names; not the shards themselves). */
export function readSafetensorsIndex(file: string): SafetensorsIndex {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new HaloError('E_IO', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw indexError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw indexError(file, 'not a JSON object');
  checkJsonDepth(json, file);
  const { metadata = {}, weight_map } = json as Record<string, unknown>;
  if (typeof weight_map !== 'object' || weight_map === null || Array.isArray(weight_map)) throw indexError(file, 'weight_map must be an object');
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw indexError(file, 'metadata must be an object');
  for (const [name, shard] of Object.entries(weight_map)) {
    if (typeof shard !== 'string' || shard === '' || shard !== path.basename(shard) || shard === '.' || shard === '..') {
      throw indexError(file, `weight_map['${name}'] must be a file name inside the folder, got ${preview(shard)}`);
    }
    if (!shard.endsWith('.safetensors')) throw indexError(file, `weight_map['${name}'] = '${shard}' is not a .safetensors file`);
  }
  return { metadata: metadata as Record<string, unknown>, weight_map: weight_map as Record<string, string> };
}

/** Shard files of an index in first-use order, each with the tensors the index assigns to it. */
export function shardsOf(index: SafetensorsIndex): Map<string, string[]> {
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(index.weight_map)) {
    const list = shards.get(shard) ?? [];
    list.push(name);
    shards.set(shard, list);
  }
  return shards;
}

/** Validated headers of every shard; checks each tensor of the index is in its shard, and no name is in two. */
export function readShardedHeaders(indexFile: string): { index: SafetensorsIndex; headers: SafetensorsHeader[] } {
  const index = readSafetensorsIndex(indexFile);
  const dir = path.dirname(indexFile);
  const headers: SafetensorsHeader[] = [];
  const seen = new Map<string, string>();
  for (const [shard, names] of shardsOf(index)) {
    const file = path.join(dir, shard);
    if (!fs.existsSync(file)) throw new HaloError('E_IO', `${indexFile} lists shard ${shard}, which is missing from ${dir}`);
    const h = readSafetensorsHeader(file);
    const have = new Set(h.tensors.map((t) => t.name));
    for (const n of names) if (!have.has(n)) throw indexError(indexFile, `tensor '${n}' is mapped to ${shard}, which does not contain it`);
    for (const t of h.tensors) {
      const other = seen.get(t.name);
      if (other) throw indexError(indexFile, `tensor '${t.name}' is stored in both ${other} and ${shard}`);
      seen.set(t.name, shard);
    }
    headers.push(h);
  }
  return { index, headers };
}

/** Loads every tensor of a sharded checkpoint (or those `filter` accepts). */
export function readShardedSafetensors(
  indexFile: string,
  filter?: (name: string) => boolean,
): { tensors: Map<string, Tensor>; index: SafetensorsIndex; files: string[] } {
  const { index, headers } = readShardedHeaders(indexFile);
  const tensors = new Map<string, Tensor>();
  for (const h of headers) {
    const f = SafetensorsFile.open(h.file);
    try {
      for (const [k, v] of f.readAll(filter)) tensors.set(k, v);
    } finally {
      f.close();
    }
  }
  return { tensors, index, files: headers.map((h) => path.basename(h.file)) };
}

/** Sorts names so that layer numbers compare as numbers (layers.2 before layers.10). */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export interface ShardedWriteOptions {
  /** Upper bound on one shard's tensor bytes (a larger single tensor gets a shard of its own). */
  maxShardBytes?: number;
  /** String metadata stored in every shard's header (transformers writes {format: 'pt'}). */
  metadata?: Readonly<Record<string, string>> | null;
  /** File name stem: 'model' → model.safetensors / model-0000i-of-0000n.safetensors. */
  prefix?: string;
}

/**
 * Writes tensors to `dir`: one `${prefix}.safetensors` when they fit in maxShardBytes, else shards plus an
 * index. Tensors go to shards in natural name order. Returns the files written (the index last, if any).
 */
export function writeShardedSafetensors(dir: string, tensors: TensorDict, opts: ShardedWriteOptions = {}): string[] {
  const max = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(max > 0)) throw new HaloError('E_ARG', `maxShardBytes must be positive, got ${max}`);
  const prefix = opts.prefix ?? 'model';
  const entries = tensorEntries(tensors).sort(([a], [b]) => naturalCompare(a, b));
  const groups: [string, Tensor][][] = [];
  let cur: [string, Tensor][] = [];
  let curBytes = 0;
  let total = 0;
  for (const e of entries) {
    const b = e[1].bytes;
    if (cur.length && curBytes + b > max) {
      groups.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(e);
    curBytes += b;
    total += b;
  }
  if (cur.length || !groups.length) groups.push(cur);
  fs.mkdirSync(dir, { recursive: true });
  if (groups.length === 1) {
    writeSafetensors(path.join(dir, `${prefix}.safetensors`), new Map(groups[0]), opts.metadata);
    return [`${prefix}.safetensors`];
  }
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  const files: string[] = [];
  const weightMap = new Map<string, string>(); // a Map: a tensor named '__proto__' must stay a plain key
  groups.forEach((g, i) => {
    const name = `${prefix}-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    writeSafetensors(path.join(dir, name), new Map(g), opts.metadata);
    for (const [t] of g) weightMap.set(t, name);
    files.push(name);
  });
  const indexName = prefix === 'model' ? INDEX_FILE : `${prefix}.safetensors.index.json`;
  const sortedMap = Object.fromEntries([...weightMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))); // transformers sorts keys
  const json = JSON.stringify({ metadata: { total_size: total }, weight_map: sortedMap }, null, 2) + '\n';
  writeFileAtomic(path.join(dir, indexName), (fd) => fs.writeSync(fd, json));
  files.push(indexName);
  return files;
}
