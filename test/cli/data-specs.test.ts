// Comma-separated FILE[:FROM:TO] data lists (`halo finetune --data a.jsonl,b.jsonl:0:10`, `halo demo --train-data`).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readDataSpecs } from '../../src/cli/halo-options.ts';
import { HaloError } from '../../src/core/errors.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-specs-'));
const write = (name: string, texts: string[]) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, texts.map((t) => JSON.stringify({ text: t })).join('\n') + '\n');
  return f;
};
const a = write('a.jsonl', ['a0', 'a1']);
const b = write('b.jsonl', ['b0', 'b1', 'b2', 'b3']);

test('a data list is read in order, each file with its own row range', () => {
  const r = readDataSpecs(`${a}, ${b}:1:3`);
  assert.deepEqual(
    r.records.map((x) => (x.kind === 'text' ? x.text : '?')),
    ['a0', 'a1', 'b1', 'b2'],
  );
  const lines = r.summary.split('\n');
  assert.equal(r.source, `${a},${b}`, 'the files, without their row ranges');
  assert.equal(lines.length, 2);
  assert.match(lines[1], /b\.jsonl: 4 records.*using 2$/);
});

test('an empty list or a missing file is an error that names it', () => {
  assert.throws(
    () => readDataSpecs(' , '),
    (e: unknown) => e instanceof HaloError && /no data file/.test(e.message),
  );
  assert.throws(() => readDataSpecs(`${a},${path.join(dir, 'missing.jsonl')}`), /missing\.jsonl/);
});
