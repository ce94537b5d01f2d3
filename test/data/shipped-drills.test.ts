// data/sql/drills.jsonl is training data for `npm start`: it must be correct text-to-SQL (test/data/drill-check.ts)
// and must not contain any eval question or answer.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertDrill } from './drill-check.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
type Row = { messages: { role: string; content: string }[] };
const read = (f: string): Row[] =>
  fs
    .readFileSync(path.join(root, f), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);

test('the shipped SQL drills are well-formed and disjoint from the eval split', () => {
  const drills = read('data/sql/drills.jsonl');
  assert.equal(drills.length, 1600);
  const evalRows = read('data/sql/eval.jsonl');
  const evalText = new Set(evalRows.flatMap((r) => r.messages.map((m) => m.content)));
  let inherited = 0;
  for (const d of drills) {
    assert.deepEqual(
      d.messages.map((m) => m.role),
      ['user', 'assistant'],
    );
    const [user, answer] = [d.messages[0].content, d.messages[1].content];
    assert.ok(!evalText.has(user) && !evalText.has(answer), `eval text in a drill: ${answer}`);
    // Training row 340 is malformed in the source data (schema `t (Id VARCHAR)`, answer `… FROM 't' AS
    // able_name_49 …`); its drills inherit that, and are the only ones allowed to.
    if (/ AS able_name_49 /.test(answer)) {
      assert.match(user, /CREATE TABLE \S+ \(.*\)\s*question: /);
      inherited++;
      continue;
    }
    assertDrill(user, answer);
  }
  assert.ok(inherited <= 2, `${inherited} drills of the malformed row 340`);
});
