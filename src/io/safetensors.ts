// Reader and writer of the safetensors format (https://github.com/huggingface/safetensors, format in its
// README): an 8-byte little-endian u64 N, N bytes of JSON header
//   {"__metadata__"?: {str: str}, NAME: {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the raw little-endian tensor bytes; offsets are relative to the first byte after the header.
//
// The header is untrusted input: it is validated completely (sizes, dtypes, shapes, offsets, full and
// non-overlapping coverage of the data section — the same rules as the reference Rust `validate`) BEFORE any
// tensor memory is allocated, so a lying file is one HaloError('E_FORMAT') naming the file, the tensor and
// the reason, never a crash or a multi-gigabyte allocation. Tensors are read one at a time with fs, straight
// into their typed arrays (no whole-file buffer), so a caller can load a subset of a large checkpoint.
//
// The writer is deterministic (tensors ordered by item size, then name, like the reference serializer, so
// every tensor stays aligned to its item size; header padded with spaces to a multiple of 8) and atomic
// (temp file + rename). Pickle checkpoints are refused: loading them means running arbitrary code.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DTYPES, type DType, type Storage } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { checkJsonDepth, preview } from '../core/json-guard.ts';
import { Tensor } from '../core/tensor.ts';

/** Bytes per element of every fixed-size safetensors dtype (sub-byte F4/F6 are not listed: they are unknown here). */
export const SAFETENSORS_ITEMSIZE = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
} as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_ITEMSIZE;

/** safetensors dtype → halo dtype, for the ones halo stores. F8_E4M3 is torch's float8_e4m3fn, like halo's fp8e4m3. */
export const HALO_DTYPE_OF: Partial<Record<SafetensorsDType, DType>> = {
  F64: 'f64', F32: 'f32', BF16: 'bf16', F16: 'f16', I32: 'i32', I8: 'i8', F8_E4M3: 'fp8e4m3', F8_E5M2: 'fp8e5m2',
};
/** halo dtype → safetensors dtype (fp6e3m2 has no standard byte-per-element encoding). */
export const SAFETENSORS_DTYPE_OF: Partial<Record<DType, SafetensorsDType>> = {
  f64: 'F64', f32: 'F32', bf16: 'BF16', f16: 'F16', i32: 'I32', i8: 'I8', fp8e4m3: 'F8_E4M3', fp8e5m2: 'F8_E5M2',
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

function formatError(file: string, reason: string): HaloError {
  return new HaloError('E_FORMAT', `${file}: not a valid safetensors file: ${reason}`);
}

export function checkHostEndianness(): void {
  if (os.endianness() !== 'LE') throw new HaloError('E_UNSUPPORTED', 'safetensors I/O needs a little-endian host');
}

function openForRead(file: string): { fd: number; size: number } {
  assertNotPickle(file);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new HaloError('E_IO', code === 'ENOENT' ? `no such file: ${file}` : `cannot open ${file}: ${(e as Error).message}`, { cause: e });
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new HaloError('E_IO', `${file} is not a regular file`);
  }
  return { fd, size: st.size };
}

function readExactly(fd: number, dst: Uint8Array, position: number, file: string): void {
  const CHUNK = 1 << 30; // readSync takes at most 2^31-1 bytes per call
  let done = 0;
  while (done < dst.length) {
    const want = Math.min(CHUNK, dst.length - done);
    const got = fs.readSync(fd, dst, done, want, position + done);
    if (got === 0) throw formatError(file, `unexpected end of file at byte ${position + done}`);
    done += got;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates a parsed header against a data section of `dataBytes` bytes. Pure: no I/O, no allocation of tensor memory. */
export function validateHeader(file: string, json: unknown, dataBytes: number, dataStart: number): SafetensorsHeader {
  if (!isObject(json)) throw formatError(file, 'header is not a JSON object');
  checkJsonDepth(json, file);
  let metadata: Record<string, string> | null = null;
  const tensors: TensorEntry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObject(v)) throw formatError(file, '__metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw formatError(file, `__metadata__.${k} must be a string`);
      }
      metadata = v as Record<string, string>;
      continue;
    }
    const where = `tensor '${name}'`;
    if (!isObject(v)) throw formatError(file, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = v;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_ITEMSIZE, dtype)) {
      throw formatError(file, `${where}: unknown dtype ${preview(dtype)}`);
    }
    if (!Array.isArray(shape)) throw formatError(file, `${where}: shape is not an array`);
    let numel = 1;
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        throw formatError(file, `${where}: shape ${preview(shape)} has an invalid dimension ${preview(d)}`);
      }
    }
    // Zero anywhere makes the product 0; otherwise stop as soon as it leaves the safe-integer range.
    if (!shape.includes(0)) {
      for (const d of shape as number[]) {
        numel *= d;
        if (!Number.isSafeInteger(numel)) throw formatError(file, `${where}: shape ${preview(shape)} is absurdly large`);
      }
    } else numel = 0;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
      throw formatError(file, `${where}: data_offsets must be two non-negative integers, got ${preview(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) throw formatError(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    const bytes = numel * SAFETENSORS_ITEMSIZE[dtype as SafetensorsDType];
    if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
      throw formatError(file, `${where}: shape ${preview(shape)} × ${dtype} is ${bytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    if (end > dataBytes) {
      throw formatError(
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
      throw formatError(file, `tensor '${t.name}': data_offsets [${t.begin}, ${t.end}] overlap tensor '${prev!.name}' [${prev!.begin}, ${prev!.end}]`);
    }
    if (t.begin > pos) throw formatError(file, `tensor '${t.name}': gap of ${t.begin - pos} unreferenced bytes before it (at ${pos})`);
    pos = t.end;
    prev = t;
  }
  if (pos !== dataBytes) throw formatError(file, `${dataBytes - pos} trailing bytes after the last tensor`);
  return { file, dataStart, tensors, metadata };
}

function readHeaderFd(fd: number, size: number, file: string): SafetensorsHeader {
  checkHostEndianness();
  const head = new Uint8Array(Math.min(9, size));
  if (head.length) readExactly(fd, head, 0, file);
  // A safetensors header starts with '{' at byte 8; only otherwise can the first bytes be a pickle's magic
  // (a header length of 0x280 also begins 80 02).
  if (head[8] !== 0x7b) assertNotPickle(file, head);
  if (size < 8) throw formatError(file, `file is ${size} bytes, too short for the 8-byte header length`);
  const n = new DataView(head.buffer).getBigUint64(0, true);
  if (n > BigInt(size - 8)) throw formatError(file, `header length ${n} is larger than the file (${size} bytes)`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw formatError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(n);
  const buf = new Uint8Array(headerLen);
  readExactly(fd, buf, 8, file);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf));
  } catch (e) {
    throw formatError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  return validateHeader(file, json, size - 8 - headerLen, 8 + headerLen);
}

