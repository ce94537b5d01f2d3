// `halo bench gemm`: throughput of the native GEMMs out[M,N] = α·A[M,K]·B[N,K]ᵀ for s8 (int32 accumulate),
// bf16 and f32 (f32 accumulate), through the same addon call the backend makes (operands preallocated, so
// only the GEMM is timed). Square sizes M = N = K, or MxNxK shapes (a decode step is 1xNxK); warm-up runs
// first (primitive creation, page faults), then the median of --reps timed runs. TOPS counts 2·M·N·K
// operations (a multiply-add is two). Small products run on one thread (native/src/gemm.cc);
// --serial-compare times every case both ways, side by side, to show where that bound pays.
// --layouts picks the operand layouts (A·Bᵀ is the forward's, A·B the input gradient's, Aᵀ·B the weight
// gradient's: oneDNN reads the transposed operand through strides); --copy-compare also times the way it was
// done before strided operands: copying each transposed operand into the A·Bᵀ layout, then the A·Bᵀ GEMM.
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
type GemmPath = 'auto' | 'all threads' | 'one thread';
/** Operand layouts as Backend.matmul's aT/bT: A·Bᵀ has A [M,K], B [N,K]; A·B has B [K,N]; Aᵀ has A [K,M]. */
const LAYOUTS = { ABt: { aT: false, bT: true }, AB: { aT: false, bT: false }, AtB: { aT: true, bT: false }, AtBt: { aT: true, bT: true } } as const;
type LayoutName = keyof typeof LAYOUTS;
const LAYOUT_LABEL: Record<LayoutName, string> = { ABt: 'A·Bᵀ', AB: 'A·B', AtB: 'Aᵀ·B', AtBt: 'Aᵀ·Bᵀ' };
/** setSerialGemmWork bound that forces each path (null: leave the library's). */
const SERIAL_WORK: Record<GemmPath, number | null> = { auto: null, 'all threads': 0, 'one thread': Number.MAX_SAFE_INTEGER };

export interface GemmShape {
  m: number;
  n: number;
  k: number;
}

export interface GemmBenchRow {
  type: GemmKind;
  shape: GemmShape;
  /** 'auto': the library's choice; 'all threads' / 'one thread': forced (--serial-compare). */
  path: GemmPath;
  layout: LayoutName;
  /** strided: the layout read in place; copy: transposed operands copied to A·Bᵀ first (timed too). */
  method: 'strided' | 'copy';
  threads: number;
  medianMs: number;
  minMs: number;
  tops: number; // 2·M·N·K / median time, in 10^12 per second (TOPS for s8, TFLOPS otherwise)
  impl: string; // oneDNN's implementation name
}

function operand(kind: GemmKind, n: number, rng: Rng): ArrayBufferView {
  if (kind === 's8') return Int8Array.from({ length: n }, () => rng.int(255) - 127);
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = rng.next() * 2 - 1;
  return kind === 'bf16' ? encodeBf16Array(f) : f;
}

export function runGemmBench(
  opts: {
    shapes: GemmShape[];
    types: readonly GemmKind[];
    reps: number;
    warmup: number;
    paths?: readonly GemmPath[];
    layouts?: readonly LayoutName[];
    copyCompare?: boolean;
  },
  onRow?: (r: GemmBenchRow) => void,
): GemmBenchRow[] {
  const lib = addon();
  const rows: GemmBenchRow[] = [];
  const rng = new Rng(1234);
  for (const shape of opts.shapes) {
    const { m, n, k } = shape;
    const out = new Float32Array(m * n);
    for (const type of opts.types) {
      const a = operand(type, m * k, rng);
      const b = operand(type, n * k, rng);
      const code = CODE[type];
      const copyA = operand(type, m * k, rng),
        copyB = operand(type, n * k, rng); // --copy-compare's targets
      for (const layout of opts.layouts ?? ['ABt']) {
        const { aT, bT } = LAYOUTS[layout];
        // α = 1, as in the model's linears: a float GEMM with an output scale never takes the one-thread path.
        const strided = () => lib.matmul(code, a, b, m, n, k, aT, !bT, 1, out);
        const copied = () => {
          if (aT) lib.transpose(a, copyA, k, m);
          if (!bT) lib.transpose(b, copyB, k, n);
          lib.matmulT(code, aT ? copyA : a, bT ? b : copyB, m, n, k, 1, out);
        };
        const methods = opts.copyCompare && layout !== 'ABt' ? (['strided', 'copy'] as const) : (['strided'] as const);
        for (const method of methods) {
          const run = method === 'strided' ? strided : copied;
          for (const path of opts.paths ?? ['auto']) {
            const bound = SERIAL_WORK[path];
            const previous = bound === null ? null : lib.setSerialGemmWork(bound);
            try {
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
                type,
                shape,
                path,
                layout,
                method,
                threads: lib.getThreads(),
                medianMs,
                minMs: times[0]!,
                tops: (2 * m * n * k) / (medianMs * 1e-3) / 1e12,
                impl: method === 'strided' ? lib.gemmImpl(code, m, n, k, aT, !bT) : `transpose + ${lib.gemmImpl(code, m, n, k)}`,
              };
              rows.push(row);
              onRow?.(row);
            } finally {
              if (previous !== null) lib.setSerialGemmWork(previous);
            }
          }
        }
      }
    }
  }
  return rows;
}

