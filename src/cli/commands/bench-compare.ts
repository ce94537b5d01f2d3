// `halo bench compare` (npm run bench:compare): the training step of `halo bench step` and the same step in
// plain PyTorch (bench/torch_step.py: FP32 and bf16 autocast) in one run, on the same shape, thread count
// and machine, printing tokens/s and every halo/PyTorch ratio. PyTorch comes from the system Python
// (Debian's python3-torch); without it the command says how to get it.
//
// PyTorch's FP32 matmuls go through whatever libblas.so.3 is: Debian's default is the unoptimised reference
// BLAS, which makes PyTorch FP32 look ~10× slower than it is. --torch-blas DIR puts an optimised one (e.g.
// an OpenBLAS directory holding libblas.so.3) first on the PyTorch process's library path, and the output
// names the BLAS PyTorch actually loaded, so a ratio against the reference BLAS is never mistaken for one
// against a real baseline.
import { spawnSync } from 'node:child_process';
import { runJsonChild } from '../../bench/json-child.ts';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { HaloError } from '../../core/errors.ts';
import type { Command } from '../command.ts';
import { formatTable } from '../table.ts';
import {
  describeShape,
  parseStepConfigs,
  renderStepTable,
  runStepBench,
  stepOptions,
  stepShapeFromOptions,
  STEP_OPTIONS,
  type StepBenchRow,
  type StepShape,
} from './bench-step.ts';

const TORCH_SCRIPT = fileURLToPath(new URL('../../../bench/torch_step.py', import.meta.url));

export interface TorchStepRow {
  config: 'fp32' | 'bf16';
  label: string;
  tokens: number;
  stepMs: number;
  minStepMs: number;
  fwdBwdMs: number;
  optimMs: number;
  tokensPerSec: number;
  peakRssMiB: number;
  loss: number;
  blas: string[] | null;
}

export interface TorchStepResult {
  torch: string;
  threads: number;
  rows: TorchStepRow[];
}

export interface CompareResult {
  shape: StepShape;
  threads: number;
  halo: StepBenchRow[];
  torch: TorchStepResult;
  /** halo tokens/s ÷ PyTorch tokens/s, per halo configuration. */
  ratios: { config: string; label: string; vsTorchFp32: number | null; vsTorchBf16: number | null }[];
}

/** Runs bench/torch_step.py with `python`; rejects with the reason when PyTorch is missing or the run fails. */
export function runTorchStep(
  python: string,
  shape: StepShape,
  o: { steps: number; warmup: number; threads: number; seed: number; blasDir?: string },
  configs: readonly string[] = ['fp32', 'bf16'],
): Promise<TorchStepResult> {
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : (probe.stderr ?? '').trim().split('\n').pop();
    throw new HaloError('E_UNSUPPORTED', `PyTorch is not available to ${python} (${why}); install it (Debian: apt-get install python3-torch) or pass --python`);
  }
  const args = [
    TORCH_SCRIPT,
    '--configs',
    configs.join(','),
    '--steps',
    String(o.steps),
    '--warmup',
    String(o.warmup),
    '--threads',
    String(o.threads),
    '--seed',
    String(o.seed),
    '--layers',
    String(shape.layers),
    '--hidden',
    String(shape.hidden),
    '--intermediate',
    String(shape.intermediate),
    '--heads',
    String(shape.heads),
    '--kv-heads',
    String(shape.kvHeads),
    '--seq',
    String(shape.seq),
    '--batch',
    String(shape.batch),
    '--vocab',
    String(shape.vocab),
  ];
  // OpenBLAS (PyTorch's FP32 BLAS with --torch-blas) starts its own threads: same count as everyone else.
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? String(o.threads) };
  if (o.blasDir) env.LD_LIBRARY_PATH = [o.blasDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return runJsonChild<TorchStepResult>(python, args, env, 'bench/torch_step.py');
}

export function compareRatios(halo: readonly StepBenchRow[], torch: TorchStepResult): CompareResult['ratios'] {
  const tps = (c: string) => torch.rows.find((r) => r.config === c)?.tokensPerSec ?? null;
  const fp32 = tps('fp32'),
    bf16 = tps('bf16');
  return halo.map((r) => ({
    config: r.config,
    label: r.label,
    vsTorchFp32: fp32 ? r.tokensPerSec / fp32 : null,
    vsTorchBf16: bf16 ? r.tokensPerSec / bf16 : null,
  }));
}

