// `halo analyze outliers|gradients` and `halo experiment ablation` end to end, as separate processes on a
// tiny random model folder: --help, exit codes, the files they write and what those files must say.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { halo } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-analyze-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const model = path.join(tmp, 'tiny');
writeTinyModelFolder(model, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, std: 0.1, seed: 4 });
const data = ['--data', 'data/sql/train.jsonl::6', '--max-seq-len', '384', '--batch-size', '3'];

describe('halo analyze / experiment', { concurrency: true }, () => {
  for (const cmd of [
    ['analyze', 'outliers'],
    ['analyze', 'gradients'],
    ['experiment', 'ablation'],
  ]) {
    test(`${cmd.join(' ')} --help`, async () => {
      const r = await halo(...cmd, '--help');
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`Usage: halo ${cmd.join(' ')}`));
      assert.match(r.out, /--out/);
    });
  }

  test('analyze outliers writes JSON + SVGs; injected outliers are flattened by the matching rotation', async () => {
    const out = path.join(tmp, 'outliers');
    const r = await halo(
      'analyze',
      'outliers',
      '--model',
      model,
      ...data,
      '--layer',
      '1',
      '--module',
      'k_proj',
      '--step',
      '1',
      '--inject-outliers',
      '30',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.err);
    for (const f of ['outliers.json', 'outliers.svg', 'outliers-injected.svg']) assert.ok(fs.existsSync(path.join(out, f)), f);
    assert.match(fs.readFileSync(path.join(out, 'outliers.svg'), 'utf8'), /^<svg[\s\S]*<path d="M/);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'outliers.json'), 'utf8'));
    assert.equal(j.sections.length, 2);
    const inj = j.sections[1];
    assert.equal(inj.injected.xChannels.length, 4);
    assert.ok(inj.x.rightH.channelRatio < inj.x.raw.channelRatio / 3, JSON.stringify(inj.x.raw.channelRatio));
    assert.ok(inj.ey.leftH.tokenRatio < inj.ey.raw.tokenRatio / 3, JSON.stringify(inj.ey.raw.tokenRatio));
    assert.equal(inj.ey.raw.perToken.length, j.tokens);
    assert.match(r.out, /X has channel outliers .*right Hadamard → [\d.]+× \(flattened\)/);
    assert.match(r.out, /E_Y has token-row outliers .*left Hadamard → [\d.]+× \(flattened\)/);
  });

  test('analyze gradients: FP32 rerun is 1, one row per setting, files written', async () => {
    const out = path.join(tmp, 'gradients');
    const r = await halo(
      'analyze',
      'gradients',
      '--model',
      model,
      ...data,
      '--settings',
      'backward-only-int8,forward-only-int8,forward-only-hadamard-int8,halo2-int8',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'gradients.json'), 'utf8'));
    assert.ok(Math.abs(j.fp32Rerun.mean - 1) < 1e-9, String(j.fp32Rerun.mean));
    assert.deepEqual(
      j.settings.map((s: { id: string }) => s.id),
      ['backward-only-int8', 'forward-only-int8', 'forward-only-hadamard-int8', 'halo2-int8'],
    );
    for (const s of j.settings) {
      assert.equal(s.layers.length, 2);
      assert.ok(s.mean > 0 && s.mean < 1, `${s.id} ${s.mean}`);
    }
    assert.match(j.verdict, /least faithful of the three one-pass settings/);
    assert.ok(fs.existsSync(path.join(out, 'gradients.svg')) && fs.existsSync(path.join(out, 'gradients.md')));
  });

  test('experiment ablation: a row per configuration with finite numbers; bad --configs exits 2', async () => {
    const out = path.join(tmp, 'ablation');
    const r = await halo(
      'experiment',
      'ablation',
      '--model',
      model,
      '--configs',
      'fp32,halo2-int8',
      '--steps',
      '2',
      '--batch-size',
      '2',
      '--max-examples',
      '6',
      '--max-seq-len',
      '384',
      '--eval-loss-limit',
      '3',
      '--eval-limit',
      '2',
      '--max-new-tokens',
      '3',
      '--seeds',
      '2',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'ablation.json'), 'utf8'));
    assert.deepEqual(
      j.rows.map((x: { config: string }) => x.config),
      ['fp32', 'halo2-int8'],
    );
    assert.equal(j.runs.length, 4);
    for (const row of j.rows) {
      assert.equal(row.seeds, 2);
      assert.ok(Number.isFinite(row.evalLoss.mean) && Number.isFinite(row.evalLoss.std) && row.tokensPerSecond > 0);
      assert.ok(row.accuracy['sql-exact'].mean >= 0 && row.accuracy['sql-exact'].mean <= 100);
    }
    const md = fs.readFileSync(path.join(out, 'ablation.md'), 'utf8');
    assert.match(md, /^\| configuration \| seeds \| eval loss \|/);
    assert.match(md, /\| HALO2 INT8 \| 2 \| \d+\.\d{4} ± \d+\.\d{4} \|/);
    assert.ok(!fs.existsSync(path.join(out, 'fp32-seed0', 'checkpoints')), 'checkpoints are removed');
    const bad = await halo('experiment', 'ablation', '--model', model, '--configs', 'halo9-int8', '--out', out);
    assert.equal(bad.code, 2, bad.err);
    assert.match(bad.err, /unknown --configs entry 'halo9-int8'/);
  });

  test("experiment ablation --peft lora: default PEFT rows are Table 4's, adapters train on a frozen base", async () => {
    const out = path.join(tmp, 'ablation-peft');
    const help = await halo('experiment', 'ablation', '--help');
    assert.match(help.out, /--peft <str>.*\(one of: lora, hut\)/);
    const r = await halo(
      'experiment',
      'ablation',
      '--model',
      model,
      '--peft',
      'lora',
      '--configs',
      'bf16,halo2-int8',
      '--steps',
      '2',
      '--batch-size',
      '2',
      '--max-examples',
      '4',
      '--max-seq-len',
      '384',
      '--eval-loss-limit',
      '2',
      '--eval-limit',
      '1',
      '--max-new-tokens',
      '2',
      '--lr',
      '0.01',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /LORA adapters on a frozen base/);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'ablation.json'), 'utf8'));
    assert.equal(j.settings.peft, 'lora');
    assert.deepEqual(
      j.rows.map((x: { config: string }) => x.config),
      ['bf16', 'halo2-int8'],
    );
    for (const row of j.rows) assert.ok(Number.isFinite(row.evalLoss.mean) && row.tokensPerSecond > 0);
  });
});
