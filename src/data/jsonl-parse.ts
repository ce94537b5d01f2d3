// JSON Lines reader for training / evaluation data. The file is read in chunks and split into lines as bytes,
// so a 2 GB file is never one string, and a line longer than `maxLineBytes` (default 8 MiB) is a bad line that
// is counted without ever being held: one 50 MB line used to take the heap (and minutes) before any check.
// What matters is that every problem names `file:line` and says what would have worked.
//
// Each line is one record, its format detected from its keys:
//   {"messages": [{"role", "content"}, …]}  → chat
//   {"prompt", "completion"}                → prompt (loss on the completion)
//   {"question", "answer"}  (GSM8K)         → prompt (user = question, assistant = answer)
//   {"text"}                                → text (loss on everything; pretraining)
// Blank lines are ignored. Bad lines (invalid JSON or UTF-8, an unknown form, too long) either stop the read
// (`onBadLine: 'error'`, the default: HaloError E_FORMAT naming file:line and the reason) or are skipped and
// counted (`'skip'`).
// No I/O here (the browser build parses a dropped-in file's text with parseJsonl); src/data/jsonl.ts adds
// readJsonl, the chunked file reader.
import { HaloError } from '../core/errors.ts';
import type { ChatMessage } from '../tokenizer/types.ts';

export interface ChatRecord {
  kind: 'chat';
  messages: ChatMessage[];
  /** 1-based line in the source file. */
  line: number;
}
export interface PromptRecord {
  kind: 'prompt';
  prompt: string;
  completion: string;
  line: number;
}
export interface TextRecord {
  kind: 'text';
  text: string;
  line: number;
}
export type DataRecord = ChatRecord | PromptRecord | TextRecord;
export type RecordKind = DataRecord['kind'];

export interface ReadJsonlOptions {
  /** 'error' (default): throw on the first bad line. 'skip': drop bad lines, count them in the result. */
  onBadLine?: 'error' | 'skip';
  /** Keep only the first `limit` good records (the rest of the file is not read). */
  limit?: number;
  /** Lines longer than this many bytes (UTF-8, without the line end) are bad lines. Default DEFAULT_MAX_LINE_BYTES. */
  maxLineBytes?: number;
}

/** 8 MiB: 100× the longest record of the shipped data, and far more text than any sequence length keeps. */
export const DEFAULT_MAX_LINE_BYTES = 8 << 20;

export interface SkippedLine {
  line: number;
  reason: string;
}

export interface ReadJsonlResult {
  /** The file name used in messages. */
  source: string;
  records: DataRecord[];
  /** Number of bad lines skipped (always 0 in 'error' mode). */
  skipped: number;
  /** The first MAX_SKIP_DETAILS skipped lines with their reasons. */
  skippedLines: SkippedLine[];
  /** Good records per kind. */
  counts: Record<RecordKind, number>;
}

export const MAX_SKIP_DETAILS = 50;

/** Collects the records and bad lines of one read, whichever way its lines arrive. */
export class JsonlCollector {
  readonly result: ReadJsonlResult;
  private readonly mode: 'error' | 'skip';
  private readonly limit: number;
  readonly maxLineBytes: number;

  constructor(
    readonly source: string,
    opts: ReadJsonlOptions,
  ) {
    const mode = opts.onBadLine ?? 'error';
    if (mode !== 'error' && mode !== 'skip') {
      throw new HaloError('E_ARG', `onBadLine must be 'error' or 'skip', got '${String(mode)}'`);
    }
    const max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) throw new HaloError('E_ARG', `maxLineBytes must be a positive integer, got ${String(max)}`);
    this.mode = mode;
    this.limit = opts.limit ?? Infinity;
    this.maxLineBytes = max;
    this.result = { source, records: [], skipped: 0, skippedLines: [], counts: { chat: 0, prompt: 0, text: 0 } };
  }

  get full(): boolean {
    return this.result.records.length >= this.limit;
  }

  /** One line without its line end (a final '\r' is dropped here). */
  line(raw: string, line: number): void {
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (raw.trim() === '') return;
    const rec = parseLine(raw, line);
    if (typeof rec === 'string') return this.bad(line, rec);
    this.result.records.push(rec);
    this.result.counts[rec.kind]++;
  }

  bad(line: number, reason: string): void {
    if (this.mode === 'error') throw new HaloError('E_FORMAT', `${this.source}:${line}: ${reason}`);
    this.result.skipped++;
    if (this.result.skippedLines.length < MAX_SKIP_DETAILS) this.result.skippedLines.push({ line, reason });
  }

  tooLong(line: number, bytes: number): void {
    this.bad(
      line,
      `line is ${bytes.toLocaleString('en-US')} bytes, over the limit of ${this.maxLineBytes.toLocaleString('en-US')} bytes per line (--max-line-bytes)`,
    );
  }
}

