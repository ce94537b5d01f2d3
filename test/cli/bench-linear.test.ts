// `halo bench linear --json` end to end in a child process: one JSON array with the documented fields, and
// on the outlier inputs the ordering the issue asks for (HALO-2 fixes E_Y token outliers, HALO-1/2 fix X
// channel outliers, relative to HALO-0 INT8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

test('bench linear --json on outlier inputs', () => {
  const out = execFileSync(process.execPath, ['bin/halo.js', 'bench', 'linear', '--in', '256', '--out', '256', '--tokens', '128', '--json', '--backend', 'reference'], { encoding: 'utf8' });
  const rows = JSON.parse(out) as { level: string; format: string; relErrY: number; relErrEX: number; relErrG: number; fwdMs: number; bwdMs: number }[];
  for (const r of rows) {
    for (const k of ['relErrY', 'relErrEX', 'relErrG', 'fwdMs', 'bwdMs'] as const) assert.ok(Number.isFinite(r[k]), `${r.level} ${r.format} ${k}`);
  }
  const get = (level: string, format: string) => rows.find((r) => r.level === level && r.format === format)!;
  assert.equal(rows.length, 2 + 4 * 3); // FP32, BF16 baselines + {ideal, halo0, halo1, halo2} × {int8, fp8, fp6}
  assert.ok(get('none', 'fp32').relErrY < 1e-6);
  const h0 = get('halo0', 'int8');
  assert.ok(get('halo2', 'int8').relErrEX <= 0.5 * h0.relErrEX);
  assert.ok(get('halo1', 'int8').relErrY <= 0.5 * h0.relErrY);
  assert.ok(get('halo2', 'int8').relErrY <= 0.5 * h0.relErrY);
});

test('bench linear rejects a bad level with exit code 2', () => {
  assert.throws(
    () => execFileSync(process.execPath, ['bin/halo.js', 'bench', 'linear', '--levels', 'halo9'], { encoding: 'utf8', stdio: 'pipe' }),
    (e: { status: number; stderr: string }) => e.status === 2 && /unknown levels entry 'halo9'/.test(e.stderr),
  );
});
