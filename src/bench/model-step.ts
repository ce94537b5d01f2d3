// One model folder's training step as a user's run would take it — loaded the way `halo finetune` loads it
// (tensor by tensor; a frozen LoRA base straight to 8-bit codes), then warm-up and timed steps of forward +
// backward + clipping + the optimizer (AdamW, or --optimizer adamw8bit …) on a synthetic batch of B × T tokens, every position counted in the loss.
// Run in a child process by `halo bench model`, so the peak RSS it reports belongs to this run alone.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runJsonChild } from './json-child.ts';
import type { BackendName } from '../backend/select.ts';
import { Rng } from '../core/rng.ts';
import { collate, type Batch } from '../data/batch.ts';
import type { Example } from '../data/encode.ts';
import type { HaloConfig } from '../halo/config.ts';
import { gradOf, isTrainable, type CausalLM } from '../models/causal-lm.ts';
import { loadLlama } from '../models/load.ts';
import { clipGradNorm } from '../optim/adamw.ts';
import { makeOptimizer, optimizerStateBytes, type OptimizerChoice } from '../optim/optimizer.ts';
import type { GradDtype } from '../optim/bf16-grad.ts';
import { HALO_PEFT_DEFAULTS } from '../peft/build.ts';
import { loadPeftLlama } from '../peft/load.ts';
import { memoryPlan, type MemoryPlan } from '../train/memory-plan.ts';

export interface ModelStepRequest {
  model: string;
  mode: 'full' | 'lora';
  halo: HaloConfig;
  backend?: BackendName;
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
  gradCheckpointing: boolean;
  rank: number;
  /** Token ids are drawn below this (the tokenizer's vocabulary; the model's may be padded larger). */
  idLimit: number;
  seed: number;
  /** Default adamw. */
  optimizer?: OptimizerChoice;
  /** Default f32; bf16: full mode's 2-D tensors keep bf16 gradients. */
  gradDtype?: GradDtype;
}

export interface ModelStepResult {
  model: string;
  mode: 'full' | 'lora';
  tokens: number;
  loadSeconds: number;
  /** Median of the timed steps. */
  stepSeconds: number;
  tokensPerSecond: number;
  peakRssMiB: number;
  /** RSS right after loading (weights, codes, adapters; before any step). */
  loadedRssMiB: number;
  planMiB: number;
  plan: MemoryPlan;
  /** Loss of the first (warm-up) step: ln(V) for random weights. */
  loss: number;
  trainableParameters: number;
  /** Bytes of optimizer state the run held (codes, scales, f32 moments), and what f32 AdamW's would be. */
  optimizerStateBytes: number;
  adamwStateBytes: number;
}

const MiB = 2 ** 20;
const rssMiB = () => process.resourceUsage().maxRSS / 1024;

function syntheticBatch(r: ModelStepRequest, rng: Rng): Batch {
  const examples: Example[] = Array.from({ length: r.batch }, () => {
    const ids = Int32Array.from({ length: r.seq }, () => rng.int(r.idLimit));
    return { ids, labels: ids, truncated: false };
  });
  return collate(examples, { padId: 0 });
}

export function runModelStep(r: ModelStepRequest): ModelStepResult {
  const t0 = performance.now();
  const peft = r.mode === 'lora' ? { method: 'lora' as const, ...HALO_PEFT_DEFAULTS, rank: r.rank, dropout: 0, seed: r.seed } : null;
  const { model, source } = peft
    ? (() => {
        const p = loadPeftLlama(r.model, { halo: r.halo, backend: r.backend, peft, base8bit: true, gradCheckpointing: r.gradCheckpointing });
        return { model: p.model as CausalLM, source: p.source };
      })()
    : loadLlama(r.model, { halo: r.halo, backend: r.backend, gradCheckpointing: r.gradCheckpointing, gradDtype: r.gradDtype });
  const loadSeconds = (performance.now() - t0) / 1000;
  const loadedRssMiB = process.memoryUsage().rss / MiB;
  const plan = memoryPlan(source.config, {
    halo: r.halo,
    mode: r.mode,
    rank: r.rank,
    base8bit: true,
    batchSize: r.batch,
    seqLen: r.seq,
    gradCheckpointing: r.gradCheckpointing,
    checkpointDtype: source.dtype,
    optimizer: r.optimizer,
    gradDtype: r.gradDtype,
  });
  const trainable = model.parameters().filter(isTrainable);
  const opt = makeOptimizer(
    r.optimizer ?? { kind: 'adamw' },
    trainable.map((p) => ({ name: p.name, param: p.data, grad: gradOf(p), weightDecay: p.shape.length < 2 ? 0 : undefined })),
    {
      lr: 1e-5,
      betas: [0.9, 0.999],
      weightDecay: 0,
      update: model.nn?.adamwUpdate,
      blockUpdate: model.nn?.adamwBlockUpdate,
    },
  );
  const rng = new Rng(r.seed);
  const times: number[] = [];
  let loss = NaN;
  for (let s = 0; s < r.warmup + r.steps; s++) {
    const batch = syntheticBatch(r, rng);
    const ts = performance.now();
    opt.zeroGrad();
    const res = model.forwardBackward(batch, 1 / batch.lossTokens);
    clipGradNorm(trainable.map(gradOf), 1);
    opt.step(1e-5);
    model.weightsChanged();
    if (s === 0) loss = res.lossSum / res.tokens;
    if (s >= r.warmup) times.push((performance.now() - ts) / 1000);
    process.stderr.write(
      `bench model: step ${s + 1}/${r.warmup + r.steps}${s < r.warmup ? ' (warm-up)' : ''} ${((performance.now() - ts) / 1000).toFixed(2)} s, peak RSS ${rssMiB().toFixed(0)} MiB\n`,
    );
  }
  times.sort((a, b) => a - b);
  const stepSeconds = times[Math.floor(times.length / 2)]!;
  const tokens = r.batch * r.seq;
  return {
    model: r.model,
    mode: r.mode,
    tokens,
    loadSeconds,
    stepSeconds,
    tokensPerSecond: tokens / stepSeconds,
    peakRssMiB: rssMiB(),
    loadedRssMiB,
    planMiB: plan.totalBytes / MiB,
    plan,
    loss,
    trainableParameters: trainable.reduce((a, p) => a + p.data.length, 0),
    optimizerStateBytes: opt.stateBytes(),
    adamwStateBytes: optimizerStateBytes(
      { kind: 'adamw' },
      trainable.map((p) => p.data.length),
    ),
  };
}

const REQUEST_ENV = 'HALO_BENCH_MODEL_REQUEST';

/** Runs the step in a fresh Node process, so its peak RSS is its own. */
export function runModelStepInChild(r: ModelStepRequest): Promise<ModelStepResult> {
  const self = pathToFileURL(fileURLToPath(import.meta.url)).href;
  const code = `const m = await import(${JSON.stringify(self)}); m.modelStepChildMain();`;
  // tsx only for the TypeScript sources: the built package (dist/*.js) runs on plain Node, without tsx.
  return runJsonChild<ModelStepResult>(
    process.execPath,
    [...(self.endsWith('.ts') ? ['--import', 'tsx'] : []), '--input-type=module', '-e', code],
    { ...process.env, [REQUEST_ENV]: JSON.stringify(r) },
    'bench model: the child process',
  );
}

export function modelStepChildMain(): void {
  const req = JSON.parse(process.env[REQUEST_ENV] ?? 'null') as ModelStepRequest | null;
  if (!req) throw new Error(`${REQUEST_ENV} is not set`);
  process.stdout.write(JSON.stringify(runModelStep(req)) + '\n');
}
