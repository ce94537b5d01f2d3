// --grad-dtype as a user meets it, in separate processes: finetune, pretrain and bench model run with bf16
// gradients and the memory plan says so; with --peft, --fsdp/--hq-fsdp or bench model's --mode lora it is
// refused in one line (exit 2) before anything runs; an unknown dtype is refused by the parser.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { halo } from '../helpers/run-halo.ts';
import { tinyCliRun } from '../helpers/tiny-cli-run.ts';

const { tmp, model, text, finetune } = tinyCliRun('halo-grad-dtype-cli-', 0);

describe('--grad-dtype', { concurrency: true }, () => {
  test('finetune --grad-dtype bf16 trains; the memory plan counts bf16 gradients', async () => {
    const r = await finetune(path.join(tmp, 'ft'), '--grad-dtype', 'bf16', '--optimizer', 'adamw8bit');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /gradients \(bf16; norms f32\)/);
    assert.match(r.out, /^done: 2 steps/m);
  });

  test('pretrain --grad-dtype bf16 trains', async () => {
    const r = await halo(
      'pretrain',
      '--init',
      model,
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
      '0',
      '--grad-dtype',
      'bf16',
      '--out',
      path.join(tmp, 'pt'),
    );
    assert.equal(r.code, 0, r.err);
  });

  test('refused in one line before anything runs: with --peft, --fsdp, --hq-fsdp; an unknown dtype', async () => {
    for (const [args, re] of [
      [['--peft', 'lora'], /--grad-dtype bf16 applies to full fine-tuning; --peft lora trains small f32 adapters/],
      [['--fsdp'], /--grad-dtype bf16 does not run with --fsdp\/--hq-fsdp/],
      [['--hq-fsdp'], /--grad-dtype bf16 does not run with --fsdp\/--hq-fsdp/],
    ] as const) {
      const out = path.join(tmp, `bad-${args.join('')}`);
      const r = await finetune(out, '--grad-dtype', 'bf16', ...args);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err.trim().split('\n').pop()!, re);
      assert.ok(!fs.existsSync(path.join(out, 'metrics.jsonl')));
    }
    const r = await finetune(path.join(tmp, 'bad-f16'), '--grad-dtype', 'f16');
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--grad-dtype must be one of f32, bf16/);
  });

  test('bench model --grad-dtype bf16: the JSON says so and the plan counts 2-byte gradients; --mode lora refuses it', async () => {
    const r = await halo(
      'bench',
      'model',
      '--preset',
      'smollm2-135m',
      '--layers',
      '1',
      '--seq',
      '16',
      '--steps',
      '1',
      '--warmup',
      '0',
      '--grad-dtype',
      'bf16',
      '--json',
    );
    assert.equal(r.code, 0, r.err);
    const o = JSON.parse(r.out.trim().split('\n').pop()!);
    assert.equal(o.gradDtype, 'bf16');
    const grads = o.plan.items.find((i: { name: string }) => i.name.startsWith('gradients'));
    assert.equal(grads.name, 'gradients (bf16; norms f32)');
    assert.ok(grads.bytes < 2.001 * o.trainableParameters, `${grads.bytes} bytes for ${o.trainableParameters} parameters`);
    const lora = await halo('bench', 'model', '--preset', 'smollm2-135m', '--layers', '1', '--mode', 'lora', '--grad-dtype', 'bf16');
    assert.equal(lora.code, 2, lora.err);
    assert.match(lora.err, /--grad-dtype bf16 applies to --mode full/);
  });
});
