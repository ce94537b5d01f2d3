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
import * as path from 'node:path';
import { DTYPES, type Storage } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import {
  assertNotPickle,
  checkHostEndianness,
  haloDtypeOf,
  headerLength,
  parseHeaderBytes,
  planSafetensors,
  safetensorsFormatError as formatError,
  type SafetensorsHeader,
  type TensorDict,
  type TensorEntry,
} from './safetensors-format.ts';

// The format's pure half (validation, layout, bytes in memory) is safetensors-format.ts; re-exported so
// Node callers keep one import.
export * from './safetensors-format.ts';

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

function readHeaderFd(fd: number, size: number, file: string): SafetensorsHeader {
  checkHostEndianness();
  const head = new Uint8Array(Math.min(9, size));
  if (head.length) readExactly(fd, head, 0, file);
  const buf = new Uint8Array(headerLength(head, size, file));
  readExactly(fd, buf, 8, file);
  return parseHeaderBytes(buf, size, file);
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
    const dtype = haloDtypeOf(e, this.file);
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
