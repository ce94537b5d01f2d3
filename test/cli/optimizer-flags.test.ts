// --optimizer / --optim-block as a user meets them, in separate processes: finetune and pretrain train with
// 8-bit moments and write them into their checkpoints, a resume with another optimizer is one line and exit 2,
// bad combinations are refused before anything runs, and `bench model` prints the optimizer's state bytes
// beside f32 AdamW's.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { latestCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.ts';
import { halo } from '../helpers/run-halo.ts';
import { tinyCliRun } from '../helpers/tiny-cli-run.ts';

const { tmp, model, text, finetune } = tinyCliRun('halo-optim-cli-', 1);

describe('--optimizer', { concurrency: true }, () => {
  test('finetune --optimizer adamw8bit checkpoints 8-bit moments; resuming with adamw is refused in one line (exit 2)', async () => {
    const out = path.join(tmp, 'ft8');
    const r = await finetune(out, '--optimizer', 'adamw8bit', '--optim-block', '512');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /optimizer \(adamw8bit \(blocks of 512\) moments\)/, 'the memory plan names it');
    const ck = loadCheckpoint(latestCheckpoint(out)!);
    assert.equal(ck.optimizer.kind, 'adamw8bit');
    assert.equal(ck.optimizer.block, 512);
    const again = await finetune(out, '--optimizer', 'adamw', '--max-steps', '3', '--resume');
    assert.equal(again.code, 2, again.err);
    // run.json's settings check (src/train/run-folder.ts) or the checkpoint's own: one line naming both.
    assert.match(again.err.trim().split('\n').pop()!, /^halo finetune: .*optimizer.*adamw8bit.*adamw/);
  });

  test('pretrain --optimizer adamw-fp8 trains and checkpoints FP8 moments', async () => {
    const out = path.join(tmp, 'pt8');
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
      '2',
      '--optimizer',
      'adamw-fp8',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.err);
    const ck = loadCheckpoint(latestCheckpoint(out)!);
    assert.equal(ck.optimizer.kind, 'adamw-fp8');
    assert.equal(ck.optimizer.block, 128);
  });

  test('refused before anything runs: --optim-block with adamw, a block out of range, an unknown optimizer', async () => {
    for (const [args, re] of [
      [['--optim-block', '64'], /--optim-block applies to --optimizer adamw8bit or adamw-fp8/],
      [['--optimizer', 'adamw8bit', '--optim-block', '0'], /--optim-block must be an integer in \[1, 1048576\], got 0/],
      [['--optimizer', 'sgd'], /--optimizer must be one of adamw, adamw8bit, adamw-fp8/],
    ] as const) {
      const out = path.join(tmp, `bad-${args.join('')}`);
      const r = await finetune(out, ...args);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, re);
      assert.ok(!fs.existsSync(path.join(out, 'checkpoints')));
    }
  });

  test("bench model --optimizer adamw8bit: optimizer state bytes ≤ 0.27× adamw's, both in the JSON", async () => {
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
      '--optimizer',
      'adamw8bit',
      '--json',
    );
    assert.equal(r.code, 0, r.err);
    const o = JSON.parse(r.out.trim().split('\n').pop()!);
    assert.equal(o.optimizer, 'adamw8bit (blocks of 2048)');
    assert.ok(o.optimizerStateBytes > 0 && o.optimizerStateBytes <= 0.27 * o.adamwStateBytes, `${o.optimizerStateBytes} vs ${o.adamwStateBytes}`);
    assert.equal(o.adamwStateBytes, 8 * o.trainableParameters);
  });
});