const ratio = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}×`);

export const benchCompareCommand: Command = {
  name: 'bench compare',
  summary: 'halo bench step next to the same Llama step in PyTorch FP32 / bf16 autocast: tokens/s ratios',
  usage: 'halo bench compare [--quick] [shape flags of bench step] [--configs …] [--torch-blas DIR] [--json]',
  options: [
    ...STEP_OPTIONS,
    { name: 'configs', type: 'string', help: 'halo configurations (see halo bench step)', default: 'fp32,bf16,halo2-int8,halo2-fp8' },
    {
      name: 'torch-configs',
      type: 'string',
      help: 'PyTorch configurations: fp32 and/or bf16 (bf16 autocast is very slow without AVX-512)',
      default: 'fp32,bf16',
    },
    { name: 'python', type: 'string', help: 'Python with PyTorch', default: '/usr/bin/python3' },
    { name: 'torch-blas', type: 'string', help: 'directory with an optimised libblas.so.3 for PyTorch FP32 (e.g. an OpenBLAS lib dir)' },
    { name: 'json', type: 'boolean', help: 'print one JSON object instead of tables' },
  ],
  async run({ options }) {
    const shape = stepShapeFromOptions(options);
    const names = parseStepConfigs(options.configs as string);
    const opts = stepOptions(options);
    if (opts.backend === 'reference') throw new HaloError('E_ARG', 'bench compare measures the native backend; drop --backend reference');
    // Both sides get the same thread count (halo's default is every core; PyTorch's must be set explicitly).
    const threads = opts.threads ?? availableParallelism();
    const blasDir = options['torch-blas'] as string | undefined;
    if (blasDir !== undefined && !existsSync(`${blasDir}/libblas.so.3`)) {
      throw new HaloError('E_IO', `--torch-blas: ${blasDir}/libblas.so.3 does not exist; point it at a directory holding an optimised libblas.so.3`);
    }
    const json = options.json === true;
    const log = (s: string) => {
      if (!json) process.stderr.write(s);
    };
    if (!json)
      process.stdout.write(`Llama step: ${describeShape(shape)}; ${threads} thread(s); median of ${opts.steps} step(s) after ${opts.warmup} warm-up\n`);
    const torchConfigs = (options['torch-configs'] as string)
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean);
    if (torchConfigs.length === 0 || torchConfigs.some((c) => c !== 'fp32' && c !== 'bf16')) {
      throw new HaloError('E_ARG', `--torch-configs must list fp32 and/or bf16, got '${options['torch-configs'] as string}'`);
    }
    const torch = await runTorchStep(options.python as string, shape, { ...opts, threads, blasDir }, torchConfigs);
    log(`  PyTorch done: ${torch.rows.map((r) => `${r.config} ${r.tokensPerSec.toFixed(0)} tokens/s`).join(', ')}\n`);
    const halo = await runStepBench(shape, names, { ...opts, threads }, (r) => log(`  done ${r.config}: ${r.tokensPerSec.toFixed(0)} tokens/s\n`));
    const result: CompareResult = { shape, threads, halo, torch, ratios: compareRatios(halo, torch) };
    if (json) {
      process.stdout.write(JSON.stringify(result) + '\n');
      return 0;
    }
    const blas = [...new Set(torch.rows.flatMap((r) => r.blas ?? []))].join(', ') || 'unknown';
    process.stdout.write(`PyTorch ${torch.torch} (${torch.threads} threads; BLAS for FP32: ${blas})\n`);
    process.stdout.write(
      formatTable(
        ['PyTorch', 'step ms', 'tokens/s', 'fwd+bwd ms', 'AdamW ms', 'peak RSS MiB', 'loss'],
        torch.rows.map((r) => [
          r.label,
          r.stepMs.toFixed(0),
          r.tokensPerSec.toFixed(0),
          r.fwdBwdMs.toFixed(0),
          r.optimMs.toFixed(0),
          r.peakRssMiB.toFixed(0),
          r.loss.toFixed(3),
        ]),
      ) +
        '\n\nhalo\n' +
        renderStepTable(halo) +
        '\n\n',
    );
    process.stdout.write(
      formatTable(
        ['halo config', 'tokens/s', '÷ PyTorch FP32', '÷ PyTorch BF16 autocast'],
        result.ratios.map((r, i) => [r.label, halo[i]!.tokensPerSec.toFixed(0), ratio(r.vsTorchFp32), ratio(r.vsTorchBf16)]),
      ) + '\n',
    );
    return 0;
  },
};
