// JSONL reader: record formats, file:line in every error, skip mode counts, and the shipped data files.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { DEFAULT_MAX_LINE_BYTES, describeRead, parseJsonl, readJsonl, type ReadJsonlResult } from '../../src/data/jsonl.ts';
import { toEvalItem } from '../../src/data/records.ts';
import { extractGsm8kNumber } from '../../src/eval/scorers.ts';

function throwsFormat(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HaloError, `expected HaloError, got ${String(e)}`);
    assert.equal(e.code, 'E_FORMAT');
    for (const p of parts) assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}

describe('parseJsonl', () => {
  test('detects the four record formats', () => {
    const text = [
      '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}',
      '{"prompt":"p","completion":"c"}',
      '{"question":"2+2?","answer":"4\\n#### 4"}',
      '{"text":"plain"}',
    ].join('\n');
    const r = parseJsonl(text, 'x.jsonl');
    assert.deepEqual(
      r.records.map((x) => x.kind),
      ['chat', 'prompt', 'prompt', 'text'],
    );
    assert.deepEqual(r.counts, { chat: 1, prompt: 2, text: 1 });
    assert.deepEqual(r.records[2], { kind: 'prompt', prompt: '2+2?', completion: '4\n#### 4', line: 3 });
    assert.deepEqual(r.records[0], {
      kind: 'chat',
      line: 1,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'yo' },
      ],
    });
    assert.equal(r.skipped, 0);
  });

  test('line numbers count blank lines, CRLF endings and a BOM', () => {
    const text = '\uFEFF{"text":"a"}\r\n\r\n   \n{"text":"b"}\r\n';
    const r = parseJsonl(text, 'x.jsonl');
    assert.deepEqual(
      r.records.map((x) => [x.line, x.kind === 'text' ? x.text : '']),
      [
        [1, 'a'],
        [4, 'b'],
      ],
    );
  });

  test("'error' mode names file:line and the reason", () => {
    const good = '{"text":"a"}';
    throwsFormat(() => parseJsonl([good, '', '{"text": oops}'].join('\n'), 'd/x.jsonl'), 'd/x.jsonl:3:', 'invalid JSON');
    throwsFormat(() => parseJsonl([good, '{"foo":1,"bar":2}'].join('\n'), 'x.jsonl'), 'x.jsonl:2:', '"foo", "bar"', '{"prompt", "completion"}');
    throwsFormat(() => parseJsonl('[1,2]', 'x.jsonl'), 'x.jsonl:1:', 'JSON object');
    throwsFormat(() => parseJsonl('{"messages":[]}', 'x.jsonl'), 'x.jsonl:1:', 'non-empty');
    throwsFormat(() => parseJsonl('{"messages":[{"role":"user","content":5}]}', 'x.jsonl'), 'messages[0].content', 'number');
    throwsFormat(() => parseJsonl('{"prompt":"p"}', 'x.jsonl'), '"completion" must be a string', 'nothing');
    throwsFormat(() => parseJsonl('{"question":"q","answer":null}', 'x.jsonl'), '"answer"', 'null');
  });

  test("'skip' mode drops bad lines and counts them", () => {
    const text = ['{"text":"a"}', 'not json', '{"text":"b"}', '{"x":1}', '', '{"text":"c"}'].join('\n');
    const r = parseJsonl(text, 'x.jsonl', { onBadLine: 'skip' });
    assert.equal(r.records.length, 3);
    assert.equal(r.skipped, 2);
    assert.deepEqual(
      r.skippedLines.map((s) => s.line),
      [2, 4],
    );
    assert.match(r.skippedLines[0]!.reason, /invalid JSON/);
    assert.match(describeRead(r), /3 records \(text 3\), 2 bad lines skipped \(first: line 2: invalid JSON/);
  });

  test('limit keeps the first good records', () => {
    const r = parseJsonl('{"text":"a"}\n{"text":"b"}\n{"text":"c"}', 'x', { limit: 2 });
    assert.equal(r.records.length, 2);
  });

  test('a missing file is E_IO naming the path', () => {
    assert.throws(
      () => readJsonl('/nonexistent/dir/none.jsonl'),
      (e: unknown) => e instanceof HaloError && e.code === 'E_IO' && e.message.includes('/nonexistent/dir/none.jsonl'),
    );
  });
});

