// The fine-tuning page end to end, short (CI's budget; the 30-step run is `npm run test:browser -- --demo`,
// docs/browser.md): headless Chromium loads web/, trains 2 LoRA steps of halo-tiny with HALO-2 INT8 on WebGPU
// through the bridge, and the adapter it offers for download, evaluated by `halo eval --adapter` in Node, gives
// the eval loss the page reported (1e-4 relative on the reference backend, whose ops the page runs, up to the
// last bits of V8's Math functions; within 1e-2 on the native one, whose f32 rounding moves a few int8 codes:
// docs/browser.md). Skipped, with
// the reason, only where there is no Chromium binary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'node:test';
import { chromiumPath } from './chromium.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

test('the page fine-tunes on WebGPU and its adapter gives the same eval loss in Node', { timeout: 15 * 60_000 }, (t) => {
  const exe = chromiumPath();
  if (!fs.existsSync(exe)) {
    t.skip(`no Chromium at ${exe} (apt-get install chromium, or set HALO_CHROMIUM)`);
    return;
  }
  const shot = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'halo-page-')), 'page.png');
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/browser/run.ts',
      '--demo',
      '--json',
      '--steps',
      '2',
      '--eval-rows',
      '2',
      '--questions',
      '1',
      '--max-new-tokens',
      '4',
      '--screenshot',
      shot,
    ],
    { cwd: ROOT, encoding: 'utf8', timeout: 14 * 60_000 },
  );
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  let r: {
    backend: string;
    steps: number;
    losses: number[];
    evalLoss: number;
    nodeEvalLoss: number;
    relDiff: number;
    relDiffReference: number;
    bridge: { gpuCalls: number } | null;
    adapterFiles: string[];
    checks: Record<string, boolean>;
  };
  try {
    r = JSON.parse(last);
  } catch {
    assert.fail(`the demo printed no JSON (exit ${run.status}): ${run.stdout.slice(-1500)} ${run.stderr.slice(-3000)}`);
  }
  assert.equal(r.backend, 'webgpu');
  assert.equal(r.steps, 2);
  assert.equal(r.losses.length, 2);
  assert.ok(r.losses.every(Number.isFinite), `losses ${r.losses}`);
  assert.ok(r.bridge && r.bridge.gpuCalls > 0, 'GEMMs crossed the bridge to the GPU');
  assert.deepEqual(r.adapterFiles.sort(), ['adapter_config.json', 'adapter_model.safetensors', 'halo_config.json']);
  assert.ok(r.relDiffReference <= 1e-4, `page eval loss ${r.evalLoss} vs halo eval --backend reference: rel diff ${r.relDiffReference}`);
  assert.ok(r.relDiff <= 1e-2, `vs halo eval on the native backend ${r.nodeEvalLoss}: rel diff ${r.relDiff}`);
  assert.ok(fs.statSync(shot).size > 10_000, 'a screenshot was taken');
  assert.equal(run.status, 0, run.stderr.slice(-2000));
});
