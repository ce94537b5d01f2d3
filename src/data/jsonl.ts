// JSONL files read from disk a chunk at a time (the records and their checks are src/data/jsonl-parse.ts,
// re-exported so Node callers keep one import): a 2 GB file is never one string, and a line longer than
// `maxLineBytes` is counted as bad without ever being held.
import { closeSync, openSync, readSync } from 'node:fs';
import { HaloError } from '../core/errors.ts';
import { JsonlCollector, type ReadJsonlOptions, type ReadJsonlResult } from './jsonl-parse.ts';

export * from './jsonl-parse.ts';

const CHUNK_BYTES = 1 << 20;
const NL = 0x0a;
const CR = 0x0d;
/** Fatal: invalid UTF-8 is a bad line, not text with U+FFFD in it; ignoreBOM: a BOM is only dropped at the file start. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads and parses a JSONL file (E_IO if it cannot be read), a chunk at a time. */
export function readJsonl(path: string, opts: ReadJsonlOptions = {}): ReadJsonlResult {
  const c = new JsonlCollector(path, opts);
  const ioError = (e: unknown) => {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    return new HaloError('E_IO', `cannot read data file ${path}: ${why}`, { cause: e });
  };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw ioError(e);
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    // The current line so far: its pieces (none once it is over the limit), its byte count and its last byte.
    let parts: Buffer[] = [];
    let bytes = 0;
    let last = -1;
    let line = 1;
    const finish = (): void => {
      const size = bytes - (last === CR ? 1 : 0) - (line === 1 && startsWithBom(parts) ? 3 : 0);
      if (size > c.maxLineBytes) c.tooLong(line, size);
      else if (bytes > 0) {
        const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        let raw: string;
        try {
          raw = utf8.decode(whole);
        } catch {
          raw = '';
          c.bad(line, 'line is not valid UTF-8 text');
        }
        if (line === 1 && raw.charCodeAt(0) === 0xfeff) raw = raw.slice(1);
        if (raw !== '') c.line(raw, line);
      }
      parts = [];
      bytes = 0;
      last = -1;
      line++;
    };
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, CHUNK_BYTES, null);
      } catch (e) {
        throw ioError(e);
      }
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      let at = 0;
      while (at < n && !c.full) {
        const nl = chunk.indexOf(NL, at);
        const end = nl === -1 ? n : nl;
        if (end > at) {
          // Over the limit (with room for a '\r' the line end drops, and line 1's BOM): counted, not kept.
          if (bytes + (end - at) <= c.maxLineBytes + 1 + (line === 1 ? 3 : 0)) parts.push(Buffer.from(chunk.subarray(at, end)));
          else parts = [];
          bytes += end - at;
          last = chunk[end - 1]!;
        }
        if (end === n) break;
        finish();
        at = end + 1;
      }
      if (c.full) break;
    }
    if (bytes > 0 && !c.full) finish();
  } finally {
    closeSync(fd);
  }
  return c.result;
}

function startsWithBom(parts: readonly Buffer[]): boolean {
  const b = parts[0];
  return b !== undefined && b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
}
