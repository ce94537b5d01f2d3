// Fuzz target for src/data/jsonl.ts: JSONL files with bad lines (invalid JSON, non-objects, wrong field
// types, unknown formats, deep nesting, megabyte lines, multi-megabyte lines on both sides of the 8 MiB line
// limit), BOM, CRLF, lone CR, U+2028, NUL and invalid UTF-8 bytes, read with readJsonl in both 'error' and
// 'skip' modes, with the default line limit or a case's own (a `max-line-bytes` file in the case folder). The
// two modes must agree: 'skip' never throws and counts every bad line; 'error' throws exactly when 'skip'
// skipped something, and otherwise returns the same records.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../../src/core/errors.ts';
import type { Rng } from '../../../src/core/rng.ts';
import { DEFAULT_MAX_LINE_BYTES, readJsonl, type ReadJsonlResult } from '../../../src/data/jsonl.ts';
import { check, type FuzzCase, type FuzzTarget } from '../case.ts';
import { deepNesting, hostileValue, HOSTILE_STRINGS, jsonText, longString } from '../hostile.ts';
import { describe, mutateTree } from '../mutate-json.ts';
import { chance, intIn, pick, randomBytes, weighted } from '../pick.ts';

const GOOD: unknown[] = [
  {
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi?' },
      { role: 'assistant', content: 'Hello.' },
    ],
  },
  {
    messages: [
      { role: 'user', content: 'Résumé 🤗' },
      { role: 'assistant', content: '日本語' },
    ],
  },
  { prompt: 'SELECT', completion: ' 1;' },
  { question: 'What is 2+2?', answer: '#### 4' },
  { text: 'Plain pretraining text.\nWith a newline.' },
  { text: '' },
];

/** Lines no parser should choke on. */
function badLine(rng: Rng): string {
  return pick(rng, [
    () => jsonText(hostileValue(rng)),
    () => {
      const rec = structuredClone(pick(rng, GOOD));
      return `${mutateTree(rng, rec, intIn(rng, 1, 2)).length ? jsonText(rec) : '{}'}`;
    },
    () =>
      pick(rng, [
        '{',
        '}',
        '{"text": "a"',
        '{"text": "a"} {"text": "b"}',
        "{'text': 'a'}",
        '{"text": "a",}',
        'NaN',
        'undefined',
        '\u0000',
        '\ufeff{"text":"x"}',
      ]),
    () => pick(rng, ['[]', '[{"text":"a"}]', '"text"', '42', 'null', 'true', '{}']),
    () =>
      `{"messages": ${pick(rng, ['[]', 'null', '{}', '[null]', '[{"role":"user"}]', '[{"role":"","content":"x"}]', '[{"role":5,"content":"x"}]', '"hi"'])}}`,
    () => `{"prompt": ${pick(rng, ['null', '1', '"a"'])}, "completion": ${pick(rng, ['null', '[]', '"b"'])}}`,
    () => `{"question": "q", "answer": ${pick(rng, ['1', 'null', '{}'])}}`,
    () => `{"text": ${jsonText(pick(rng, [null, 5, [], longString(rng, 1_000_000), ...HOSTILE_STRINGS]))}}`,
    () => `{"text": "a", "text": ${pick(rng, ['5', '"b"'])}}`,
    () => `{"__proto__": {"text": "a"}}`,
    () => `{"text": ${deepNesting(rng, pick(rng, [1000, 100_000])).text}}`,
    () => deepNesting(rng, pick(rng, [5000, 100_000])).text,
    () =>
      `{"messages": [${Array(pick(rng, [1000, 20_000]))
        .fill('{"role":"user","content":"x"}')
        .join(',')}]}`,
    () => `{"unknown": 1, ${JSON.stringify(longString(rng, 1000))}: 2}`,
  ])();
}

/** A {"text"} line of 1.5 to 3 MB (under the default limit: a record) or 8.5 to 10 MB (over it: a bad line). */
function hugeLine(rng: Rng): string {
  const unit = pick(rng, ['a', 'é', '日本', '🤗 ', 'x\n']);
  const bytes = chance(rng, 0.5) ? intIn(rng, 1_500_000, 3_000_000) : intIn(rng, 8_500_000, 10_000_000);
  return JSON.stringify({ text: unit.repeat(Math.ceil(bytes / Buffer.byteLength(JSON.stringify(unit).slice(1, -1)))) });
}

