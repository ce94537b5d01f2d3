// The linear-layer benchmark (spec §11): for each level × format, the relative Frobenius error of Y, E_X and
// G against an f64 computation on outlier inputs, and forward/backward wall time on the chosen backend.
// Errors and times come from the same run, so ratios between rows are meaningful on a noisy machine.
import type { Backend } from '../backend/backend.ts';
import { referenceBackend } from '../backend/reference/index.ts';
import { haloConfig, type Format, type HaloConfig, type Level } from '../halo/config.ts';
import { linearBackward, linearForward, prepareWeight } from '../halo/linear.ts';
import { makeOutlierInputs, relFrobenius, toF32 } from './outliers.ts';

export interface LinearBenchOptions {
  inFeatures: number;
  outFeatures: number;
  tokens: number;
  levels: readonly Level[];
  formats: readonly Format[];
  reps: number;
  seed: number;
}

export interface LinearBenchRow {
  level: Level;
  format: Format;
  relErrY: number;
  relErrEX: number;
  relErrG: number;
  fwdMs: number;
  bwdMs: number;
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
  const yRef = ref.matmulT(inputs.x, inputs.w, 1).data;
  const exRef = ref.matmulT(inputs.ey, ref.transpose(inputs.w), 1).data;
  const gRef = ref.matmulT(ref.transpose(inputs.ey), ref.transpose(inputs.x), 1).data;
  const x = toF32(inputs.x);
  const w = toF32(inputs.w);
  const ey = toF32(inputs.ey);

  const rows: LinearBenchRow[] = [];
  for (const cfg of benchConfigs(o.levels, o.formats)) {
    let fwdMs = Infinity;
    let bwdMs = Infinity;
    let last: { y: Float32Array | Float64Array; dx: Float32Array | Float64Array; dw: Float32Array | Float64Array } | null = null;
    for (let r = 0; r < o.reps; r++) {
      const t0 = performance.now();
      const prepared = prepareWeight(be, cfg, w);
      const { y, saved } = linearForward(be, cfg, x, prepared);
      const t1 = performance.now();
      const { dx, dw } = linearBackward(be, cfg, saved, ey);
      const t2 = performance.now();
      fwdMs = Math.min(fwdMs, t1 - t0);
      bwdMs = Math.min(bwdMs, t2 - t1);
      last = { y: y.data, dx: dx!.data, dw: dw!.data };
    }
    const row: LinearBenchRow = {
      level: cfg.level,
      format: cfg.format,
      relErrY: relFrobenius(last!.y, yRef),
      relErrEX: relFrobenius(last!.dx, exRef),
      relErrG: relFrobenius(last!.dw, gRef),
      fwdMs,
      bwdMs,
    };
    rows.push(row);
    onRow?.(row);
  }
  return rows;
}