describe('records for evaluation', () => {
  test('chat: last assistant message is the reference; prompt records keep the raw prompt', () => {
    const [chat, qa, text] = parseJsonl(
      [
        '{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"},{"role":"assistant","content":"A"}]}',
        '{"question":"q","answer":"#### 1"}',
        '{"text":"t"}',
      ].join('\n'),
      'x',
    ).records;
    const e = toEvalItem(chat!);
    assert.equal(e.reference, 'A');
    assert.deepEqual(
      e.messages.map((m) => m.role),
      ['system', 'user'],
    );
    assert.deepEqual(toEvalItem(qa!), { messages: [{ role: 'user', content: 'q' }], rawPrompt: 'q', reference: '#### 1', line: 2 });
    throwsFormat(() => toEvalItem(text!, 'x'), 'x:3');
    const [noAnswer] = parseJsonl('{"messages":[{"role":"user","content":"u"}]}', 'x').records;
    throwsFormat(() => toEvalItem(noAnswer!, 'x'), 'last message');
  });
});

describe('shipped data (data/)', () => {
  test('sql: 800 train + 200 eval chat records, user then assistant', () => {
    const train = readJsonl('data/sql/train.jsonl');
    const ev = readJsonl('data/sql/eval.jsonl');
    assert.equal(train.records.length, 800);
    assert.equal(ev.records.length, 200);
    for (const r of [...train.records, ...ev.records]) {
      assert.equal(r.kind, 'chat');
      if (r.kind !== 'chat') continue;
      assert.deepEqual(
        r.messages.map((m) => m.role),
        ['user', 'assistant'],
      );
      assert.match(r.messages[0]!.content, /CREATE TABLE/);
    }
  });

  test('gsm8k: full train/test splits, every answer has a numeric #### line', () => {
    const train = readJsonl('data/gsm8k/train.jsonl');
    const testSet = readJsonl('data/gsm8k/test.jsonl');
    assert.equal(train.records.length, 7473);
    assert.equal(testSet.records.length, 1319);
    for (const r of [...train.records, ...testSet.records]) {
      assert.equal(r.kind, 'prompt');
      if (r.kind === 'prompt') assert.notEqual(extractGsm8kNumber(r.completion), null, `line ${r.line}`);
    }
  });
});

