// Does a rerun reproduce a training run? Compares two metrics.jsonl files step by step: how many steps both
// logged, on how many the loss is bit-identical, and the largest relative difference. A deterministic rerun
// (same code, data, seed and CPU features) gives identical losses; the model card of halo-tiny quotes this.
// Usage: node --import tsx scripts/compare-metrics.ts ORIGINAL/metrics.jsonl RERUN/metrics.jsonl
import * as fs from 'node:fs';
import { readMetrics } from '../src/train/metrics.ts';

export interface MetricsComparison {
  compared: number;
  identical: number;
  maxRelDiff: number;
  firstDiffStep: number | null;
  lastStep: number;
}

export function compareMetrics(a: Record<string, unknown>[], b: Record<string, unknown>[]): MetricsComparison {
  const lossAt = new Map<number, number>();
  for (const r of a) if (typeof r.step === 'number' && typeof r.loss === 'number') lossAt.set(r.step, r.loss);
  const out: MetricsComparison = { compared: 0, identical: 0, maxRelDiff: 0, firstDiffStep: null, lastStep: 0 };
  for (const r of b) {
    if (typeof r.step !== 'number' || typeof r.loss !== 'number') continue;
    const ref = lossAt.get(r.step);
    if (ref === undefined) continue;
    out.compared++;
    out.lastStep = Math.max(out.lastStep, r.step);
    if (ref === r.loss) out.identical++;
    else {
      out.firstDiffStep ??= r.step;
      out.maxRelDiff = Math.max(out.maxRelDiff, Math.abs(r.loss - ref) / Math.abs(ref));
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [fa, fb] = process.argv.slice(2);
  if (!fa || !fb) {
    process.stderr.write('usage: node --import tsx scripts/compare-metrics.ts ORIGINAL/metrics.jsonl RERUN/metrics.jsonl\n');
    process.exit(2);
  }
  for (const f of [fa, fb])
    if (!fs.existsSync(f)) {
      process.stderr.write(`compare-metrics: no file ${f}\n`);
      process.exit(2);
    }
  const c = compareMetrics(readMetrics(fa), readMetrics(fb));
  process.stdout.write(
    `steps logged by both: ${c.compared} (up to step ${c.lastStep}); loss bit-identical on ${c.identical}` +
      (c.firstDiffStep === null ? '\n' : `; first difference at step ${c.firstDiffStep}, largest relative difference ${c.maxRelDiff.toExponential(2)}\n`),
  );
  process.exit(c.compared > 0 && c.identical === c.compared ? 0 : 1);
}
