// Issue 26 reproduction 8: every numeric flag of finetune / pretrain / eval / generate is range-checked before
// anything is written (no --out folder, no run_config.json), and the error names the flag; FILE:5:2 names the
// spec; --out "" or a file is one line, not a stack trace; a config with fewer layers than the weights is an
// error naming the extra tensors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from '../../src/cli/args.ts';
import type { Command } from '../../src/cli/command.ts';
import { evalCommand } from '../../src/cli/commands/eval.ts';
import { finetuneCommand } from '../../src/cli/commands/finetune.ts';
import { generateCommand } from '../../src/cli/commands/generate.ts';
import { pretrainCommand } from '../../src/cli/commands/pretrain.ts';
import { HaloError } from '../../src/core/errors.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { halo } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-argchecks-'));
const model = path.join(tmp, 'tiny');
writeTinyModelFolder(model, { hidden: 32, layers: 3, heads: 4, kvHeads: 2, intermediate: 64, vocab: 512, seed: 3 });
const data = path.join(tmp, 'data.jsonl');
fs.writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `q${i}`, completion: `a${i}` })).join('\n') + '\n');
const out = path.join(tmp, 'out');

const run = (cmd: Command, argv: string[]) => cmd.run(parseArgs(argv, cmd.options));
/** The command must fail with E_ARG whose message matches `re`, having created no --out. */
async function refuses(cmd: Command, argv: string[], re: RegExp): Promise<void> {
  await assert.rejects(run(cmd, argv), (e: unknown) => {
    assert.ok(e instanceof HaloError && e.code === 'E_ARG', String(e));
    assert.match(e.message, re);
    return true;
  });
  assert.equal(fs.existsSync(out), false, `${argv.join(' ')} created --out`);
}

