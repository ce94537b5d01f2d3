// scripts/copy-corpus.ts: every document is one span said twice, a corpus span or random corpus words in the
// share --spans asks, random words from the --top most frequent; the same seed gives the same documents.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { copyDocuments, type CopyCorpusOptions } from '../../scripts/copy-corpus.ts';

const text = fs.readFileSync('data/README.md', 'utf8');
const opts = (o: Partial<CopyCorpusOptions> = {}): CopyCorpusOptions => ({ count: 200, seed: 3, spans: 0.5, top: 0, minWords: 4, maxWords: 40, ...o });

test('copy documents repeat one span around a separator: corpus spans or random words, in the asked share', () => {
  const docs = copyDocuments(text, opts());
  assert.equal(docs.length, 200);
  const flat = text.split(/\s+/).filter(Boolean).join(' ');
  let spans = 0;
  docs.forEach((d, i) => {
    const m = /^([\s\S]+?)(\n\n|\n> |\n| \| | = | )\1$/.exec(d);
    assert.ok(m, `document ${i} is a span twice: ${JSON.stringify(d)}`);
    const n = m[1].split(' ').length;
    assert.ok(n >= 4 && n <= 40, `${n} words`);
    if (flat.includes(m[1])) spans++;
  });
  // Random lists of 4+ words are almost never corpus text, so the share of verbatim spans is about --spans.
  assert.ok(spans > 75 && spans < 125, `${spans}/200 documents repeat a corpus span`);
  assert.deepEqual(copyDocuments(text, opts({ count: 20 })), copyDocuments(text, opts({ count: 20 })));
  assert.notDeepEqual(copyDocuments(text, opts({ count: 20 })), copyDocuments(text, opts({ count: 20, seed: 4 })));
});

test('--top draws random words from the most frequent ones; --spans 0 gives only random words', () => {
  const docs = copyDocuments(text, opts({ spans: 0, top: 5, count: 50 }));
  const freq = new Map<string, number>();
  for (const w of text.split(/\s+/).filter(Boolean)) freq.set(w, (freq.get(w) ?? 0) + 1);
  const top5 = new Set(
    [...freq]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 5)
      .map(([w]) => w),
  );
  for (const d of docs) for (const w of d.split(/\s+|\|/).filter((w) => w && w !== '=' && w !== '>')) assert.ok(top5.has(w), `${w} is a top-5 word`);
});

test('a corpus shorter than the longest span is refused', () => {
  assert.throws(() => copyDocuments('too few words', opts({ count: 1 })), /need at least 40/);
});
