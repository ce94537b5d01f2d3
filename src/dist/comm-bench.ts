// `halo bench comm`: what one FSDP training step moves and costs for each weight-gather precision — f32
// (--fsdp), bf16 (mixed-precision FSDP) and 8-bit rotated weights (--hq-fsdp, HALO-2 INT8 by default) — on a
// real model and data, in this process's world (1 process, or every rank of an mpirun job).
//
// Bytes are those of the gathered (whole) buffers each rank receives per optimizer step, split into the seven
// projection weights of every layer (what HQ-FSDP quantizes) and the rest (embeddings, norms, lm_head);
// a ring all-gather puts (N−1)/N of them on each rank's wire. Times are wall-clock per step after warm-up.
import { performance } from 'node:perf_hooks';
import type { Backend } from '../backend/backend.ts';
import { BatchLoader } from '../data/batch.ts';
import type { Example } from '../data/encode.ts';
import type { Communicator } from './communicator.ts';
import { FsdpModel, type FsdpMode } from './fsdp.ts';
import { describeConfig, haloConfig, type HaloConfig } from '../halo/config.ts';
import type { HfModel } from '../io/hf-folder.ts';
import { AdamW } from '../optim/adamw.ts';
import { nextBatch } from '../train/parallel.ts';

export interface CommBenchOptions {
  model: HfModel;
  examples: readonly Example[];
  backend: Backend;
  /** The HALO setting of the --hq-fsdp run (the f32/bf16 runs use plain FP32 matmuls). */
  hq: HaloConfig;
  batchSize: number;
  padId: number;
  steps: number;
  warmup: number;
  lr: number;
}

export interface CommBenchRow {
  run: string; // e.g. '--fsdp (FP32 gather)'
  mode: FsdpMode;
  matmuls: string;
  gatherDtype: string;
  weightBytesPerStep: number; // gathered projection weights
  otherBytesPerStep: number; // gathered embeddings / norms / lm_head / biases
  scatterBytesPerStep: number; // reduce-scattered gradients (f32 in every mode)
  weightBytesVsFp32: number;
  msPerStep: number;
  gatherMsPerStep: number;
  scatterMsPerStep: number;
  lastLoss: number;
}

const RUNS: { mode: FsdpMode; run: string; gatherDtype: string }[] = [
  { mode: 'fp32', run: '--fsdp', gatherDtype: 'fp32' },
  { mode: 'bf16', run: '--fsdp --gather-dtype bf16', gatherDtype: 'bf16' },
  { mode: 'hq', run: '--hq-fsdp', gatherDtype: '8-bit' },
];

export function runCommBench(comm: Communicator, o: CommBenchOptions, onRow?: (r: CommBenchRow) => void): CommBenchRow[] {
  const rows: CommBenchRow[] = [];
  for (const r of RUNS) {
    const halo = r.mode === 'hq' ? o.hq : haloConfig({ level: 'none', format: 'fp32' });
    const m = new FsdpModel(comm, o.model.config, o.model.weights, { halo, backend: o.backend, mode: r.mode });
    const shards = m.parameters().filter((p) => p.grad !== null);
    const opt = new AdamW(
      shards.map((p) => ({ name: p.name, param: p.data, grad: p.grad! })),
      { lr: o.lr, update: m.nn.adamwUpdate },
    );
    const loader = new BatchLoader(o.examples, { batchSize: o.batchSize, padId: o.padId, seed: 1 });
    let before = { ...m.traffic };
    let t0 = performance.now();
    let lastLoss = NaN;
    for (let s = 0; s < o.warmup + o.steps; s++) {
      if (s === o.warmup) {
        before = { ...m.traffic };
        t0 = performance.now();
      }
      const b = nextBatch(loader, m)!;
      const tokens = Float64Array.of(b.lossTokens);
      m.sum(tokens);
      opt.zeroGrad();
      const loss = Float64Array.of(m.forwardBackward(b, 1 / tokens[0]).lossSum);
      m.sum(loss);
      lastLoss = loss[0] / tokens[0];
      opt.step(o.lr);
      m.weightsChanged();
    }
    const per = (k: keyof typeof before) => (m.traffic[k] - before[k]) / o.steps;
    const row: CommBenchRow = {
      run: r.run,
      mode: r.mode,
      matmuls: describeConfig(halo),
      gatherDtype: r.mode === 'hq' ? `${o.hq.format} codes` : r.gatherDtype,
      weightBytesPerStep: per('gatheredWeightBytes'),
      otherBytesPerStep: per('gatheredOtherBytes'),
      scatterBytesPerStep: per('scatteredGradBytes'),
      weightBytesVsFp32: rows.length ? per('gatheredWeightBytes') / rows[0].weightBytesPerStep : 1,
      msPerStep: (performance.now() - t0) / o.steps,
      gatherMsPerStep: per('gatherSeconds') * 1000,
      scatterMsPerStep: per('scatterSeconds') * 1000,
      lastLoss,
    };
    rows.push(row);
    onRow?.(row);
  }
  return rows;
}