describe('numeric flags are checked before anything is written', () => {
  const ft = ['--model', model, '--data', data, '--out', out];
  const cases: [string, string, RegExp][] = [
    ['epochs', '0', /^--epochs must be greater than 0, got 0$/],
    ['epochs', '-1', /^--epochs must be greater than 0, got -1$/],
    ['max-steps', '-3', /^--max-steps must be at least 1, got -3$/],
    ['grad-accum', '0', /^--grad-accum must be at least 1, got 0$/],
    ['batch-size', '0', /^--batch-size must be at least 1/],
    ['save-every', '-1', /^--save-every must be at least 0, got -1 \(0 = no checkpoints\)$/],
    ['eval-every', '-5', /^--eval-every must be at least 0/],
    ['max-grad-norm', '-1', /^--max-grad-norm must be at least 0, got -1 \(0 = no clipping\)$/],
    ['lr', '-1e-4', /^--lr must be at least 0, got -0\.0001/],
    ['warmup-steps', '-1', /^--warmup-steps must be at least 0/],
    ['weight-decay', '-0.1', /^--weight-decay must be at least 0/],
    ['adam-beta2', '1', /^--adam-beta2 must be in \[0, 1\), got 1$/],
    ['max-seq-len', '1', /^--max-seq-len must be at least 2, got 1 \(a token and the one it predicts\)$/],
    ['save-total-limit', '0', /^--save-total-limit must be at least 1/],
    ['max-bad-steps', '0', /^--max-bad-steps must be at least 1/],
  ];
  for (const [flag, value, re] of cases) {
    test(`finetune --${flag} ${value}`, () => refuses(finetuneCommand, [...ft, `--${flag}`, value], re));
  }

  test('finetune PEFT flags: --rank 0, --alpha 0, --dropout 1', async () => {
    await refuses(finetuneCommand, [...ft, '--peft', 'lora', '--rank', '0'], /^--rank must be at least 1, got 0$/);
    await refuses(finetuneCommand, [...ft, '--peft', 'lora', '--alpha', '0'], /^--alpha must be greater than 0/);
    await refuses(finetuneCommand, [...ft, '--peft', 'lora', '--dropout', '1'], /^--dropout must be in \[0, 1\)/);
  });

  test('finetune: --resume with --overwrite; --hadamard-block 0', async () => {
    await refuses(finetuneCommand, [...ft, '--resume', '--overwrite'], /--resume and --overwrite exclude each other/);
    await refuses(finetuneCommand, [...ft, '--hadamard-block', '0'], /--hadamard-block takes auto, full or a positive integer, got '0'/);
  });

  test('pretrain', async () => {
    const pt = ['--init', model, '--data', data, '--out', out];
    await refuses(pretrainCommand, [...pt, '--tokens', '0'], /^--tokens must be at least 1, got 0$/);
    await refuses(pretrainCommand, [...pt, '--tokens', '64', '--eval-fraction', '1'], /^--eval-fraction must be in \[0, 1\)/);
    await refuses(pretrainCommand, [...pt, '--tokens', '64', '--min-lr-ratio', '2'], /^--min-lr-ratio must be in \[0, 1\], got 2$/);
    await refuses(pretrainCommand, [...pt, '--tokens', '64', '--save-every', '-2'], /^--save-every must be at least 0/);
    await refuses(pretrainCommand, [...pt, '--tokens', '64', '--grad-accum', '0'], /^--grad-accum must be at least 1/);
  });

  test('eval and generate', async () => {
    const ev = ['--model', model, '--data', data, '--metric', 'loss'];
    await refuses(evalCommand, [...ev, '--batch-size', '0'], /^--batch-size must be at least 1, got 0$/);
    await refuses(evalCommand, [...ev, '--show', '-1'], /^--show must be at least 0/);
    const gen = ['--model', model, '--prompt', 'hi'];
    await refuses(generateCommand, [...gen, '--temperature', '-1'], /^--temperature must be at least 0/);
    await refuses(generateCommand, [...gen, '--top-p', '0'], /^--top-p must be in \(0, 1\], got 0$/);
    await refuses(generateCommand, [...gen, '--top-k', '-1'], /^--top-k must be at least 0/);
    await refuses(generateCommand, [...gen, '--max-new-tokens', '0'], /^--max-new-tokens must be at least 1/);
  });

  test('FILE:5:2 is an error naming the spec; a range past the end too', async () => {
    await refuses(
      finetuneCommand,
      ['--model', model, '--data', `${data}:5:2`, '--out', out],
      /data spec '.*data\.jsonl:5:2' selects no rows: FROM 5 is not before TO 2/,
    );
    await refuses(
      finetuneCommand,
      ['--model', model, '--data', `${data}:50:60`, '--out', out],
      /data spec '.*data\.jsonl:50:60' selects no rows: .* has 8 records/,
    );
  });
});

describe('one-line errors for a bad --out and a config with fewer layers than the weights', () => {
  test('--out "" and --out FILE exit 2 with one line', async () => {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    const rs = await Promise.all([
      halo('finetune', '--model', model, '--data', data, '--out', ''),
      halo('finetune', '--model', model, '--data', data, '--out', file),
      halo('pretrain', '--init', model, '--data', data, '--tokens', '64', '--out', file),
    ]);
    for (const r of rs) {
      assert.equal(r.code, 2, r.err);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
    }
    assert.match(rs[0].err, /^halo finetune: --out is empty; give the folder to write to$/m);
    assert.match(rs[1].err, /^halo finetune: --out .*a-file is a file, not a folder/m);
    assert.match(rs[2].err, /^halo pretrain: --out .*a-file is a file, not a folder/m);
  });

  test("num_hidden_layers below the weights' layers is an error naming the extra tensors", async () => {
    const short = path.join(tmp, 'short');
    fs.cpSync(model, short, { recursive: true });
    const cfgFile = path.join(short, 'config.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')), num_hidden_layers: 2 }));
    const r = await halo('finetune', '--model', short, '--data', data, '--out', path.join(tmp, 'short-out'), '--max-steps', '1');
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /short: tensors do not match config\.json \(1 more layer than config\.json's num_hidden_layers \(extra tensors model\.layers\.2\.input_layernorm\.weight, model\.layers\.2\.\S+, model\.layers\.2\.\S+ … \(9 in all\)\)\)/,
    );
    assert.equal(fs.existsSync(path.join(tmp, 'short-out', 'run.json')), false);
  });
});
