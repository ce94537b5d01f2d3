// `halo bench hadamard`: native Hadamard rotation and fused rotate+quantize throughput on one activation-
// sized tensor (default 2048×4096 f32, 32 MiB), against a plain memcpy of the same tensor — the floor any
// pass over the data pays. GB/s counts the bytes each op must move at least once (f32 in, f32 or codes out).
import { performance } from 'node:perf_hooks';
import { addon } from '../../backend/native/index.ts';
import { FORMAT_CODES, GRANULARITY_CODES, QUANT_STRATEGY, SIDE_CODES } from '../../backend/native/binding.ts';
import { HaloError } from '../../core/errors.ts';
import { Rng } from '../../core/rng.ts';
import { planHadamard } from '../../hadamard/index.ts';
import type { Command } from '../command.ts';
import { formatTable } from '../table.ts';

export interface HadamardBenchRow {
  op: string;
  medianMs: number;
  gbps: number; // minimum traffic / median time
  vsMemcpy: number; // median time / the faster memcpy's median time
}

function median(fn: () => void, reps: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)]!;
}

export function runHadamardBench(rows: number, cols: number, reps: number, warmup: number, onRow?: (r: HadamardBenchRow) => void): HadamardBenchRow[] {
  const lib = addon();
  const n = rows * cols;
  const x = new Rng(7).fillNormal(new Float32Array(n));
  const out = new Float32Array(n);
  const i8 = new Int8Array(n),
    u8 = new Uint8Array(n);
  const one = new Float32Array(1),
    perRow = new Float32Array(Math.max(rows, cols));
  const pr = planHadamard(cols),
    pl = planHadamard(rows);
  const right = [pr.n, pr.block, pr.K, pr.pow2, pr.hadK] as const;
  const left = [pl.n, pl.block, pl.K, pl.pow2, pl.hadK] as const;
  const q =
    (
      side: number,
      plan: typeof right,
      fmt: number,
      gran: number,
      t: boolean,
      codes: Int8Array | Uint8Array,
      scales: Float32Array,
      st: number = QUANT_STRATEGY.auto,
    ) =>
    () =>
      lib.quantize(x, rows, cols, side, ...plan, false, fmt, gran, t, false, 1, codes, scales, st);
  const cases: [string, number, () => void][] = [
    ['memcpy f32 (native, 1 thread)', 8, () => lib.transpose(x, out, 1, n)],
    ['memcpy f32 (TypedArray.set)', 8, () => out.set(x)],
    ['rotate right f32→f32', 8, () => lib.rotate(x, out, rows, cols, SIDE_CODES.right, ...right, false)],
    ['rotate left f32→f32', 8, () => lib.rotate(x, out, rows, cols, SIDE_CODES.left, ...left, false)],
    ['quantize int8 tensor (no rotation)', 5, q(SIDE_CODES.none, right, FORMAT_CODES.int8, GRANULARITY_CODES.tensor, false, i8, one)],
    ['rotate right + int8 tensor', 5, q(SIDE_CODES.right, right, FORMAT_CODES.int8, GRANULARITY_CODES.tensor, false, i8, one)],
    ['  same, scratch strategy', 5, q(SIDE_CODES.right, right, FORMAT_CODES.int8, GRANULARITY_CODES.tensor, false, i8, one, QUANT_STRATEGY.scratch)],
    ['  same, recompute strategy', 5, q(SIDE_CODES.right, right, FORMAT_CODES.int8, GRANULARITY_CODES.tensor, false, i8, one, QUANT_STRATEGY.recompute)],
    ['rotate right + int8 tensor + transpose', 5, q(SIDE_CODES.right, right, FORMAT_CODES.int8, GRANULARITY_CODES.tensor, true, i8, one)],
    ['rotate right + int8 per-row (one pass)', 5, q(SIDE_CODES.right, right, FORMAT_CODES.int8, GRANULARITY_CODES.row, false, i8, perRow)],
    ['rotate right + fp8e4m3 tensor', 5, q(SIDE_CODES.right, right, FORMAT_CODES.fp8e4m3, GRANULARITY_CODES.tensor, false, u8, one)],
    ['rotate left + int8 tensor', 5, q(SIDE_CODES.left, left, FORMAT_CODES.int8, GRANULARITY_CODES.tensor, false, i8, one)],
    ['rotate left + int8 tensor + transpose', 5, q(SIDE_CODES.left, left, FORMAT_CODES.int8, GRANULARITY_CODES.tensor, true, i8, one)],
  ];
  const times = cases.map(([op, bytesPerElem, fn]) => ({ op, bytesPerElem, ms: median(fn, reps, warmup) }));
  const copyMs = Math.min(times[0]!.ms, times[1]!.ms); // the faster memcpy is the floor
  return times.map(({ op, bytesPerElem, ms }) => {
    const row = { op, medianMs: ms, gbps: (bytesPerElem * n) / (ms * 1e-3) / 1e9, vsMemcpy: ms / copyMs };
    onRow?.(row);
    return row;
  });
}

export const benchHadamardCommand: Command = {
  name: 'bench hadamard',
  summary: 'native Hadamard rotation and fused rotate+quantize throughput vs memcpy',
  usage: 'halo bench hadamard [--rows 2048] [--cols 4096] [--threads N] [--reps N] [--json]',
  options: [
    { name: 'rows', type: 'int', help: 'rows of the f32 tensor (tokens)', default: 2048 },
    { name: 'cols', type: 'int', help: 'columns (features); the right rotation spans them', default: 4096 },
    { name: 'threads', type: 'int', help: 'OpenMP threads (default: all cores)' },
    { name: 'reps', type: 'int', help: 'timed runs per case (the median is reported)', default: 7 },
    { name: 'warmup', type: 'int', help: 'untimed runs first', default: 2 },
    { name: 'json', type: 'boolean', help: 'print one JSON array instead of a table' },
  ],
  async run({ options }) {
    const rows = options.rows as number,
      cols = options.cols as number;
    if (rows < 1 || cols < 1) throw new HaloError('E_ARG', '--rows and --cols must be positive');
    const lib = addon();
    if (options.threads !== undefined) {
      if ((options.threads as number) < 1) throw new HaloError('E_ARG', `--threads must be ≥ 1, got ${options.threads}`);
      lib.setThreads(options.threads as number);
    }
    const json = options.json === true;
    const pr = planHadamard(cols),
      pl = planHadamard(rows);
    if (!json) {
      process.stdout.write(
        `${rows}×${cols} f32 (${((rows * cols * 4) / 2 ** 20).toFixed(0)} MiB), ${lib.getThreads()} thread(s), kernel tier ${lib.cpuFeatures().tier}; ` +
          `right plan K=${pr.K}·${pr.pow2}, left plan K=${pl.K}·${pl.pow2}; median of ${options.reps}\n`,
      );
    }
    const rowsOut = runHadamardBench(rows, cols, options.reps as number, options.warmup as number);
    process.stdout.write(
      (json
        ? JSON.stringify(rowsOut)
        : formatTable(
            ['op', 'median ms', 'GB/s', '× memcpy'],
            rowsOut.map((r) => [r.op, r.medianMs.toFixed(2), r.gbps.toFixed(1), r.vsMemcpy.toFixed(2)]),
          )) + '\n',
    );
    return 0;
  },
};
