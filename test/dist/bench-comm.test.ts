// `halo bench comm --json` in a child process (one rank): the bytes all-gathered per step for the projection
// weights are 0.5× (BF16) and 0.25× (HQ-FSDP INT8) those of FP32 gathers, measured from the gathers made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeModel } from './setup.ts';

test('bench comm --json: 8-bit weight gathers move 0.5× BF16 and 0.25× FP32 bytes', () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'halo-bench-comm-')), 'tiny');
  writeModel(dir);
  const out = execFileSync(
    process.execPath,
    ['bin/halo.js', 'bench', 'comm', '--model', dir, '--data', 'data/sql/train.jsonl::16', '--max-seq-len', '320', '--steps', '2', '--warmup', '0', '--json'],
    { encoding: 'utf8' },
  );
  const res = JSON.parse(out) as {
    ranks: number;
    rows: {
      mode: string;
      weightBytesPerStep: number;
      weightBytesVsFp32: number;
      otherBytesPerStep: number;
      scatterBytesPerStep: number;
      msPerStep: number;
      lastLoss: number;
    }[];
  };
  assert.equal(res.ranks, 1);
  const [fp32, bf16, hq] = ['fp32', 'bf16', 'hq'].map((m) => res.rows.find((r) => r.mode === m)!);
  // tiny model: 2 layers × (q, o 32×32; k, v 16×32; gate, up 48×32; down 32×48 = 7680 weights) × 4 bytes, one forward
  assert.equal(fp32.weightBytesPerStep, 2 * 7680 * 4);
  assert.ok(Math.abs(bf16.weightBytesPerStep / fp32.weightBytesPerStep - 0.5) <= 0.01);
  assert.ok(Math.abs(hq.weightBytesPerStep / fp32.weightBytesPerStep - 0.25) <= 0.005);
  assert.ok(Math.abs(hq.weightBytesPerStep / bf16.weightBytesPerStep - 0.5) <= 0.01);
  for (const r of res.rows) {
    assert.ok(r.otherBytesPerStep > 0 && r.scatterBytesPerStep > 0 && r.msPerStep > 0, r.mode);
    assert.ok(Number.isFinite(r.lastLoss), r.mode);
  }
});
