// JSONL reader: record formats, file:line in every error, skip mode counts, and the shipped data files.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { describeRead, parseJsonl, readJsonl } from '../../src/data/jsonl.ts';
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