const encoder = new TextEncoder();
const utf8Bytes = (s: string): number => encoder.encode(s).length;

/** Parses JSONL text; `source` names the file in messages. */
export function parseJsonl(text: string, source: string, opts: ReadJsonlOptions = {}): ReadJsonlResult {
  const c = new JsonlCollector(source, opts);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // UTF-8 BOM
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && !c.full; i++) {
    const raw = lines[i]!;
    // A string's UTF-8 size is between its length and 3× it: most lines need no count.
    const size = raw.length * 3 <= c.maxLineBytes ? 0 : utf8Bytes(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    if (size > c.maxLineBytes) c.tooLong(i + 1, size);
    else c.line(raw, i + 1);
  }
  return c.result;
}

/** One line → a record, or the reason it is not one. */
export function parseLine(raw: string, line: number): DataRecord | string {
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch (e) {
    return `invalid JSON (${(e as Error).message})`;
  }
  return toRecord(obj, line);
}

/** A parsed JSON value → a record, or the reason it is not one. */
export function toRecord(obj: unknown, line: number): DataRecord | string {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return `expected a JSON object, got ${Array.isArray(obj) ? 'an array' : JSON.stringify(obj)?.slice(0, 40)}`;
  }
  const o = obj as Record<string, unknown>;
  if ('messages' in o) {
    const msgs = o.messages;
    if (!Array.isArray(msgs) || msgs.length === 0) return `"messages" must be a non-empty array of {role, content}`;
    const messages: ChatMessage[] = [];
    for (let j = 0; j < msgs.length; j++) {
      const m = msgs[j] as Record<string, unknown> | null;
      if (typeof m !== 'object' || m === null || Array.isArray(m)) return `messages[${j}] must be an object {role, content}`;
      if (typeof m.role !== 'string' || m.role === '') return `messages[${j}].role must be a non-empty string`;
      if (typeof m.content !== 'string') return `messages[${j}].content must be a string (got ${typeName(m.content)})`;
      messages.push({ role: m.role, content: m.content });
    }
    return { kind: 'chat', messages, line };
  }
  if ('prompt' in o || 'completion' in o) {
    if (typeof o.prompt !== 'string') return `"prompt" must be a string (got ${typeName(o.prompt)})`;
    if (typeof o.completion !== 'string') return `"completion" must be a string (got ${typeName(o.completion)})`;
    return { kind: 'prompt', prompt: o.prompt, completion: o.completion, line };
  }
  if ('question' in o || 'answer' in o) {
    if (typeof o.question !== 'string') return `"question" must be a string (got ${typeName(o.question)})`;
    if (typeof o.answer !== 'string') return `"answer" must be a string (got ${typeName(o.answer)})`;
    return { kind: 'prompt', prompt: o.question, completion: o.answer, line };
  }
  if ('text' in o) {
    if (typeof o.text !== 'string') return `"text" must be a string (got ${typeName(o.text)})`;
    return { kind: 'text', text: o.text, line };
  }
  const keys = Object.keys(o);
  return (
    `unknown record format (keys: ${keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : 'none'}); expected ` +
    `{"messages": [...]}, {"prompt", "completion"}, {"question", "answer"} or {"text"}`
  );
}

/** One line for the CLI, e.g. "data/x.jsonl: 798 records (chat 798), 2 bad lines skipped (first: line 5: invalid JSON …)". */
export function describeRead(r: ReadJsonlResult): string {
  const kinds = (Object.keys(r.counts) as RecordKind[]).filter((k) => r.counts[k] > 0).map((k) => `${k} ${r.counts[k]}`);
  let s = `${r.source}: ${r.records.length} records${kinds.length ? ` (${kinds.join(', ')})` : ''}`;
  if (r.skipped > 0) {
    const first = r.skippedLines[0]!;
    s += `, ${r.skipped} bad line${r.skipped === 1 ? '' : 's'} skipped (first: line ${first.line}: ${first.reason})`;
  }
  return s;
}

function typeName(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}
