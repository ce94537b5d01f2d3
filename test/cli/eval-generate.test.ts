// `halo eval` and `halo generate` end to end, as separate processes on a tiny model folder: exit codes, the
// shape of what they print, and errors that name the path at fault.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { halo } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-eval-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const model = path.join(tmp, 'tiny');
writeTinyModelFolder(model, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, std: 0.3, seed: 4 });

describe('halo eval / generate', { concurrency: true }, () => {
  test('eval --metric loss prints a finite loss over the row range', async () => {
    const r = await halo('eval', '--model', model, '--data', 'data/sql/eval.jsonl::5', '--metric', 'loss');
    assert.equal(r.code, 0, r.err);
    const m = /^eval loss (\d+\.\d+) \(perplexity (\d+\.\d+)\) over (\d+) answer tokens of 5 examples/.exec(r.out);
    assert.ok(m, r.out);
    // A random model over 320 tokens: loss near ln 320 ≈ 5.77, not 0 or NaN.
    assert.ok(Number(m[1]) > 3 && Number(m[1]) < 10, r.out);
    assert.match(r.out, /data\/sql\/eval\.jsonl rows 0\.\.4/);
  });

  test('eval --metric sql --json reports both accuracies and the example pairs', async () => {
    const r = await halo('eval', '--model', model, '--data', 'data/sql/eval.jsonl', '--metric', 'sql', '--eval-limit', '3', '--max-new-tokens', '8', '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as {
      items: number;
      scores: { scorer: string; accuracy: number; total: number }[];
      examples: { reference: string; prediction: string }[];
      generatedTokens: number;
    };
    assert.equal(j.items, 3);
    assert.deepEqual(
      j.scores.map((s) => s.scorer),
      ['sql-exact', 'sql-normalized'],
    );
    for (const s of j.scores) assert.ok(s.accuracy >= 0 && s.accuracy <= 1 && s.total === 3);
    assert.equal(j.examples.length, 3);
    assert.match(j.examples[0]!.reference, /^SELECT name FROM table_name_48/);
    assert.equal(typeof j.examples[0]!.prediction, 'string');
    assert.ok(j.generatedTokens > 0 && j.generatedTokens <= 24);
  });

  test('eval --metric sql as text', async () => {
    const r = await halo('eval', '--model', model, '--data', 'data/sql/eval.jsonl:2:4', '--metric', 'sql', '--max-new-tokens', '4', '--show', '1');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^sql accuracy on 2 items/);
    assert.match(r.out, /\n {2}sql-exact +\d+\.\d\d% {2}\(\d\/2\)/);
    assert.match(r.out, /\n {2}sql-normalized +\d+\.\d\d% {2}\(\d\/2\)/);
    assert.equal(r.out.match(/ {2}prediction: /g)?.length, 1);
  });

  test('generate prints a completion; sampling with a seed repeats', async () => {
    const g = await halo('generate', '--model', model, '--prompt', 'hi', '--max-new-tokens', '5');
    assert.equal(g.code, 0, g.err);
    assert.ok(g.out.endsWith('\n') && g.out.length > 1, JSON.stringify(g.out));
    assert.match(g.err, /\d+ prompt tokens, [0-5] generated in .*; (stopped at |reached --max-new-tokens 5)/);
    const args = ['generate', '--model', model, '--prompt', 'hi', '--chat', '--max-new-tokens', '6', '--temperature', '1', '--seed', '3'];
    const [a, b] = await Promise.all([halo(...args), halo(...args)]);
    assert.equal(a.code, 0, a.err);
    assert.equal(a.out, b.out);
  });

  test('a wrong path exits non-zero and names the path', async () => {
    const missing = path.join(tmp, 'no-such-model');
    const r = await halo('generate', '--model', missing, '--prompt', 'hi');
    assert.notEqual(r.code, 0);
    assert.ok(r.err.includes(missing), r.err);
    const d = await halo('eval', '--model', model, '--data', path.join(tmp, 'missing.jsonl'), '--metric', 'loss');
    assert.notEqual(d.code, 0);
    assert.ok(d.err.includes(path.join(tmp, 'missing.jsonl')), d.err);
    const asTrained = await halo('generate', '--model', model, '--prompt', 'hi', '--as-trained');
    assert.notEqual(asTrained.code, 0);
    assert.ok(asTrained.err.includes(path.join(model, 'halo_config.json')), asTrained.err);
  });
});