function buildText(rng: Rng): { text: string; note: string } {
  const n = intIn(rng, 1, 12);
  const lines: string[] = [];
  const notes: string[] = [];
  const huge = chance(rng, 0.04) ? rng.int(n) : -1;
  for (let i = 0; i < n; i++) {
    if (i === huge) {
      lines.push(hugeLine(rng));
      notes.push(`line ${i + 1}: ${Buffer.byteLength(lines[i]!).toLocaleString('en-US')} bytes`);
    } else if (chance(rng, 0.3)) {
      lines.push(badLine(rng));
      notes.push(`line ${i + 1}: ${describe(lines[i])}`);
    } else lines.push(JSON.stringify(pick(rng, GOOD)));
  }
  let sep = '\n';
  let text: string;
  const fmt = weighted(rng, [
    [5, 'plain'],
    [1, 'crlf'],
    [1, 'cr'],
    [1, 'blank'],
    [1, 'ls'],
  ] as const);
  if (fmt === 'crlf') sep = '\r\n';
  if (fmt === 'cr') sep = '\r';
  if (fmt === 'ls') sep = pick(rng, ['\u2028', '\u0085', '\n\r', '\n\u0000']);
  text = fmt === 'blank' ? lines.map((l) => `${l}\n${pick(rng, ['', '   ', '\t', '\r'])}`).join('\n') : lines.join(sep);
  if (fmt !== 'plain') notes.push(`separator ${JSON.stringify(fmt === 'blank' ? 'blank lines' : sep)}`);
  if (chance(rng, 0.2)) {
    text = '\ufeff' + text;
    notes.push('BOM');
  }
  if (chance(rng, 0.3)) {
    text += pick(rng, ['\n', '\n\n', '\r\n', '']);
  }
  if (chance(rng, 0.1)) {
    text = text.slice(0, rng.int(text.length + 1));
    notes.push('truncated');
  }
  return { text, note: notes.join('; ') || 'valid' };
}

function toBytes(rng: Rng, text: string): { bytes: Uint8Array; note: string } {
  const b = new TextEncoder().encode(text);
  if (!chance(rng, 0.2)) return { bytes: b, note: '' };
  // Invalid UTF-8 (decoded as U+FFFD), NULs, or a run of random binary.
  const at = rng.int(b.length + 1);
  const junk = pick(rng, [
    Uint8Array.from([0xff]),
    Uint8Array.from([0xc3]),
    Uint8Array.from([0xed, 0xa0, 0x80]),
    Uint8Array.from([0]),
    randomBytes(rng, intIn(rng, 1, 300)),
  ]);
  const out = new Uint8Array(b.length + junk.length);
  out.set(b.subarray(0, at));
  out.set(junk, at);
  out.set(b.subarray(at), at + junk.length);
  return { bytes: out, note: `; ${junk.length} binary bytes at ${at}` };
}

function checkResult(r: ReadJsonlResult, lines: number): void {
  let last = 0;
  for (const rec of r.records) {
    check(rec.line > last && rec.line <= lines, `record line ${rec.line} after ${last} (file has ${lines} lines)`);
    last = rec.line;
    if (rec.kind === 'chat')
      check(
        rec.messages.length > 0 && rec.messages.every((m) => typeof m.role === 'string' && m.role !== '' && typeof m.content === 'string'),
        `bad chat record at line ${rec.line}`,
      );
    else if (rec.kind === 'prompt') check(typeof rec.prompt === 'string' && typeof rec.completion === 'string', `bad prompt record at line ${rec.line}`);
    else check(typeof rec.text === 'string', `bad text record at line ${rec.line}`);
  }
  const sum = r.counts.chat + r.counts.prompt + r.counts.text;
  check(sum === r.records.length, `counts add to ${sum}, ${r.records.length} records`);
}

export function jsonlTarget(): FuzzTarget {
  return {
    name: 'jsonl',
    generate(rng): FuzzCase {
      const t = buildText(rng);
      const b = toBytes(rng, t.text);
      const files: FuzzCase['files'] = { 'data.jsonl': b.bytes };
      if (!chance(rng, 0.2)) return { files, note: t.note + b.note };
      const limit = pick(rng, [1, 16, 64, 4096, 1 << 20]);
      files['max-line-bytes'] = String(limit);
      return { files, note: `${t.note}${b.note}; maxLineBytes ${limit}` };
    },
    run(dir) {
      const file = path.join(dir, 'data.jsonl');
      const limitFile = path.join(dir, 'max-line-bytes');
      const maxLineBytes = fs.existsSync(limitFile) ? Number(fs.readFileSync(limitFile, 'utf8')) : DEFAULT_MAX_LINE_BYTES;
      let skip: ReadJsonlResult;
      try {
        skip = readJsonl(file, { onBadLine: 'skip', maxLineBytes });
      } catch (e) {
        check(!(e instanceof HaloError), `'skip' mode threw HaloError: ${(e as Error).message}`);
        throw e;
      }
      const text = fs.readFileSync(file, 'utf8');
      const lines = text.split('\n').length;
      checkResult(skip, lines);
      // A line over the limit is a bad line even when it is all whitespace: it is never decoded.
      const nonBlank = text
        .replace(/^\ufeff/, '')
        .split('\n')
        .filter((l) => {
          const raw = l.replace(/\r$/, '');
          return raw.trim() !== '' || Buffer.byteLength(raw) > maxLineBytes;
        }).length;
      check(skip.records.length + skip.skipped === nonBlank, `${skip.records.length} records + ${skip.skipped} skipped ≠ ${nonBlank} non-blank lines`);
      let strict: ReadJsonlResult;
      try {
        strict = readJsonl(file, { maxLineBytes });
      } catch (e) {
        if (!(e instanceof HaloError)) throw e;
        check(skip.skipped > 0, `'error' mode rejected a file 'skip' mode read whole: ${e.message}`);
        throw e; // counted as the expected rejection
      }
      check(skip.skipped === 0, `'error' mode accepted a file where 'skip' mode skipped ${skip.skipped} lines`);
      check(strict.records.length === skip.records.length, `'error' mode read ${strict.records.length} records, 'skip' mode ${skip.records.length}`);
      return [skip, strict];
    },
  };
}
