// The linear-layer benchmark over several token counts, and its speed-ups over BF16 as one method × shape
// table: the paper's Figure 4 (a 4096×4096 linear, sequence 512 × batch 4/8/16/32, INT8 fwd+bwd speed-up of
// SwitchBack, Jetfire and HALO-2 over BF16) in one run. Each token count is its own runLinearBench, so every
// speed-up divides times measured minutes apart at most, on the same inputs, in the same process.
import type { Backend } from '../backend/backend.ts';
import { describeConfig, haloConfig } from '../halo/config.ts';
import { runLinearBench, type LinearBenchOptions, type LinearBenchRow } from './linear.ts';

export interface LinearShapesOptions extends Omit<LinearBenchOptions, 'tokens'> {
  tokens: readonly number[];
}

/** runLinearBench at each token count in turn; each row carries its `tokens`, its speed-ups are within its count. */
export function runLinearBenchShapes(be: Backend, o: LinearShapesOptions, onRow?: (r: LinearBenchRow) => void): LinearBenchRow[] {
  return o.tokens.flatMap((tokens) => runLinearBench(be, { ...o, tokens }, onRow));
}

export interface SpeedupTable {
  /** 'tokens' then one column per token count. */
  header: string[];
  /** One row per level × format other than FP32/BF16: its label, then its BF16 time ÷ its time at each count ('-' if not run). */
  body: string[][];
}

/** Method × token-count table of speed-ups over the BF16 row of the same count; null when no BF16 row was run. */
export function speedupTable(rows: readonly LinearBenchRow[]): SpeedupTable | null {
  if (!rows.some((r) => r.level === 'none' && r.format === 'bf16')) return null;
  const counts = [...new Set(rows.map((r) => r.tokens))];
  const methods = [...new Map(rows.filter((r) => r.level !== 'none').map((r) => [`${r.level} ${r.format}`, r])).values()];
  return {
    header: ['speed-up over BF16', ...counts.map((t) => `${t} tokens`)],
    body: methods.map((m) => [
      describeConfig(haloConfig({ level: m.level, format: m.format })),
      ...counts.map((t) => {
        const r = rows.find((x) => x.tokens === t && x.level === m.level && x.format === m.format);
        return r?.vsBf16 != null ? `${r.vsBf16.toFixed(2)}×` : '-';
      }),
    ]),
  };
}
