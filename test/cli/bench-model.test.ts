// `halo bench model`: a preset built into a temporary folder, loaded as `halo finetune` loads it, stepped in a
// child process; the JSON carries what docs/scaling.md reports, with values that can be wrong (the loss of a
// random model is near ln V; peak RSS at least what was resident after loading; the plan is a positive size).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { halo } from '../helpers/run-halo.ts';

test('halo bench model --preset … --json: one object with speed, memory, plan and loss', async () => {
  const r = await halo('bench', 'model', '--preset', 'smollm2-135m', '--layers', '1', '--seq', '16', '--steps', '1', '--warmup', '0', '--json');
  assert.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out.trim().split('\n').pop()!);
  for (const k of ['tokensPerSecond', 'stepSeconds', 'peakRssMiB', 'planMiB', 'loss', 'loadSeconds']) assert.equal(typeof o[k], 'number', k);
  assert.equal(o.tokens, 16);
  assert.ok(o.tokensPerSecond > 0 && o.stepSeconds > 0);
  assert.ok(o.peakRssMiB >= o.loadedRssMiB);
  assert.ok(Math.abs(o.loss - Math.log(49152)) < 1.5, `loss ${o.loss}`);
  assert.ok(o.planMiB > 100 && o.planMiB < 4096, `plan ${o.planMiB}`);
});

test('halo bench model needs exactly one of --preset and --model', async () => {
  const r = await halo('bench', 'model');
  assert.equal(r.code, 2);
  assert.match(r.err, /either --preset NAME or --model DIR/);
});
