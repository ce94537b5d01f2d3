// `halo experiment compare` end to end in a separate process, on a tiny random model folder and the shipped
// SQL and arith data at a few steps: a row per task × method with finite numbers in compare.json, the
// markdown table on stdout, --speed's method × token-count table at a tiny shape, and exit 2 for bad flags.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { halo } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-compare-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const model = path.join(tmp, 'tiny');
writeTinyModelFolder(model, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, std: 0.1, seed: 4 });
const small = [
  '--model',
  model,
  '--seeds',
  '1',
  '--steps',
  '1',
  '--batch-size',
  '2',
  '--max-seq-len',
  '384',
  '--eval-loss-limit',
  '2',
  '--eval-limit',
  '1',
  '--max-new-tokens',
  '2',
];

describe('halo experiment compare', { concurrency: true }, () => {
  test('--help lists the flags and the per-task defaults', async () => {
    const r = await halo('experiment', 'compare', '--help');
    assert.equal(r.code, 0, r.err);
    for (const f of ['--tasks', '--methods', '--seeds', '--steps', '--speed', '--json', '--out']) assert.match(r.out, new RegExp(`${f}\\b`));
    assert.match(r.out, /default: bf16,switchback-int8,jetfire-int8,halo2-int8,halo1-fp6,halo0-fp8/);
    assert.match(r.out, /default per task: sql 40, gsm8k 40, arith 300/);
  });

  test('two tasks × two methods: finite rows, the markdown table on stdout, and --speed at a tiny shape', async () => {
    const out = path.join(tmp, 'cmp');
    const r = await halo(
      'experiment',
      'compare',
      ...small,
      '--tasks',
      'sql,arith',
      '--methods',
      'bf16,halo2-int8',
      '--speed',
      '--speed-features',
      '32',
      '--speed-tokens',
      '8,16',
      '--speed-reps',
      '1',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'compare.json'), 'utf8'));
    assert.deepEqual(
      j.rows.map((x: { task: string; config: string }) => `${x.task} ${x.config}`),
      ['sql bf16', 'sql halo2-int8', 'arith bf16', 'arith halo2-int8'],
    );
    assert.equal(j.runs.length, 4);
    assert.deepEqual(j.settings.perTask.arith.steps, 1, '--steps overrides every task');
    for (const row of j.rows) {
      assert.equal(row.seeds, 1);
      assert.ok(Number.isFinite(row.evalLoss.mean) && row.evalLoss.mean > 0, `${row.task} ${row.config} eval loss`);
      assert.ok(row.exactMatch.mean >= 0 && row.exactMatch.mean <= 100);
      assert.equal(row.exactMatchScorer, row.task === 'sql' ? 'sql-exact' : 'gsm8k-exact');
      if (row.config === 'bf16') assert.equal(row.vsBf16, null);
      else assert.ok(Number.isFinite(row.vsBf16.mean) && row.vsBf16.seeds === 1);
    }
    assert.match(r.out, /^\| task \| method \| seeds \| eval loss \| vs BF16, same seed \| exact match % \| train s \|/);
    assert.match(r.out, /\| arith \| HALO2 INT8 \| 1 \| \d+\.\d{4} \| [+-]\d+\.\d{2}% \| \d+\.\d \|/);
    assert.equal(fs.readFileSync(path.join(out, 'compare.md'), 'utf8'), r.out);
    // Speed: FP32, BF16 and HALO-2 INT8 at each token count, speed-ups within each count.
    assert.deepEqual(
      j.speed.rows.map((x: { tokens: number; level: string; format: string }) => `${x.tokens} ${x.level} ${x.format}`),
      ['8 none fp32', '8 none bf16', '8 halo2 int8', '16 none fp32', '16 none bf16', '16 halo2 int8'],
    );
    for (const x of j.speed.rows) assert.ok(x.totalMs > 0 && Number.isFinite(x.vsBf16));
    assert.match(r.out, /\| speed-up over BF16 \| 8 tokens \| 16 tokens \|\n\|---\|---\|---\|\n\| HALO2 INT8 \| \d+\.\d\d× \| \d+\.\d\d× \|/);
    assert.ok(!fs.existsSync(path.join(out, 'sql', 'bf16-seed0', 'checkpoints')), 'checkpoints are removed');
  });

  test('--json prints compare.json', async () => {
    const out = path.join(tmp, 'cmp-json');
    const r = await halo('experiment', 'compare', ...small, '--tasks', 'arith', '--methods', 'switchback-int8', '--json', '--out', out);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, fs.readFileSync(path.join(out, 'compare.json'), 'utf8'));
    const j = JSON.parse(r.out);
    assert.deepEqual(
      j.rows.map((x: { label: string }) => x.label),
      ['SwitchBack INT8'],
    );
    assert.equal(j.rows[0].vsBf16, null, 'no BF16 run to pair with');
    assert.equal(j.speed, null);
  });

  const bad: [string[], RegExp][] = [
    [['--methods', 'halo9-int8'], /unknown method 'halo9-int8'/],
    [['--methods', 'halo2-int8,halo2-int8'], /--methods names 'halo2-int8' twice/],
    [['--tasks', 'sql,viggo'], /unknown --tasks entry 'viggo'/],
    [['--seeds', '0'], /--seeds must be at least 1, got 0/],
    [['--steps', '0'], /--steps must be at least 1, got 0/],
    [['--lr', '0'], /--lr must be greater than 0/],
    [['--speed', '--methods', 'bf16,halo1-fp6'], /--speed times the INT8 methods/],
    [['--speed-tokens', '2048,x'], /--speed-tokens entry 'x' is not a positive integer/],
    [['--bogus'], /unknown option --bogus/],
    [['stray'], /stray|unexpected/],
    [['--seeds', 'two'], /--seeds/],
  ];
  for (const [args, message] of bad) {
    test(`exit 2: ${args.join(' ')}`, async () => {
      const r = await halo('experiment', 'compare', '--model', model, ...args, '--out', path.join(tmp, 'bad'));
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
    });
  }
  test('exit 2 without --out', async () => {
    const r = await halo('experiment', 'compare', '--model', model);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--out/);
  });
});
