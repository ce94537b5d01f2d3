// The safetensors format itself, with no I/O (https://github.com/huggingface/safetensors, format in its README):
// an 8-byte little-endian u64 N, N bytes of JSON header
//   {"__metadata__"?: {str: str}, NAME: {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the raw little-endian tensor bytes; offsets are relative to the first byte after the header.
//
// Header validation (the reference Rust `validate`'s rules), the writer's deterministic layout, and a whole
// file parsed from or written to bytes in memory: what the browser build uses (it has files as ArrayBuffers
// from fetch or a picked folder, and no node:fs). src/io/safetensors.ts adds the file reader and writer.
import { DTYPES, type DType, type Storage } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { checkJsonDepth, preview } from '../core/json-guard.ts';
import { Tensor } from '../core/tensor.ts';

/** Bytes per element of every fixed-size safetensors dtype (sub-byte F4/F6 are not listed: they are unknown here). */
export const SAFETENSORS_ITEMSIZE = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_ITEMSIZE;

/** safetensors dtype → halo dtype, for the ones halo stores. F8_E4M3 is torch's float8_e4m3fn, like halo's fp8e4m3. */
export const HALO_DTYPE_OF: Partial<Record<SafetensorsDType, DType>> = {
  F64: 'f64',
  F32: 'f32',
  BF16: 'bf16',
  F16: 'f16',
  I32: 'i32',
  I8: 'i8',
  F8_E4M3: 'fp8e4m3',
  F8_E5M2: 'fp8e5m2',
};
/** halo dtype → safetensors dtype (fp6e3m2 has no standard byte-per-element encoding). */
export const SAFETENSORS_DTYPE_OF: Partial<Record<DType, SafetensorsDType>> = {
  f64: 'F64',
  f32: 'F32',
  bf16: 'BF16',
  f16: 'F16',
  i32: 'I32',
  i8: 'I8',
  fp8e4m3: 'F8_E4M3',
  fp8e5m2: 'F8_E5M2',
};

/** Largest header the reference implementation accepts (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range in the data section (relative to dataStart). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** Absolute file offset of the data section (8 + header length). */
  dataStart: number;
  /** Entries in data order (sorted by begin). */
  tensors: TensorEntry[];
  metadata: Record<string, string> | null;
}

const PICKLE_EXT = /\.(bin|pt|pth|ckpt|pkl|pickle)$/i;

/** The HaloError for a PyTorch pickle checkpoint, with the conversion the user should run. */
export function pickleError(file: string): HaloError {
  return new HaloError(
    'E_UNSUPPORTED',
    `${file} is a PyTorch pickle checkpoint; halo reads only safetensors (unpickling can run arbitrary code). ` +
      `Convert the model first, e.g. in Python: AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(OUT, safe_serialization=True)`,
  );
}

/**
 * Throws pickleError when the name or the first bytes (pickle protocol 2-5 opcode, or torch's zip) say pickle.
 * Callers pass `head` only for files that are not already recognised as safetensors.
 */
export function assertNotPickle(file: string, head?: Uint8Array): void {
  if (PICKLE_EXT.test(file)) throw pickleError(file);
  if (head && head.length >= 2) {
    const isPickle = head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5;
    const isZip = head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
    if (isPickle || isZip) throw pickleError(file);
  }
}

/** E_FORMAT: `file` is not valid safetensors, and why. */
export function safetensorsFormatError(file: string, reason: string): HaloError {
  return new HaloError('E_FORMAT', `${file}: not a valid safetensors file: ${reason}`);
}

/** Whether this host stores numbers little-endian (safetensors' byte order, which typed arrays are viewed in). */
export function hostIsLittleEndian(): boolean {
  return new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
}

