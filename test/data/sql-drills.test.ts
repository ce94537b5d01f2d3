// scripts/sql-drills.ts: a drill must stay a correct text-to-SQL example after its names and values change —
// the answer's table is the schema's, its columns are the schema's, and each quoted value is in the question.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeDrills } from '../../scripts/sql-drills.ts';
import { assertDrill } from './drill-check.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const lines = fs.readFileSync(path.join(root, 'data/sql/train.jsonl'), 'utf8').trim().split('\n');

test('drills rename tables, columns and values consistently across schema, question and answer', () => {
  const drills = makeDrills(lines, 300, 7).map((l) => JSON.parse(l) as { messages: { content: string }[] });
  const original = new Set(lines.map((l) => (JSON.parse(l) as { messages: { content: string }[] }).messages[1].content));
  let renamed = 0;
  for (const d of drills) {
    const [user, answer] = [d.messages[0].content, d.messages[1].content];
    assertDrill(user, answer);
    if (!original.has(answer)) renamed++;
  }
  assert.ok(renamed > 270, `only ${renamed}/300 drills differ from their source answer`);
  assert.deepEqual(makeDrills(lines, 5, 7), makeDrills(lines, 5, 7), 'seeded');
});

test('with a values corpus, most values are corpus words, and each is found in its question', () => {
  const corpus = 'Call me Ishmael. Some years ago never mind how long precisely having little or no money in my purse';
  const drills = makeDrills(lines, 300, 3, corpus).map((l) => JSON.parse(l) as { messages: { content: string }[] });
  const words = new Set(corpus.toLowerCase().replace(/[.,]/g, '').split(' '));
  let values = 0;
  let fromCorpus = 0;
  for (const d of drills) {
    const [user, answer] = [d.messages[0].content, d.messages[1].content];
    for (const [, v] of answer.matchAll(/'([^']+)'/g)) {
      values++;
      assert.ok(user.toLowerCase().includes(v.toLowerCase()), `'${v}' in "${user}"`);
      if (
        v
          .toLowerCase()
          .split(' ')
          .every((w) => words.has(w))
      )
        fromCorpus++;
    }
  }
  assert.ok(fromCorpus > 0.7 * values, `${fromCorpus}/${values} values from the corpus`);
  assert.throws(() => makeDrills(lines, 1, 0, 'too short'), /values corpus has 2 usable words/);
});

test("drills without a corpus are the exact bytes models/halo-tiny's curriculum stages C and D trained on", () => {
  // scripts/pretrain-copy-curriculum.sh makes its drills.jsonl with these arguments; a change to sql-drills that
  // moves one byte makes scripts/build-halo-tiny.sh build a different model than the shipped one.
  const text = makeDrills(lines.slice(0, 800), 8000, 0).join('\n') + '\n';
  assert.equal(createHash('sha256').update(text).digest('hex'), 'e29b1760c21604434759437ae82cd24aaf5ec6bafe9fd1cad5caa87c76953ed2');
});