/** Reads and validates only the header (cheap even for a 16 GB file). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const { fd, size } = openForRead(file);
  try {
    return readHeaderFd(fd, size, file);
  } finally {
    fs.closeSync(fd);
  }
}

/** An open safetensors file: header validated, tensors read on demand. Call close() when done. */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;
  private readonly byName: Map<string, TensorEntry>;
  private fd: number | null;

  private constructor(fd: number, header: SafetensorsHeader) {
    this.fd = fd;
    this.header = header;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  static open(file: string): SafetensorsFile {
    const { fd, size } = openForRead(file);
    try {
      return new SafetensorsFile(fd, readHeaderFd(fd, size, file));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get file(): string {
    return this.header.file;
  }

  /** Tensor names in data order. */
  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  entry(name: string): TensorEntry | undefined {
    return this.byName.get(name);
  }

  /** Reads one tensor into a fresh typed array. */
  read(name: string): Tensor {
    if (this.fd === null) throw new HaloError('E_IO', `${this.file}: read after close`);
    const e = this.byName.get(name);
    if (!e) throw new HaloError('E_ARG', `${this.file}: no tensor named '${name}'`);
    const dtype = HALO_DTYPE_OF[e.dtype];
    if (!dtype) throw new HaloError('E_UNSUPPORTED', `${this.file}: tensor '${name}' has dtype ${e.dtype}, which halo does not load`);
    const numel = (e.end - e.begin) / DTYPES[dtype].bytes;
    const data = DTYPES[dtype].make(numel);
    readExactly(this.fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.header.dataStart + e.begin, this.file);
    return new Tensor(e.shape, dtype, data as Storage<typeof dtype>);
  }

  /** Reads every tensor (or those `filter` accepts), in data order. */
  readAll(filter?: (name: string) => boolean): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const t of this.header.tensors) if (!filter || filter(t.name)) out.set(t.name, this.read(t.name));
    return out;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

export interface SafetensorsContents {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string> | null;
}

/** Loads a whole file (or the tensors `filter` accepts). */
export function readSafetensors(file: string, filter?: (name: string) => boolean): SafetensorsContents {
  const f = SafetensorsFile.open(file);
  try {
    return { tensors: f.readAll(filter), metadata: f.header.metadata };
  } finally {
    f.close();
  }
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
export function planSafetensorsLayout<T extends TensorLayout>(entries: readonly [string, T][], metadata?: Readonly<Record<string, string>> | null): { header: Uint8Array; order: [string, T][] } {
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

export function writeAll(fd: number, bytes: Uint8Array): void {
  const CHUNK = 1 << 30;
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, Math.min(CHUNK, bytes.length - done));
}

let tmpCounter = 0;

/** Writes `file` atomically: the bytes go to a temp file beside it, which is fsynced and renamed over `file`. */
export function writeFileAtomic(file: string, write: (fd: number) => void): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${tmpCounter++}`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w');
  } catch (e) {
    throw new HaloError('E_IO', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    if (e instanceof HaloError) throw e;
    throw new HaloError('E_IO', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** Writes tensors (and optional string metadata) to one safetensors file, deterministically and atomically. */
export function writeSafetensors(file: string, tensors: TensorDict, metadata?: Readonly<Record<string, string>> | null): void {
  checkHostEndianness();
  const { header, order } = planSafetensors(tensors, metadata);
  writeFileAtomic(file, (fd) => {
    writeAll(fd, header);
    for (const [, t] of order) writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  });
}
