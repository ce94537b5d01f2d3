// Encoding and loss masks, checked by decoding exactly the tokens that carry a label.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { CUT_MARGIN_TOKENS, encodeAtLeast, encodeRecord, encodeRecords, IGNORE_INDEX, lossTokenCount, type Example } from '../../src/data/encode.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import type { TextTokenizer } from '../../src/tokenizer/types.ts';
import { parseJsonl, readJsonl, type DataRecord } from '../../src/data/jsonl.ts';
import { describeExample } from '../../src/data/debug.ts';
import { FakeTokenizer } from './fake-tokenizer.ts';

const tok = new FakeTokenizer();

function rec(obj: object): DataRecord {
  return parseJsonl(JSON.stringify(obj), 'x').records[0]!;
}

/** Decoded runs of labelled tokens, in order. */
function lossSpans(ex: Example): string[] {
  const spans: string[] = [];
  let cur: number[] = [];
  for (let t = 0; t < ex.ids.length; t++) {
    if (ex.labels[t] !== IGNORE_INDEX) {
      assert.equal(ex.labels[t], ex.ids[t], 'a label must equal its token');
      cur.push(ex.ids[t]!);
    } else if (cur.length) {
      spans.push(tok.decode(cur));
      cur = [];
    }
  }
  if (cur.length) spans.push(tok.decode(cur));
  return spans;
}

const chat = rec({
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '  4 \n' },
    { role: 'user', content: 'And 3+3?' },
    { role: 'assistant', content: 'Six: 6' },
  ],
});

