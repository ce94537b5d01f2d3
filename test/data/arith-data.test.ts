// data/arith/ is what scripts/arith-data.ts writes with its defaults (so the shipped files can be rebuilt
// byte for byte), every answer is correct arithmetic in GSM8K's format that the GSM8K scorers read, and no
// eval question is a training question.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeArith, toJsonl, type ArithRow } from '../../scripts/arith-data.ts';
import { extractGsm8kNumber, gsm8kExact } from '../../src/eval/scorers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shipped = (f: string) => fs.readFileSync(path.join(root, 'data/arith', f), 'utf8');

test("the shipped arith split is the generator's output for 2000 / 200 rows, seed 0", () => {
  const { train, eval: evalRows } = makeArith(2000, 200, 0);
  assert.equal(shipped('train.jsonl'), toJsonl(train));
  assert.equal(shipped('eval.jsonl'), toJsonl(evalRows));
});

test('every row is correct one-step arithmetic with a GSM8K final answer; eval questions are unseen', () => {
  const read = (f: string) =>
    shipped(f)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ArithRow);
  const train = read('train.jsonl');
  const evalRows = read('eval.jsonl');
  for (const r of [...train, ...evalRows]) {
    const m = /^(\d+) ([+-]) (\d+) = <<(\d+)([+-])(\d+)=(\d+)>>(\d+) [a-z]+\.\n#### (\d+)$/.exec(r.answer);
    assert.ok(m, r.answer);
    const [a, op, b, c] = [Number(m[1]), m[2], Number(m[3]), Number(m[9])];
    assert.equal(op === '+' ? a + b : a - b, c, r.answer);
    assert.deepEqual([m[4], m[5], m[6], m[7], m[8]].map(String), [m[1], m[2], m[3], m[9], m[9]]);
    assert.ok(r.question.includes(` ${a} `) && r.question.includes(` ${b}`), r.question);
    assert.equal(extractGsm8kNumber(r.answer), c);
    assert.ok(gsm8kExact(`anything\n#### ${c}`, r.answer) && !gsm8kExact(`#### ${c + 1}`, r.answer));
  }
  const seen = new Set(train.map((r) => r.question));
  assert.ok(evalRows.every((r) => !seen.has(r.question)));
  assert.equal(new Set(evalRows.map((r) => r.question)).size, evalRows.length);
  // Both operations and the whole fact table occur in training.
  assert.ok(train.some((r) => r.answer.includes(' + ')) && train.some((r) => r.answer.includes(' - ')));
  assert.equal(new Set(train.map((r) => r.answer.split(' = ')[0])).size, 8 * 9 * 2);
});
