// The PEFT commands end to end, as separate processes on a tiny model folder: `halo finetune --peft lora|hut`
// writes an HF PEFT adapter folder (and no full model), `halo eval/generate --adapter` use it unmerged,
// `halo merge` folds it in (FP32 losses agree), and PEFT-only flags without --peft are errors (exit 2).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { halo } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-peft-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const model = path.join(tmp, 'tiny');
writeTinyModelFolder(model, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, std: 0.3, seed: 4 });

const finetune = (method: string, out: string, ...extra: string[]) =>
  halo(
    'finetune',
    '--model',
    model,
    '--data',
    'data/sql/train.jsonl::8',
    '--eval-data',
    'data/sql/eval.jsonl::4',
    '--out',
    out,
    '--peft',
    method,
    '--rank',
    '4',
    '--alpha',
    '8',
    '--max-steps',
    '3',
    '--batch-size',
    '2',
    '--warmup-steps',
    '0',
    '--lr',
    '2e-2',
    '--level',
    'halo2',
    '--format',
    'int8',
    ...extra,
  );

const lossOf = (r: { code: number; out: string; err: string }): number => {
  assert.equal(r.code, 0, r.err);
  return (JSON.parse(r.out) as { loss: number }).loss;
};

describe('halo finetune --peft / eval --adapter / merge', () => {
  test('--help lists the PEFT switches; merge and --adapter exist', async () => {
    const [f, m, e, g] = await Promise.all([halo('finetune', '--help'), halo('merge', '--help'), halo('eval', '--help'), halo('generate', '--help')]);
    for (const r of [f, m, e, g]) assert.equal(r.code, 0, r.err);
    for (const flag of ['--peft', '--rank', '--alpha', '--dropout', '--target-modules', '--base-8bit'])
      assert.ok(f.out.includes(flag), `finetune --help lacks ${flag}`);
    for (const flag of ['--model', '--adapter', '--out']) assert.ok(m.out.includes(flag), `merge --help lacks ${flag}`);
    assert.ok(e.out.includes('--adapter') && g.out.includes('--adapter'));
  });

  test('PEFT flags without --peft, and --dropout with HUT, exit 2 with a message', async () => {
    const [noPeft, hutDrop] = await Promise.all([
      halo('finetune', '--model', model, '--data', 'data/sql/train.jsonl::4', '--out', path.join(tmp, 'never'), '--rank', '8'),
      finetune('hut', path.join(tmp, 'never2'), '--dropout', '0.1'),
    ]);
    assert.equal(noPeft.code, 2, noPeft.err);
    assert.match(noPeft.err, /--rank only apply with --peft/);
    assert.equal(hutDrop.code, 2, hutDrop.err);
    assert.match(hutDrop.err, /HUT .* no dropout/);
    assert.ok(!fs.existsSync(path.join(tmp, 'never')) && !fs.existsSync(path.join(tmp, 'never2')));
  });

  for (const method of ['lora', 'hut'] as const) {
    test(`${method}: an adapter folder, used unmerged by eval/generate and merged by merge`, async () => {
      const adapter = path.join(tmp, `${method}-adapter`);
      const targets = method === 'lora' ? ['q_proj', 'v_proj', 'down_proj'] : ['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'k_proj'];
      const ft = await finetune(method, adapter, '--target-modules', targets.join(','));
      assert.equal(ft.code, 0, ft.err);
      assert.match(ft.err, new RegExp(`${method.toUpperCase()} adapters on a frozen base \\(r 4, alpha 8`));
      assert.match(ft.out, /done: 3 steps/);
      // The PEFT layout, not a full model.
      assert.ok(!fs.existsSync(path.join(adapter, 'model.safetensors')), 'a PEFT run must not write the base weights');
      const cfg = JSON.parse(fs.readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(cfg.peft_type, method === 'lora' ? 'LORA' : 'HUT');
      assert.equal(cfg.r, 4);
      assert.equal(cfg.lora_alpha, 8);
      assert.deepEqual(
        cfg.target_modules,
        ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'].filter((m) => targets.includes(m)),
      );
      assert.equal(cfg.base_model_name_or_path, 'tiny', 'no absolute path in adapter_config.json');
      const { tensors } = readSafetensors(path.join(adapter, 'adapter_model.safetensors'));
      const f = method === 'lora' ? 'lora' : 'hut';
      assert.equal(tensors.size, 2 * 2 * targets.length);
      const b = tensors.get(`base_model.model.model.layers.1.self_attn.v_proj.${f}_B.weight`);
      assert.ok(b, [...tensors.keys()].join(', '));
      assert.ok(
        (b.data as Float32Array).some((v) => v !== 0),
        'training moved B off zero',
      );
      assert.ok(fs.existsSync(path.join(adapter, 'halo_config.json')));

      const merged = path.join(tmp, `${method}-merged`);
      const evalArgs = ['--data', 'data/sql/eval.jsonl::4', '--metric', 'loss', '--json', '--level', 'none'];
      const [unmerged, base, mg, gen, asTrained] = await Promise.all([
        halo('eval', '--model', model, '--adapter', adapter, ...evalArgs),
        halo('eval', '--model', model, ...evalArgs),
        halo('merge', '--model', model, '--adapter', adapter, '--out', merged),
        halo('generate', '--model', model, '--adapter', adapter, '--prompt', 'SELECT', '--max-new-tokens', '3'),
        halo('eval', '--model', model, '--adapter', adapter, '--as-trained', '--data', 'data/sql/eval.jsonl::4', '--metric', 'loss', '--json'),
      ]);
      assert.equal(mg.code, 0, mg.err);
      assert.match(mg.out, new RegExp(`merged ${method.toUpperCase()} \\(r 4, alpha 8`));
      assert.equal(gen.code, 0, gen.err);
      assert.match(gen.err, /\d+ prompt tokens, [0-3] generated/);
      assert.equal(asTrained.code, 0, asTrained.err);
      assert.equal((JSON.parse(asTrained.out) as { linears: string }).linears, 'HALO2 INT8', "--as-trained reads the adapter folder's halo_config.json");
      const mergedLoss = lossOf(await halo('eval', '--model', merged, ...evalArgs));
      const u = lossOf(unmerged);
      assert.ok(Math.abs(mergedLoss - u) <= 1e-5 * Math.abs(u), `merged ${mergedLoss} vs unmerged ${u}`);
      assert.ok(Math.abs(lossOf(base) - u) > 1e-4, `the adapter changes the loss (base ${lossOf(base)}, adapted ${u})`);
    });
  }
});