describe('encodeRecord: chat', () => {
  test('ids are the full rendering; loss exactly on each assistant content + <|eot_id|>', () => {
    const ex = encodeRecord(chat, tok);
    const msgs = chat.kind === 'chat' ? chat.messages : [];
    assert.deepEqual(Array.from(ex.ids), tok.encode(tok.applyChatTemplate(msgs)));
    // The template trims content; the mask follows what the template rendered, not the raw string.
    assert.deepEqual(lossSpans(ex), ['4<|eot_id|>', 'Six: 6<|eot_id|>']);
    assert.equal(ex.ids[0], tok.bosId, 'BOS from the template, not doubled');
    assert.notEqual(ex.ids[1], tok.bosId);
    assert.equal(ex.truncated, false);
    assert.equal(ex.line, 1);
  });

  test('masked tokens are everything else (headers, system, user turns)', () => {
    const ex = encodeRecord(chat, tok);
    const masked = Array.from(ex.ids).filter((_, t) => ex.labels[t] === IGNORE_INDEX);
    const text = tok.decode(masked);
    assert.ok(text.startsWith('<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>'));
    assert.ok(text.includes('What is 2+2?') && text.includes('And 3+3?'));
    assert.ok(text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n'));
    assert.equal(lossTokenCount(ex), '4'.length + 1 + 'Six: 6'.length + 1);
  });

  test('trainOnPrompt puts loss on every token but BOS', () => {
    const ex = encodeRecord(chat, tok, { trainOnPrompt: true });
    assert.equal(ex.labels[0], IGNORE_INDEX);
    for (let t = 1; t < ex.ids.length; t++) assert.equal(ex.labels[t], ex.ids[t]);
  });

  test('shipped SQL set: every loss span is exactly the answer + <|eot_id|>', () => {
    for (const r of readJsonl('data/sql/train.jsonl').records) {
      if (r.kind !== 'chat') continue;
      assert.deepEqual(lossSpans(encodeRecord(r, tok)), [r.messages[1]!.content.trim() + '<|eot_id|>'], `line ${r.line}`);
    }
  });

  test('a template that rewrites earlier turns is E_UNSUPPORTED, naming the record', () => {
    const broken = new FakeTokenizer({ brokenTemplate: true });
    assert.throws(
      () => encodeRecord(chat, broken),
      (e: unknown) => e instanceof HaloError && e.code === 'E_UNSUPPORTED' && e.message.includes('line 1'),
    );
  });

  test('BOS is added when the template lacks it, and not at all for a tokenizer without BOS', () => {
    const noTplBos = new FakeTokenizer({ templateBos: false });
    const a = encodeRecord(chat, noTplBos);
    assert.equal(a.ids[0], 0);
    assert.equal(a.labels[0], IGNORE_INDEX);
    assert.equal(a.ids.length, encodeRecord(chat, tok).ids.length);
    const noBos = new FakeTokenizer({ templateBos: false, bos: false });
    const b = encodeRecord(chat, noBos);
    assert.equal(b.ids.length, a.ids.length - 1);
    assert.deepEqual(lossSpans(b), ['4<|eot_id|>', 'Six: 6<|eot_id|>']);
  });
});

describe('encodeRecord: prompt/completion, GSM8K and text', () => {
  const pc = rec({ prompt: 'Q: hi', completion: ' A: yo' });
  const qa = rec({ question: 'Q: hi', answer: ' A: yo' });

  test("promptFormat 'chat' (default) = a user/assistant chat", () => {
    const asChat = rec({
      messages: [
        { role: 'user', content: 'Q: hi' },
        { role: 'assistant', content: ' A: yo' },
      ],
    });
    const a = encodeRecord(pc, tok);
    const b = encodeRecord(asChat, tok);
    assert.deepEqual(a.ids, b.ids);
    assert.deepEqual(a.labels, b.labels);
    assert.deepEqual(lossSpans(a), ['A: yo<|eot_id|>']);
    const g = encodeRecord(qa, tok);
    assert.deepEqual(g.ids, a.ids, 'GSM8K question/answer is prompt/completion');
  });

  test("promptFormat 'raw': [BOS] prompt completion [EOS], loss on completion + EOS", () => {
    const ex = encodeRecord(pc, tok, { promptFormat: 'raw' });
    assert.equal(tok.decode(Array.from(ex.ids)), '<|begin_of_text|>Q: hi A: yo<|end_of_text|>');
    assert.deepEqual(lossSpans(ex), [' A: yo<|end_of_text|>']);
    const noEos = encodeRecord(pc, tok, { promptFormat: 'raw', addEos: false });
    assert.deepEqual(lossSpans(noEos), [' A: yo']);
  });

  test('text: loss on all of it + EOS, not on BOS', () => {
    const ex = encodeRecord(rec({ text: 'abc' }), tok);
    assert.deepEqual(Array.from(ex.ids), [0, ...tok.encode('abc'), 1]);
    assert.deepEqual(lossSpans(ex), ['abc<|end_of_text|>']);
    assert.equal(ex.labels[0], IGNORE_INDEX);
  });
});

describe('truncation and encodeRecords', () => {
  test('maxSeqLen cuts from the end and flags the example', () => {
    const full = encodeRecord(chat, tok);
    const ex = encodeRecord(chat, tok, { maxSeqLen: full.ids.length - 3 });
    assert.equal(ex.ids.length, full.ids.length - 3);
    assert.equal(ex.truncated, true);
    assert.deepEqual(ex.ids, full.ids.subarray(0, ex.ids.length));
    assert.deepEqual(ex.labels, full.labels.subarray(0, ex.ids.length));
  });

  test('counts truncated examples and drops ones left without loss', () => {
    const records = [chat, rec({ prompt: 'x'.repeat(100), completion: 'y' }), rec({ text: 'short' })];
    const { examples, stats } = encodeRecords(records, tok, { maxSeqLen: 60 });
    assert.equal(stats.records, 3);
    assert.equal(stats.truncated, 2, 'the long chat and the long prompt');
    assert.equal(stats.droppedNoLoss, 1, 'the prompt whose answer was cut off');
    assert.equal(stats.examples, 2);
    assert.equal(examples.length, 2);
    assert.equal(stats.tokens, examples[0]!.ids.length + examples[1]!.ids.length);
    assert.equal(stats.lossTokens, lossTokenCount(examples[0]!) + lossTokenCount(examples[1]!));
    assert.equal(stats.maxLen, 60);
    const kept = encodeRecords(records, tok, { maxSeqLen: 60, dropNoLoss: false });
    assert.equal(kept.examples.length, 3);
  });

  test('maxSeqLen < 1 is E_ARG', () => {
    assert.throws(
      () => encodeRecord(chat, tok, { maxSeqLen: 0 }),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
    );
  });
});

describe('describeExample', () => {
  test('brackets the masked runs and shows the trained text plainly', () => {
    const ex = encodeRecord(rec({ prompt: 'hi', completion: 'yo' }), tok);
    const s = describeExample(ex, tok);
    const lines = s.split('\n');
    assert.match(lines[0]!, /\(line 1\): \d+ tokens, 3 with loss/);
    assert.equal(
      lines.slice(2).join('\n'),
      '⟦<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n⟧yo<|eot_id|>',
    );
    const colored = describeExample(ex, tok, { color: true });
    assert.ok(colored.includes('\x1b[2m⟦') && colored.includes('\x1b[32myo<|eot_id|>\x1b[0m'));
    const table = describeExample(ex, tok, { tokens: true, maxTokens: 5 });
    assert.match(table, /… \d+ more tokens not shown/);
    assert.equal(table.split('\n').filter((l) => /^\s+\d+\s+\d+\s+[y-]\s+"/.test(l)).length, 5);
  });

  test('flags truncation', () => {
    const ex = encodeRecord(chat, tok, { maxSeqLen: 20 });
    assert.match(describeExample(ex, tok), /TRUNCATED/);
  });
});

describe('long text is cut before tokenization, with the tokens of the whole text', () => {
  const halo = loadTokenizer('models/halo-tiny');
  const tinyChatml = loadTokenizer(writeTinyModelFolder(fs.mkdtempSync(path.join(os.tmpdir(), 'halo-encode-')), { arch: 'qwen2', chat: 'chatml' }).dir);
  const gsm = readJsonl('data/gsm8k/test.jsonl', { limit: 200 })
    .records.map((r) => (r.kind === 'prompt' ? `${r.prompt}\n${r.completion}\n\n` : ''))
    .join('');
  const rng = new Rng(11);
  const mixed = Array.from(
    { length: 8000 },
    () => ['日本語', '🤗', ' ', '\n\n', '12345', 'naïve', '<|eot_id|>', '<|im_end|>', '    ', 'SELECT', '"', 'x'][rng.int(12)],
  ).join('');
  const texts = {
    gsm: gsm.slice(0, 30_000),
    mixed: mixed.slice(0, 20_000),
    aRun: 'a'.repeat(30_000),
    spaces: ' '.repeat(20_000) + 'end',
    digits: '1234567890'.repeat(2000),
  };
  /** What encodeRecord gave before cutting existed: the whole text's tokens (no maxSeqLen: nothing is cut), then cut. */
  const cutAfter = (full: Example, max: number): Example => ({
    ids: full.ids.slice(0, max),
    labels: full.labels.slice(0, max),
    truncated: full.ids.length > max,
    line: full.line,
  });
  const reference = (r: DataRecord, t: TextTokenizer, max: number, opts: object): Example => cutAfter(encodeRecord(r, t, opts), max);
  for (const [tname, t] of [
    ['halo-tiny', halo],
    ['tiny ChatML', tinyChatml],
  ] as const) {
    test(`${tname}: text, raw and chat prompt/completion records at 1 to 3,000 tokens equal the whole text's tokens, cut`, () => {
      for (const [name, text] of Object.entries(texts)) {
        const recs: [DataRecord, object][] = [
          [rec({ text }), {}],
          [rec({ prompt: text.slice(0, 300), completion: text }), { promptFormat: 'raw' }],
          [rec({ prompt: text, completion: 'answer' }), {}],
          [
            rec({
              messages: [
                { role: 'user', content: 'q' },
                { role: 'assistant', content: text },
              ],
            }),
            { trainOnPrompt: true },
          ],
        ];
        for (const [r, opts] of recs) {
          const full = encodeRecord(r, t, opts);
          for (const max of [1, 2, 7, 64, 128, 512, 3000, full.ids.length, full.ids.length + 1]) {
            assert.deepEqual(encodeRecord(r, t, { ...opts, maxSeqLen: max }), cutAfter(full, max), `${tname}, ${name}, ${r.kind}, maxSeqLen ${max}`);
          }
        }
      }
    });
  }

  test('a 5 MB text costs what the kept tokens cost: the tokenizer sees a small prefix of it', () => {
    let longest = 0;
    const counting: TextTokenizer = Object.assign(Object.create(halo) as TextTokenizer, {
      encode: (s: string) => ((longest = Math.max(longest, s.length)), halo.encode(s)),
    });
    const text = gsm.repeat(Math.ceil(5e6 / gsm.length));
    const ex = encodeRecord(rec({ text }), counting, { maxSeqLen: 128 });
    assert.equal(ex.ids.length, 128);
    assert.equal(ex.truncated, true);
    assert.ok(longest <= 4 * (128 + 1 + CUT_MARGIN_TOKENS) * 8, `the tokenizer was given ${longest} characters`);
    assert.deepEqual(ex, reference(rec({ text: text.slice(0, 50_000) }), halo, 128, {}));
  });

  test('a tokenizer that drops characters: the cut grows up to the whole text, so a text that fits is never cut short', () => {
    const dropping = new FakeTokenizer();
    const encode = dropping.encode.bind(dropping);
    dropping.encode = (s: string) => encode(s.replaceAll(' ', ''));
    const r = rec({ text: ' '.repeat(300_000) + 'abc' });
    assert.deepEqual(encodeRecord(r, dropping, { maxSeqLen: 6 }), reference(r, dropping, 6, {}));
    assert.deepEqual(Array.from(encodeRecord(r, dropping, { maxSeqLen: 6 }).ids), [0, ...encode('abc'), 1]);
    assert.deepEqual(encodeAtLeast(dropping, ' '.repeat(300_000) + 'abc', 2), encode('abc'));
  });
});
