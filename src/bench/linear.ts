// The linear-layer benchmark (spec §11): for each level × format (the SwitchBack and Jetfire baselines are
// levels too), the relative Frobenius error of Y, E_X and G against an f64 computation on outlier inputs, and
// forward/backward wall time on the chosen backend.
// Errors and times come from the same run, so ratios between rows are meaningful on a noisy machine.
// Every backend call is timed (src/bench/profile.ts), so a row also says how its time splits between the
// GEMMs (with the TOPS they reach inside the layer, to set against `halo bench gemm`) and the
// Hadamard/quantize kernels; the speedups are against the FP32 and BF16 rows of the same run.
import type { Backend } from '../backend/backend.ts';
import { referenceBackend } from '../backend/reference/index.ts';
import { haloConfig, type Format, type HaloConfig, type Level } from '../halo/config.ts';
import { linearBackward, linearForward, prepareWeight } from '../halo/linear.ts';
import { makeOutlierInputs, relFrobenius, toF32 } from './outliers.ts';
import { profiledBackend, type OpProfile } from './profile.ts';

export interface LinearBenchOptions {
  inFeatures: number;
  outFeatures: number;
  tokens: number;
  levels: readonly Level[];
  formats: readonly Format[];
  reps: number;
  /** Untimed runs of each configuration first (oneDNN primitive creation, page faults). Default 1. */
  warmup?: number;
  /**
   * false: skip the f64 reference products (plain TypeScript, minutes at 4096² × 2048 tokens) and report the
   * errors as NaN — timing only. Default true.
   */
  errors?: boolean;
  seed: number;
}

export interface LinearBenchRow {
  level: Level;
  format: Format;
  tokens: number;
  relErrY: number; // NaN when errors: false
  relErrEX: number;
  relErrG: number;
  fwdMs: number;
  bwdMs: number;
  totalMs: number; // fwd + bwd of the fastest repetition
  gemmMs: number; // of totalMs: in GEMMs
  hadQuantMs: number; // of totalMs: rotate, rotate+quantize, dequantize
  transposeMs: number;
  gemmTops: Record<string, number>; // TOPS reached inside the layer, per GEMM operand dtype (i8, bf16, f32, …)
  vsFp32: number | null; // FP32 row's totalMs / this totalMs (null when FP32 was not run)
  vsBf16: number | null;
}

/** The configurations benchmarked: FP32 and BF16 baselines, then every quantized level × format. */
export function benchConfigs(levels: readonly Level[], formats: readonly Format[]): HaloConfig[] {
  const out: HaloConfig[] = [];
  if (levels.includes('none')) {
    for (const f of ['fp32', 'bf16'] as const) out.push(haloConfig({ level: 'none', format: f }));
  }
  for (const level of levels) {
    if (level === 'none') continue;
    for (const format of formats) out.push(haloConfig({ level, format }));
  }
  return out;
}

export function runLinearBench(be: Backend, o: LinearBenchOptions, onRow?: (r: LinearBenchRow) => void): LinearBenchRow[] {
  const inputs = makeOutlierInputs({ tokens: o.tokens, inFeatures: o.inFeatures, outFeatures: o.outFeatures, seed: o.seed });
  const ref = referenceBackend;
  const errors = o.errors ?? true;
  const yRef = errors ? ref.matmulT(inputs.x, inputs.w, 1).data : null;
  const exRef = errors ? ref.matmulT(inputs.ey, ref.transpose(inputs.w), 1).data : null;
  const gRef = errors ? ref.matmulT(ref.transpose(inputs.ey), ref.transpose(inputs.x), 1).data : null;
  const err = (got: Float32Array | Float64Array, want: Float64Array | Float32Array | null) => (want ? relFrobenius(got, want) : NaN);
  const x = toF32(inputs.x);
  const w = toF32(inputs.w);
  const ey = toF32(inputs.ey);

  const prof = profiledBackend(be);
  const pbe = prof.backend;
  const rows: LinearBenchRow[] = [];
  for (const cfg of benchConfigs(o.levels, o.formats)) {
    let best: { fwdMs: number; bwdMs: number; profile: OpProfile[] } | null = null;
    let last: { y: Float32Array | Float64Array; dx: Float32Array | Float64Array; dw: Float32Array | Float64Array } | null = null;
    const warmup = o.warmup ?? 1;
    for (let r = 0; r < warmup + o.reps; r++) {
      prof.take(1);
      const t0 = performance.now();
      const prepared = prepareWeight(pbe, cfg, w);
      const { y, saved } = linearForward(pbe, cfg, x, prepared);
      const t1 = performance.now();
      const { dx, dw } = linearBackward(pbe, cfg, saved, ey);
      const t2 = performance.now();
      const profile = prof.take(1);
      last = { y: y.data, dx: dx!.data, dw: dw!.data };
      if (r < warmup) continue;
      if (!best || t2 - t0 < best.fwdMs + best.bwdMs) best = { fwdMs: t1 - t0, bwdMs: t2 - t1, profile };
    }
    const ms = (f: (p: OpProfile) => boolean) => best!.profile.filter(f).reduce((a, p) => a + p.msPerStep, 0);
    const gemmTops: Record<string, number> = {};
    for (const p of best!.profile) if (p.op.startsWith('gemm ') && p.tops !== null) gemmTops[p.op.slice(5)] = p.tops;
    const row: LinearBenchRow = {
      level: cfg.level,
      format: cfg.format,
      tokens: o.tokens,
      relErrY: err(last!.y, yRef),
      relErrEX: err(last!.dx, exRef),
      relErrG: err(last!.dw, gRef),
      fwdMs: best!.fwdMs,
      bwdMs: best!.bwdMs,
      totalMs: best!.fwdMs + best!.bwdMs,
      gemmMs: ms((p) => p.op.startsWith('gemm ')),
      hadQuantMs: ms((p) => p.op === 'rotate' || p.op === 'rotateQuantize' || p.op === 'cast bf16' || p.op === 'dequantize'),
      transposeMs: ms((p) => p.op === 'transpose'),
      gemmTops,
      vsFp32: null,
      vsBf16: null,
    };
    rows.push(row);
    onRow?.(row);
  }
  const base = (f: Format) => rows.find((r) => r.level === 'none' && r.format === f)?.totalMs ?? null;
  const fp32 = base('fp32'),
    bf16 = base('bf16');
  for (const r of rows) {
    r.vsFp32 = fp32 !== null ? fp32 / r.totalMs : null;
    r.vsBf16 = bf16 !== null ? bf16 / r.totalMs : null;
  }
  return rows;
}