export function checkHostEndianness(): void {
  if (!hostIsLittleEndian()) throw new HaloError('E_UNSUPPORTED', 'safetensors I/O needs a little-endian host');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates a parsed header against a data section of `dataBytes` bytes. Pure: no I/O, no allocation of tensor memory. */
export function validateHeader(file: string, json: unknown, dataBytes: number, dataStart: number): SafetensorsHeader {
  if (!isObject(json)) throw safetensorsFormatError(file, 'header is not a JSON object');
  checkJsonDepth(json, file);
  let metadata: Record<string, string> | null = null;
  const tensors: TensorEntry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObject(v)) throw safetensorsFormatError(file, '__metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw safetensorsFormatError(file, `__metadata__.${k} must be a string`);
      }
      metadata = v as Record<string, string>;
      continue;
    }
    const where = `tensor '${name}'`;
    if (!isObject(v)) throw safetensorsFormatError(file, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = v;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_ITEMSIZE, dtype)) {
      throw safetensorsFormatError(file, `${where}: unknown dtype ${preview(dtype)}`);
    }
    if (!Array.isArray(shape)) throw safetensorsFormatError(file, `${where}: shape is not an array`);
    let numel = 1;
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        throw safetensorsFormatError(file, `${where}: shape ${preview(shape)} has an invalid dimension ${preview(d)}`);
      }
    }
    // Zero anywhere makes the product 0; otherwise stop as soon as it leaves the safe-integer range.
    if (!shape.includes(0)) {
      for (const d of shape as number[]) {
        numel *= d;
        if (!Number.isSafeInteger(numel)) throw safetensorsFormatError(file, `${where}: shape ${preview(shape)} is absurdly large`);
      }
    } else numel = 0;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
      throw safetensorsFormatError(file, `${where}: data_offsets must be two non-negative integers, got ${preview(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) throw safetensorsFormatError(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    const bytes = numel * SAFETENSORS_ITEMSIZE[dtype as SafetensorsDType];
    if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
      throw safetensorsFormatError(
        file,
        `${where}: shape ${preview(shape)} × ${dtype} is ${bytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    if (end > dataBytes) {
      throw safetensorsFormatError(
        file,
        `${where}: data_offsets [${begin}, ${end}] run past the data section (${dataBytes} bytes after the header; ` +
          `file truncated or header lying — the file would need ${dataStart + end} bytes)`,
      );
    }
    tensors.push({ name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: TensorEntry | null = null;
  for (const t of tensors) {
    if (t.begin < pos) {
      throw safetensorsFormatError(
        file,
        `tensor '${t.name}': data_offsets [${t.begin}, ${t.end}] overlap tensor '${prev!.name}' [${prev!.begin}, ${prev!.end}]`,
      );
    }
    if (t.begin > pos) throw safetensorsFormatError(file, `tensor '${t.name}': gap of ${t.begin - pos} unreferenced bytes before it (at ${pos})`);
    pos = t.end;
    prev = t;
  }
  if (pos !== dataBytes) throw safetensorsFormatError(file, `${dataBytes - pos} trailing bytes after the last tensor`);
  return { file, dataStart, tensors, metadata };
}

/**
 * Reads the 8-byte length and the JSON header from the first bytes of a file of `size` bytes (`head` holds at
 * least min(size, 8 + header length) bytes: pass the first 9 to learn the length, see headerLength).
 */
export function headerLength(head: Uint8Array, size: number, file: string): number {
  // A safetensors header starts with '{' at byte 8; only otherwise can the first bytes be a pickle's magic
  // (a header length of 0x280 also begins 80 02).
  if (head[8] !== 0x7b) assertNotPickle(file, head);
  if (size < 8) throw safetensorsFormatError(file, `file is ${size} bytes, too short for the 8-byte header length`);
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(size - 8)) throw safetensorsFormatError(file, `header length ${n} is larger than the file (${size} bytes)`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw safetensorsFormatError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  return Number(n);
}

/** Parses and validates the header bytes (after the 8-byte length) of a file of `size` bytes. */
export function parseHeaderBytes(buf: Uint8Array, size: number, file: string): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf));
  } catch (e) {
    throw safetensorsFormatError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  return validateHeader(file, json, size - 8 - buf.length, 8 + buf.length);
}

