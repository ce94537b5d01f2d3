// `halo pretrain` end to end on a tiny model folder: from a config (random init) and continued from a
// folder's weights (--init), which the optimizer must start from exactly.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { halo } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-pretrain-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const model = path.join(tmp, 'tiny');
writeTinyModelFolder(model, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, std: 0.3, seed: 5 });
const text = path.join(tmp, 'text.txt');
fs.writeFileSync(text, Array.from({ length: 40 }, (_, i) => `paragraph ${i}: the ship sailed on and on, day ${i % 7}.`).join('\n\n'));

const pretrain = (...args: string[]) => halo('pretrain', ...args);

const common = [
  '--data',
  text,
  '--tokens',
  '256',
  '--max-seq-len',
  '32',
  '--batch-size',
  '2',
  '--level',
  'none',
  '--format',
  'fp32',
  '--warmup-steps',
  '1',
  '--save-every',
  '100',
];

describe('halo pretrain', { concurrency: true }, () => {
  test('--init starts from the folder weights: at lr 0 they come back unchanged', async () => {
    const out = path.join(tmp, 'lr0');
    const r = await pretrain('--init', model, ...common, '--lr', '0', '--out', out);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /continued from/);
    const before = loadModelFolder(model, { dtype: 'f32' }).weights;
    const after = loadModelFolder(out, { dtype: 'f32' }).weights;
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [name, t] of before) assert.deepEqual(after.get(name)!.data, t.data, name);
    assert.ok(fs.existsSync(path.join(out, 'tokenizer.json')), 'the init folder tokenizer is copied');
  });

  test('--init then training moves the weights and lowers the loss', async () => {
    const out = path.join(tmp, 'trained');
    const r = await pretrain('--init', model, ...common, '--lr', '3e-2', '--tokens', '1024', '--out', out);
    assert.equal(r.code, 0, r.err);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'pretrain_summary.json'), 'utf8')) as { steps: number; finalEvalLoss: number };
    assert.equal(summary.steps, 16);
    const metrics = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { evalLoss?: number });
    const evals = metrics.map((m) => m.evalLoss).filter((x): x is number => x !== undefined);
    assert.ok(evals.length >= 2 && evals[evals.length - 1] < evals[0], `eval loss ${evals.join(' → ')}`);
  });

  test('--adam-beta2 is checked: 1 is refused with a message naming it', async () => {
    const r = await pretrain('--init', model, ...common, '--adam-beta2', '1', '--out', path.join(tmp, 'beta'));
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /beta2 must be in \[0, 1\), got 1/);
  });

  test('exactly one of --config and --init', async () => {
    const both = await pretrain('--init', model, '--config', path.join(model, 'config.json'), ...common, '--out', path.join(tmp, 'x'));
    assert.equal(both.code, 2);
    assert.match(both.err, /exactly one of --config .* and --init/);
    const neither = await pretrain(...common, '--out', path.join(tmp, 'y'));
    assert.equal(neither.code, 2);
    assert.match(neither.err, /exactly one of --config/);
    const noTok = await pretrain('--config', path.join(model, 'config.json'), ...common, '--out', path.join(tmp, 'z'));
    assert.equal(noTok.code, 2);
    assert.match(noTok.err, /--tokenizer is required/);
  });
});