/** '1024' is 1024³; '1x256x768' is M×N×K. */
export function parseShapes(value: string): GemmShape[] {
  return value.split(',').map((item) => {
    const parts = item.trim().split('x').map(Number);
    const ok = (parts.length === 1 || parts.length === 3) && parts.every((v) => Number.isInteger(v) && v >= 1);
    if (!ok) throw new HaloError('E_ARG', `--sizes takes N (for N×N×N) or MxNxK items, all positive integers, got '${item.trim()}' in '${value}'`);
    const [m, n = m, k = m] = parts as [number, number?, number?];
    return { m, n, k };
  });
}

const shapeLabel = ({ m, n, k }: GemmShape) => (m === n && n === k ? String(m) : `${m}x${n}x${k}`);

export const benchGemmCommand: Command = {
  name: 'bench gemm',
  summary: 'native GEMM throughput (s8, bf16, f32; oneDNN) on square sizes or MxNxK shapes',
  usage:
    'halo bench gemm [--sizes 1024,2048,4096 | 1x256x768,…] [--layouts ABt,AB,AtB,AtBt] [--copy-compare] [--serial-compare] [--quick] [--threads N] [--reps N] [--json]',
  options: [
    { name: 'sizes', type: 'string', help: 'comma-separated sizes: N for N×N×N, or MxNxK', default: '1024,2048,4096' },
    { name: 'serial-compare', type: 'boolean', help: 'time each case on all threads and on one thread, side by side' },
    { name: 'layouts', type: 'string', help: 'comma-separated operand layouts: ABt (A [M,K]·B [N,K]ᵀ), AB (B [K,N]), AtB (A [K,M]), AtBt', default: 'ABt' },
    { name: 'copy-compare', type: 'boolean', help: 'also time copying transposed operands to the ABt layout + the ABt GEMM (the way before strided operands)' },
    { name: 'quick', type: 'boolean', help: 'size 1024 only' },
    { name: 'types', type: 'string', help: 'comma-separated operand types', default: TYPES.join(',') },
    { name: 'threads', type: 'int', help: 'OpenMP threads (default: all cores)' },
    { name: 'reps', type: 'int', help: 'timed runs per case (the median is reported)', default: 5 },
    { name: 'warmup', type: 'int', help: 'untimed runs first', default: 2 },
    { name: 'json', type: 'boolean', help: 'print one JSON array instead of a table' },
  ],
  async run({ options }) {
    const shapes = options.quick === true ? [{ m: 1024, n: 1024, k: 1024 }] : parseShapes(options.sizes as string);
    const types = (options.types as string)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const t of types) if (!(TYPES as readonly string[]).includes(t)) throw new HaloError('E_ARG', `unknown type '${t}'; use ${TYPES.join(', ')}`);
    const layouts = (options.layouts as string)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const l of layouts) if (!Object.hasOwn(LAYOUTS, l)) throw new HaloError('E_ARG', `unknown layout '${l}'; use ${Object.keys(LAYOUTS).join(', ')}`);
    const reps = options.reps as number,
      warmup = options.warmup as number;
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
      process.stdout.write(`oneDNN ${lib.dnnlVersion()}, ${lib.getThreads()} thread(s), ${isa}; out = op(A)·op(B), f32 output; median of ${reps}\n`);
    }
    const paths: GemmPath[] = options['serial-compare'] === true ? ['all threads', 'one thread'] : ['auto'];
    const rows = runGemmBench(
      { shapes, types: types as GemmKind[], reps, warmup, paths, layouts: layouts as LayoutName[], copyCompare: options['copy-compare'] === true },
      json ? undefined : (r) => process.stderr.write(`  done ${r.type} ${shapeLabel(r.shape)} ${r.layout} ${r.method} ${r.path}\n`),
    );
    process.stdout.write(
      (json
        ? JSON.stringify(rows)
        : formatTable(
            ['type', 'M×N×K', 'layout', 'path', 'median ms', 'min ms', 'TOPS', 'oneDNN impl'],
            rows.map((r) => [
              r.type,
              shapeLabel(r.shape),
              `${LAYOUT_LABEL[r.layout]}${r.method === 'copy' ? ' (copy)' : ''}`,
              r.path,
              r.medianMs.toFixed(r.medianMs < 1 ? 4 : 2),
              r.minMs.toFixed(r.minMs < 1 ? 4 : 2),
              r.tops.toFixed(3),
              r.impl,
            ]),
          )) + '\n',
    );
    return 0;
  },
};
