// `halo bench gemm`: throughput of the native GEMMs out[M,N] = α·A[M,K]·B[N,K]ᵀ for s8 (int32 accumulate),
// bf16 and f32 (f32 accumulate), through the same addon call the backend makes (operands preallocated, so
// only the GEMM is timed). Square sizes M = N = K; warm-up runs first (primitive creation, page faults),
// then the median of --reps timed runs. TOPS counts 2·M·N·K operations (a multiply-add is two).
import { performance } from 'node:perf_hooks';
import { addon } from '../../backend/native/index.ts';
import { GEMM_TYPES } from '../../backend/native/binding.ts';
import { HaloError } from '../../core/errors.ts';
import { Rng } from '../../core/rng.ts';
import { encodeBf16Array } from '../../quant/index.ts';
import type { Command } from '../command.ts';
import { formatTable } from '../table.ts';

const TYPES = ['s8', 'bf16', 'f32'] as const;
type GemmKind = (typeof TYPES)[number];
const CODE: Record<GemmKind, number> = { s8: GEMM_TYPES.i8, bf16: GEMM_TYPES.bf16, f32: GEMM_TYPES.f32 };

export interface GemmBenchRow {
  type: GemmKind;
  size: number;        // M = N = K
  threads: number;
  medianMs: number;
  minMs: number;
  tops: number;        // 2·M·N·K / median time, in 10^12 per second (TOPS for s8, TFLOPS otherwise)
  impl: string;        // oneDNN's implementation name
}

function operand(kind: GemmKind, n: number, rng: Rng): ArrayBufferView {
  if (kind === 's8') return Int8Array.from({ length: n }, () => rng.int(255) - 127);
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = rng.next() * 2 - 1;
  return kind === 'bf16' ? encodeBf16Array(f) : f;
}

export function runGemmBench(opts: { sizes: number[]; types: readonly GemmKind[]; reps: number; warmup: number }, onRow?: (r: GemmBenchRow) => void): GemmBenchRow[] {
  const lib = addon();
  const rows: GemmBenchRow[] = [];
  const rng = new Rng(1234);
  for (const size of opts.sizes) {
    const out = new Float32Array(size * size);
    for (const type of opts.types) {
      const a = operand(type, size * size, rng);
      const b = operand(type, size * size, rng);
      const run = () => lib.matmulT(CODE[type], a, b, size, size, size, 0.5, out);
      for (let i = 0; i < opts.warmup; i++) run();
      const times: number[] = [];
      for (let i = 0; i < opts.reps; i++) {
        const t0 = performance.now();
        run();
        times.push(performance.now() - t0);
      }
      times.sort((x, y) => x - y);
      const medianMs = times[Math.floor(times.length / 2)]!;
      const row: GemmBenchRow = {
        type, size, threads: lib.getThreads(), medianMs, minMs: times[0]!,
        tops: (2 * size ** 3) / (medianMs * 1e-3) / 1e12,
        impl: lib.gemmImpl(CODE[type], size, size, size),
      };
      rows.push(row);
      onRow?.(row);
    }
  }
  return rows;
}

export const benchGemmCommand: Command = {
  name: 'bench gemm',
  summary: 'native GEMM throughput (s8, bf16, f32; oneDNN) on square sizes',
  usage: 'halo bench gemm [--sizes 1024,2048,4096] [--quick] [--threads N] [--reps N] [--json]',
  options: [
    { name: 'sizes', type: 'string', help: 'comma-separated M = N = K sizes', default: '1024,2048,4096' },
    { name: 'quick', type: 'boolean', help: 'size 1024 only' },
    { name: 'types', type: 'string', help: 'comma-separated operand types', default: TYPES.join(',') },
    { name: 'threads', type: 'int', help: 'OpenMP threads (default: all cores)' },
    { name: 'reps', type: 'int', help: 'timed runs per case (the median is reported)', default: 5 },
    { name: 'warmup', type: 'int', help: 'untimed runs first', default: 2 },
    { name: 'json', type: 'boolean', help: 'print one JSON array instead of a table' },
  ],
  async run({ options }) {
    const sizes = options.quick === true ? [1024] : parseInts(options.sizes as string, 'sizes');
    const types = (options.types as string).split(',').map((s) => s.trim()).filter(Boolean);
    for (const t of types) if (!(TYPES as readonly string[]).includes(t)) throw new HaloError('E_ARG', `unknown type '${t}'; use ${TYPES.join(', ')}`);
    const reps = options.reps as number, warmup = options.warmup as number;
    if (reps < 1 || warmup < 0) throw new HaloError('E_ARG', '--reps must be ≥ 1 and --warmup ≥ 0');
    const lib = addon();
    if (options.threads !== undefined) {
      if ((options.threads as number) < 1) throw new HaloError('E_ARG', `--threads must be ≥ 1, got ${options.threads}`);
      lib.setThreads(options.threads as number);
    }
    const json = options.json === true;
    if (!json) {
      const f = lib.cpuFeatures();
      const isa = f.amxTile ? 'AMX' : f.avx512vnni ? `AVX-512 VNNI${f.avx512bf16 ? ' + BF16' : ''}` : f.avx2 ? 'AVX2' : 'baseline';
      process.stdout.write(`oneDNN ${lib.dnnlVersion()}, ${lib.getThreads()} thread(s), ${isa}; out = α·A·Bᵀ, f32 output; median of ${reps}\n`);
    }
    const rows = runGemmBench({ sizes, types: types as GemmKind[], reps, warmup }, json ? undefined : (r) => process.stderr.write(`  done ${r.type} ${r.size}\n`));
    process.stdout.write((json ? JSON.stringify(rows) : formatTable(
      ['type', 'M=N=K', 'median ms', 'min ms', 'TOPS', 'oneDNN impl'],
      rows.map((r) => [r.type, String(r.size), r.medianMs.toFixed(2), r.minMs.toFixed(2), r.tops.toFixed(3), r.impl]),
    )) + '\n');
    return 0;
  },
};

function parseInts(value: string, what: string): number[] {
  const out = value.split(',').map((s) => Number(s.trim()));
  for (const v of out) if (!Number.isInteger(v) || v < 1) throw new HaloError('E_ARG', `--${what} takes positive integers, got '${value}'`);
  return out;
}
