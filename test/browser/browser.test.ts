// `npm test`'s hold on the browser path: the WebGPU kernels' conformance run (test/browser/run.ts) in a child
// process must pass, and the browser bundle's Node-import check must reject a Node import. The run is skipped
// (with the reason printed) only when there is no Chromium binary at /usr/bin/chromium or $HALO_CHROMIUM;
// a Chromium without WebGPU fails the test (run.ts exits 2) rather than skipping it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { noNodeImports } from '../../web/build.ts';
import { chromiumPath } from './chromium.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

test('the browser bundle refuses Node builtins (node:fs and bare fs)', async () => {
  for (const spec of ['node:fs', 'fs', 'node:child_process']) {
    await assert.rejects(
      esbuild.build({
        stdin: { contents: `import * as m from '${spec}'; console.log(m);`, resolveDir: ROOT },
        bundle: true,
        platform: 'browser',
        format: 'esm',
        write: false,
        logLevel: 'silent',
        plugins: [noNodeImports],
      }),
      (e: Error) => e.message.includes(`Node builtin '${spec}'`),
      spec,
    );
  }
});

test('WebGPU kernels conform to the reference backend in headless Chromium', { timeout: 15 * 60_000 }, (t) => {
  const exe = chromiumPath();
  if (!fs.existsSync(exe)) {
    t.skip(`no Chromium at ${exe} (set HALO_CHROMIUM)`);
    return;
  }
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'test/browser/run.ts', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 14 * 60_000 });
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  let report: { pass: boolean; adapter?: string; results: { name: string; pass: boolean; detail: string }[]; error?: string; unsupported?: string };
  try {
    report = JSON.parse(last);
  } catch {
    assert.fail(`run.ts printed no JSON (exit ${run.status}): ${run.stdout.slice(-2000)} ${run.stderr.slice(-2000)}`);
  }
  const failed = report.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.detail}`);
  assert.deepEqual(failed, [], `failed checks on ${report.adapter}`);
  assert.equal(run.status, 0, `exit ${run.status}: ${report.error ?? report.unsupported ?? run.stderr.slice(-2000)}`);
  assert.equal(report.pass, true);
  // every family ran (a runner that silently ran nothing must not pass)
  for (const family of ['gemm-f32', 'gemm-s8', 'rotate ', 'rotateQuantize int8', 'dequantize', 'device chain', 'E_UNSUPPORTED', 'E_NUMERIC']) {
    assert.ok(
      report.results.some((r) => r.name.includes(family)),
      `no '${family}' check in the run`,
    );
  }
  assert.ok(report.results.length >= 150, `only ${report.results.length} checks ran`);
});
