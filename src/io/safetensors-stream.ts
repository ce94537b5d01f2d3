// Writing safetensors checkpoints too large to hold in memory (an 8B model is 16 GB in bf16): the header is
// planned from names, dtypes and shapes alone, then each tensor's bytes come from a callback, chunk by chunk,
// and go straight to disk. Memory is one chunk, whatever the model size. The files are byte for byte what
// writeSafetensors / writeShardedSafetensors would write for the same tensors: the same header rules
// (planSafetensorsLayout), the same shard split (natural name order, a new shard when the next tensor would
// pass maxShardBytes), the same names (model.safetensors, or model-0000i-of-0000n.safetensors + the index in
// transformers' layout), and each file still goes to a temp file that is renamed into place only when whole.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DTYPES, type DType } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { numel } from '../core/tensor.ts';
import { DEFAULT_MAX_SHARD_BYTES, INDEX_FILE, naturalCompare } from './safetensors-index.ts';
import { checkHostEndianness, planSafetensorsLayout, writeAll, writeFileAtomic, type TensorLayout } from './safetensors.ts';

/** A tensor to be written: its bytes do not exist yet. */
export interface StreamedTensor {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

/** Appends bytes of the tensor being produced (little-endian element data, in row-major order). */
export type WriteChunk = (chunk: ArrayBufferView) => void;

/** Produces all of one tensor's bytes through `write`, in as many chunks as it likes. */
export type ProduceTensor = (tensor: StreamedTensor, write: WriteChunk) => void;

export interface StreamWriteOptions {
  /** Upper bound on one shard's tensor bytes (a larger single tensor gets a shard of its own). Default 5 GB. */
  maxShardBytes?: number;
  /** String metadata in every file's header (transformers writes {format: 'pt'}). */
  metadata?: Readonly<Record<string, string>> | null;
  /** File name stem: 'model' → model.safetensors / model-0000i-of-0000n.safetensors. */
  prefix?: string;
  /** Called after every chunk with the tensor bytes written so far and the total. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

interface Planned extends TensorLayout {
  tensor: StreamedTensor;
}

function layoutOf(t: StreamedTensor): Planned {
  return { tensor: t, dtype: t.dtype, shape: t.shape, bytes: numel(t.shape) * DTYPES[t.dtype].bytes };
}

/** Writes one file; `done` counts bytes across files for progress. */
function writeFile(
  file: string,
  tensors: readonly Planned[],
  produce: ProduceTensor,
  opts: StreamWriteOptions,
  progress: { done: number; total: number },
): void {
  const { header, order } = planSafetensorsLayout(
    tensors.map((p) => [p.tensor.name, p] as [string, Planned]),
    opts.metadata,
  );
  writeFileAtomic(file, (fd) => {
    writeAll(fd, header);
    for (const [name, p] of order) {
      let written = 0;
      produce(p.tensor, (chunk) => {
        const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (written + bytes.length > p.bytes) {
          throw new HaloError('E_SHAPE', `${file}: tensor '${name}' [${p.shape}] ${p.dtype} is ${p.bytes} bytes; the producer wrote more`);
        }
        writeAll(fd, bytes);
        written += bytes.length;
        progress.done += bytes.length;
        opts.onProgress?.(progress.done, progress.total);
      });
      if (written !== p.bytes) {
        throw new HaloError('E_SHAPE', `${file}: tensor '${name}' [${p.shape}] ${p.dtype} is ${p.bytes} bytes; the producer wrote ${written}`);
      }
    }
  });
}

/** How tensors split into shards: natural name order, a new shard when the next one would pass `max` bytes. */
export function planShards<T extends { name: string; bytes: number }>(tensors: readonly T[], max: number): T[][] {
  const sorted = [...tensors].sort((a, b) => naturalCompare(a.name, b.name));
  const groups: T[][] = [];
  let cur: T[] = [];
  let curBytes = 0;
  for (const t of sorted) {
    if (cur.length && curBytes + t.bytes > max) {
      groups.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(t);
    curBytes += t.bytes;
  }
  if (cur.length || !groups.length) groups.push(cur);
  return groups;
}

/**
 * Writes `tensors` into `dir` (created if needed), one `${prefix}.safetensors` when they fit in maxShardBytes,
 * else shards plus an index. Returns the files written, the index last.
 */
export function writeSafetensorsStreaming(dir: string, tensors: readonly StreamedTensor[], produce: ProduceTensor, opts: StreamWriteOptions = {}): string[] {
  checkHostEndianness();
  const max = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(max > 0)) throw new HaloError('E_ARG', `maxShardBytes must be positive, got ${max}`);
  const prefix = opts.prefix ?? 'model';
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new HaloError('E_ARG', `duplicate tensor name '${t.name}'`);
    names.add(t.name);
  }
  const planned = tensors.map(layoutOf);
  const progress = { done: 0, total: planned.reduce((s, p) => s + p.bytes, 0) };
  const groups = planShards(
    planned.map((p) => ({ name: p.tensor.name, bytes: p.bytes, p })),
    max,
  ).map((g) => g.map((x) => x.p));
  fs.mkdirSync(dir, { recursive: true });
  if (groups.length === 1) {
    const name = `${prefix}.safetensors`;
    writeFile(path.join(dir, name), groups[0]!, produce, opts, progress);
    return [name];
  }
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  const files: string[] = [];
  const weightMap = new Map<string, string>(); // a Map: a tensor named '__proto__' must stay a plain key
  groups.forEach((g, i) => {
    const name = `${prefix}-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    writeFile(path.join(dir, name), g, produce, opts, progress);
    for (const p of g) weightMap.set(p.tensor.name, name);
    files.push(name);
  });
  const indexName = prefix === 'model' ? INDEX_FILE : `${prefix}.safetensors.index.json`;
  const sortedMap = Object.fromEntries([...weightMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))); // transformers sorts keys
  const json = JSON.stringify({ metadata: { total_size: progress.total }, weight_map: sortedMap }, null, 2) + '\n';
  writeFileAtomic(path.join(dir, indexName), (fd) => fs.writeSync(fd, json));
  files.push(indexName);
  return files;
}
