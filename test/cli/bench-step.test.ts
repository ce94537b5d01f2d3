// `halo bench step` and `halo bench compare` end to end on a tiny shape: the JSON fields, the saved-activation
// accounting (FP32 saves f32 inputs, BF16 half of that, HALO INT8 a quarter plus scales), a first loss near
// ln V for fresh weights, the halo/PyTorch ratios, and the error when PyTorch is missing. The PyTorch run is
// skipped, with the reason, when /usr/bin/python3 cannot import torch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { compareRatios, type TorchStepResult } from '../../src/cli/commands/bench-compare.ts';
import type { StepBenchRow } from '../../src/cli/commands/bench-step.ts';

const TINY = ['--layers', '1', '--hidden', '64', '--intermediate', '96', '--heads', '4', '--kv-heads', '2', '--seq', '16', '--batch', '2', '--vocab', '300'];

test('bench step --json: every configuration row, saved activations vs FP32, loss ≈ ln V', () => {
  const out = execFileSync(
    process.execPath,
    ['bin/halo.js', 'bench', 'step', ...TINY, '--steps', '1', '--warmup', '0', '--configs', 'fp32,bf16,halo2-int8', '--json'],
    { encoding: 'utf8' },
  );
  const { shape, rows } = JSON.parse(out) as { shape: { seq: number; batch: number }; rows: StepBenchRow[] };
  assert.equal(shape.seq, 16);
  assert.deepEqual(
    rows.map((r) => r.config),
    ['fp32', 'bf16', 'halo2-int8'],
  );
  for (const r of rows) {
    assert.equal(r.tokens, 32);
    for (const k of ['stepMs', 'fwdBwdMs', 'optimMs', 'tokensPerSec', 'peakRssMiB', 'loss'] as const)
      assert.ok(Number.isFinite(r[k]) && r[k] > 0, `${r.config} ${k}`);
    assert.ok(Math.abs(r.tokensPerSec - r.tokens / (r.stepMs / 1000)) < 1e-6 * r.tokensPerSec);
    assert.ok(Math.abs(r.loss - Math.log(300)) < 0.5, `${r.config} first loss ${r.loss} vs ln 300`);
    // FP32 path: the f32 inputs of q/k/v (shared), o, gate/up (shared), down per layer.
    assert.equal(r.fp32LinearBytes, 4 * 32 * (64 + 64 + 64 + 96));
  }
  const by = (c: string) => rows.find((r) => r.config === c)!;
  assert.equal(by('fp32').savedVsFp32, 1);
  const b = by('bf16').savedVsFp32;
  assert.ok(b >= 0.5 && b < 0.51, `BF16 saves ${b}× (2-byte values + one scale per tensor)`);
  const h = by('halo2-int8').savedVsFp32;
  assert.ok(h > 0.25 && h <= 0.3, `HALO-2 INT8 saves ${h}× the FP32 bytes (1-byte codes + scales)`);
});

test('bench compare ratios: halo tokens/s over PyTorch tokens/s per configuration', () => {
  const row = (config: string, tps: number) => ({ config, label: config, tokensPerSec: tps }) as StepBenchRow;
  const torch = {
    torch: 'x',
    threads: 2,
    rows: [
      { config: 'fp32', tokensPerSec: 100 },
      { config: 'bf16', tokensPerSec: 400 },
    ],
  } as TorchStepResult;
  assert.deepEqual(compareRatios([row('fp32', 50), row('halo2-int8', 800)], torch), [
    { config: 'fp32', label: 'fp32', vsTorchFp32: 0.5, vsTorchBf16: 0.125 },
    { config: 'halo2-int8', label: 'halo2-int8', vsTorchFp32: 8, vsTorchBf16: 2 },
  ]);
  assert.deepEqual(compareRatios([row('fp32', 50)], { ...torch, rows: [torch.rows[0]!] }), [
    { config: 'fp32', label: 'fp32', vsTorchFp32: 0.5, vsTorchBf16: null },
  ]);
});

test('bench compare without PyTorch fails with a message that says how to get it', () => {
  const r = spawnSync(process.execPath, ['bin/halo.js', 'bench', 'compare', ...TINY, '--python', '/nonexistent/python3'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /PyTorch is not available to \/nonexistent\/python3.*python3-torch/);
});

const torchOk = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

test('bench compare --json runs bench/torch_step.py next to halo on the same shape', {
  skip: torchOk ? false : '/usr/bin/python3 cannot import torch (apt-get install python3-torch)',
}, () => {
  const out = execFileSync(
    process.execPath,
    ['bin/halo.js', 'bench', 'compare', ...TINY, '--steps', '1', '--warmup', '0', '--threads', '1', '--configs', 'fp32,halo2-int8', '--json'],
    { encoding: 'utf8' },
  );
  const res = JSON.parse(out) as { threads: number; torch: TorchStepResult; halo: StepBenchRow[]; ratios: ReturnType<typeof compareRatios> };
  assert.equal(res.threads, 1);
  assert.equal(res.torch.threads, 1);
  assert.deepEqual(
    res.torch.rows.map((r) => r.config),
    ['fp32', 'bf16'],
  );
  for (const r of res.torch.rows) {
    assert.equal(r.tokens, 32);
    assert.ok(r.tokensPerSec > 0);
    assert.ok(Math.abs(r.loss - Math.log(300)) < 0.5, `PyTorch ${r.config} first loss ${r.loss}`);
  }
  assert.deepEqual(res.ratios, compareRatios(res.halo, res.torch));
});

test('bench compare rejects an unknown --torch-configs entry', () => {
  const r = spawnSync(process.execPath, ['bin/halo.js', 'bench', 'compare', ...TINY, '--torch-configs', 'fp32,fp64'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--torch-configs must list fp32 and\/or bf16, got 'fp32,fp64'/);
});

test("bench step --profile: the GEMM floor is the step's GEMM operations at the measured standalone rates", () => {
  const out = execFileSync(
    process.execPath,
    ['bin/halo.js', 'bench', 'step', ...TINY, '--steps', '1', '--warmup', '0', '--configs', 'halo2-int8', '--profile', '--json'],
    { encoding: 'utf8' },
  );
  const r = (JSON.parse(out) as { rows: StepBenchRow[] }).rows[0]!;
  const gemms = r.profile!.filter((p) => p.op.startsWith('gemm '));
  assert.ok(
    gemms.some((p) => p.op === 'gemm i8'),
    'the INT8 step runs s8 GEMMs',
  );
  for (const p of gemms) assert.ok(r.gemmRates![p.op.slice(5)]! > 0, `a standalone rate for ${p.op}`);
  const expected = gemms.reduce((a, p) => a + (p.tops! * p.msPerStep) / r.gemmRates![p.op.slice(5)]!, 0);
  assert.ok(Math.abs(r.gemmFloorMs! - expected) <= 1e-9 * expected && expected > 0);
  assert.ok(r.gemmFloorMs! < r.stepMs, 'a floor below the step itself');
});