describe('readJsonl reads in chunks: the same records as parsing the whole text', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-jsonl-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const write = (name: string, data: string | Uint8Array): string => {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, data);
    return f;
  };
  const same = (a: ReadJsonlResult, b: ReadJsonlResult) => {
    assert.deepEqual(a.records, b.records);
    assert.deepEqual(a.skippedLines, b.skippedLines);
    assert.equal(a.skipped, b.skipped);
  };

  test('a 3 MB file whose lines and multi-byte characters cross the 1 MiB chunk boundaries', () => {
    const rng = new Rng(3);
    const units = ['a', 'é', '日', '🤗', ' ', '\n', '"', '\\'];
    const lines: string[] = [JSON.stringify({ text: '🤗é'.repeat(250_000) })]; // 1.5 MB: over a whole chunk
    let bytes = 0;
    while (bytes < 3_000_000) {
      const text = Array.from({ length: 1 + rng.int(rng.int(10) === 0 ? 300_000 : 300) }, () => units[rng.int(units.length)]!).join('');
      const line = rng.int(15) === 0 ? '{"broken": ' : rng.int(15) === 0 ? '' : JSON.stringify({ text });
      lines.push(rng.int(4) === 0 ? line + '\r' : line);
      bytes += Buffer.byteLength(line) + 1;
    }
    const text = '\ufeff' + lines.join('\n');
    const f = write('big.jsonl', text);
    same(readJsonl(f, { onBadLine: 'skip' }), parseJsonl(text, f, { onBadLine: 'skip' }));
    const r = readJsonl(f, { onBadLine: 'skip' });
    assert.ok(r.records.length > 100 && r.skipped > 5, `${r.records.length} records, ${r.skipped} skipped`);
    assert.ok(
      r.records.some((x) => x.kind === 'text' && Buffer.byteLength(x.text) > 1 << 20),
      'a record longer than a chunk',
    );
    const firstBad = r.skippedLines[0]!;
    assert.throws(
      () => readJsonl(f),
      (e: unknown) => e instanceof HaloError && e.message === `${f}:${firstBad.line}: ${firstBad.reason}`,
    );
    assert.equal(readJsonl(f, { onBadLine: 'skip', limit: 3 }).records.length, 3);
  });

  test('lines over maxLineBytes are bad lines, counted in bytes without the line end or a BOM', () => {
    const line = (n: number) => JSON.stringify({ text: 'é'.repeat(n) }); // 11 + 2n bytes
    const text = ['\ufeff' + line(50), line(50) + '\r', line(51), '', line(50)].join('\n');
    const f = write('limit.jsonl', text);
    for (const r of [readJsonl(f, { onBadLine: 'skip', maxLineBytes: 111 }), parseJsonl(text, f, { onBadLine: 'skip', maxLineBytes: 111 })]) {
      assert.deepEqual(
        r.records.map((x) => x.line),
        [1, 2, 5],
      );
      assert.equal(r.skipped, 1);
      assert.deepEqual(r.skippedLines, [{ line: 3, reason: 'line is 113 bytes, over the limit of 111 bytes per line (--max-line-bytes)' }]);
    }
    assert.throws(
      () => readJsonl(f, { maxLineBytes: 111 }),
      (e: unknown) =>
        e instanceof HaloError && e.code === 'E_FORMAT' && e.message === `${f}:3: line is 113 bytes, over the limit of 111 bytes per line (--max-line-bytes)`,
    );
    assert.equal(readJsonl(f).records.length, 4, 'the default limit is far above');
    assert.equal(DEFAULT_MAX_LINE_BYTES, 8 << 20);
    for (const bad of [0, -1, 1.5, NaN]) {
      assert.throws(
        () => readJsonl(f, { maxLineBytes: bad }),
        (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && /maxLineBytes/.test(e.message),
      );
    }
  });

  test('a 20 MB line is skipped, not held: the lines around it are read', () => {
    const f = path.join(tmp, 'huge.jsonl');
    const fd = fs.openSync(f, 'w');
    fs.writeSync(fd, '{"text":"before"}\n{"text":"');
    const block = Buffer.alloc(1 << 20, 'a');
    for (let i = 0; i < 20; i++) fs.writeSync(fd, block);
    fs.writeSync(fd, '"}\n{"text":"after"}\n');
    fs.closeSync(fd);
    const r = readJsonl(f, { onBadLine: 'skip' });
    assert.deepEqual(
      r.records.map((x) => (x.kind === 'text' ? x.text : '')),
      ['before', 'after'],
    );
    assert.deepEqual(r.skippedLines, [{ line: 2, reason: 'line is 20,971,531 bytes, over the limit of 8,388,608 bytes per line (--max-line-bytes)' }]);
    assert.throws(
      () => readJsonl(f),
      (e: unknown) => e instanceof HaloError && e.message.startsWith(`${f}:2: line is 20,971,531 bytes, over the limit of 8,388,608 bytes`),
    );
  });

  test('invalid UTF-8 is a bad line (not text with U+FFFD in it); a BOM after line 1 is not dropped', () => {
    const good = Buffer.from('{"text":"ok"}\n');
    const bad = Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xff, 0xc3]), Buffer.from('"}\n')]);
    const f = write('utf8.jsonl', Buffer.concat([good, bad, Buffer.from('\ufeff{"text":"x"}\n'), Buffer.from('{"text":"\ufffd"}')]));
    const r = readJsonl(f, { onBadLine: 'skip' });
    assert.deepEqual(
      r.records.map((x) => [x.line, x.kind === 'text' ? x.text : '']),
      [
        [1, 'ok'],
        [4, '\ufffd'],
      ],
    );
    assert.deepEqual(
      r.skippedLines.map((x) => x.line),
      [2, 3],
    );
    assert.equal(r.skippedLines[0]!.reason, 'line is not valid UTF-8 text');
    assert.match(r.skippedLines[1]!.reason, /invalid JSON/);
  });

  test('a folder is E_IO', () => {
    assert.throws(
      () => readJsonl(tmp),
      (e: unknown) => e instanceof HaloError && e.code === 'E_IO' && e.message.includes(tmp),
    );
  });
});