/** The dtype halo loads a header entry as, or E_UNSUPPORTED naming the tensor. */
export function haloDtypeOf(e: TensorEntry, file: string): DType {
  const dtype = HALO_DTYPE_OF[e.dtype];
  if (!dtype) throw new HaloError('E_UNSUPPORTED', `${file}: tensor '${e.name}' has dtype ${e.dtype}, which halo does not load`);
  return dtype;
}

/**
 * A whole file held in memory (fetched, or read from a picked folder) → its tensors, each copied into its own
 * aligned typed array. `file` names it in errors.
 */
export function parseSafetensorsBytes(
  bytes: Uint8Array,
  file: string,
  filter?: (name: string) => boolean,
): { tensors: Map<string, Tensor>; metadata: Record<string, string> | null } {
  checkHostEndianness();
  const header = parseHeaderBytes(bytes.subarray(8, 8 + headerLength(bytes.subarray(0, 9), bytes.length, file)), bytes.length, file);
  const tensors = new Map<string, Tensor>();
  for (const e of header.tensors) {
    if (filter && !filter(e.name)) continue;
    const dtype = haloDtypeOf(e, file);
    const data = DTYPES[dtype].make((e.end - e.begin) / DTYPES[dtype].bytes);
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end));
    tensors.set(e.name, new Tensor(e.shape, dtype, data as Storage<typeof dtype>));
  }
  return { tensors, metadata: header.metadata };
}

export type TensorDict = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

export function tensorEntries(tensors: TensorDict): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, Tensor>);
}

function stDtype(name: string, t: { dtype: DType }): SafetensorsDType {
  const d = SAFETENSORS_DTYPE_OF[t.dtype];
  if (!d) throw new HaloError('E_DTYPE', `tensor '${name}': dtype ${t.dtype} has no safetensors encoding`);
  return d;
}

/** Byte layout of a file: header bytes (padded) and the tensors in the order their data follows. */
export function planSafetensors(tensors: TensorDict, metadata?: Readonly<Record<string, string>> | null): { header: Uint8Array; order: [string, Tensor][] } {
  return planSafetensorsLayout(tensorEntries(tensors), metadata);
}

/** What a header needs of a tensor; no data, so a streaming writer can plan a file before its bytes exist. */
export interface TensorLayout {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly bytes: number;
}

/** planSafetensors for tensors described by layout only (src/io/safetensors-stream.ts). */
export function planSafetensorsLayout<T extends TensorLayout>(
  entries: readonly [string, T][],
  metadata?: Readonly<Record<string, string>> | null,
): { header: Uint8Array; order: [string, T][] } {
  const order = [...entries];
  const names = new Set<string>();
  for (const [name, t] of order) {
    if (name === '__metadata__') throw new HaloError('E_ARG', `'__metadata__' is reserved and cannot name a tensor`);
    if (names.has(name)) throw new HaloError('E_ARG', `duplicate tensor name '${name}'`);
    names.add(name);
    stDtype(name, t);
  }
  // Largest item size first, then by name: every tensor starts aligned to its own item size.
  order.sort(([an, a], [bn, b]) => DTYPES[b.dtype].bytes - DTYPES[a.dtype].bytes || (an < bn ? -1 : an > bn ? 1 : 0));
  // JSON written by hand: a JS object would reorder integer-like keys ('0', '12').
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length) {
    const keys = Object.keys(metadata).sort();
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(String(metadata[k]))}`).join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of order) {
    const end = offset + t.bytes;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${stDtype(name, t)}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, order };
}

/** A whole safetensors file as bytes (the layout writeSafetensors writes): for a download in the browser. */
export function serializeSafetensors(tensors: TensorDict, metadata?: Readonly<Record<string, string>> | null): Uint8Array {
  checkHostEndianness();
  const { header, order } = planSafetensors(tensors, metadata);
  const out = new Uint8Array(header.length + order.reduce((s, [, t]) => s + t.data.byteLength, 0));
  out.set(header, 0);
  let at = header.length;
  for (const [, t] of order) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
