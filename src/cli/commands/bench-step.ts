// `halo bench step`: one full training step — forward + backward of a Llama model (src/models/llama.ts) on a
// synthetic batch, then an AdamW update of every parameter — in FP32, BF16 and HALO-0/1/2 INT8 / HALO-2 FP8,
// reporting tokens/s, peak RSS and the bytes the HALO linears save for backward next to what the FP32 path
// saves. Each configuration runs in its own child process, so its peak RSS is its own (a process's maxRSS
// only grows) and no configuration inherits another's heap or oneDNN primitive cache.
//
// The AdamW update is src/optim/adamw.ts's `adamwUpdate` (torch.optim.AdamW semantics) through
// nnKernels(backend): the native kernel when the addon has it. Tokens/s counts every position of the batch
// (B·T), as PyTorch benchmarks do (bench/torch_step.py counts the same way).
import { runJsonChild } from '../../bench/json-child.ts';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Backend, FloatTensor } from '../../backend/backend.ts';
import { addon } from '../../backend/native/index.ts';
import { nnKernels } from '../../backend/nn-kernels.ts';
import { backendNames, getBackend, type BackendName } from '../../backend/select.ts';
import type { FloatArray } from '../../core/dtype.ts';
import { HaloError } from '../../core/errors.ts';
import { Rng } from '../../core/rng.ts';
import { Tensor } from '../../core/tensor.ts';
import { collate, type Batch } from '../../data/batch.ts';
import type { Example } from '../../data/encode.ts';
import { describeConfig, haloConfig, type Format, type Level } from '../../halo/config.ts';
import { linearForward, prepareInput, savedActivationBytes, type LinearSaved } from '../../halo/linear.ts';
import { parseModelConfig, type ModelConfig } from '../../io/hf-config.ts';
import { initLlamaWeights } from '../../models/init.ts';
import { LlamaModel } from '../../models/llama.ts';
import { getPreset, PRESET_NAMES } from '../../models/presets.ts';
import type { Command } from '../command.ts';
import { formatTable } from '../table.ts';
import { profiledBackend, type OpProfile } from '../../bench/profile.ts';
import { gemmFloorMs, standaloneGemmRates } from '../../bench/gemm-floor.ts';

/** The configurations, by CLI name. */
export const STEP_CONFIGS: { readonly [name: string]: { level: Level; format: Format; lmHead?: 'f32' | 'bf16' } } = {
  fp32: { level: 'none', format: 'fp32' },
  bf16: { level: 'none', format: 'bf16' },
  'halo0-int8': { level: 'halo0', format: 'int8' },
  'halo1-int8': { level: 'halo1', format: 'int8' },
  'halo2-int8': { level: 'halo2', format: 'int8' },
  'halo2-fp8': { level: 'halo2', format: 'fp8' },
  // Low-precision configs run lm_head in bf16 by default (HALO's BF16 reference code, PyTorch bf16 autocast);
  // these keep it in f32, as halo did before (not run by default).
  'bf16-head-f32': { level: 'none', format: 'bf16', lmHead: 'f32' },
  'halo2-int8-head-f32': { level: 'halo2', format: 'int8', lmHead: 'f32' },
};

const DEFAULT_STEP_CONFIGS = ['fp32', 'bf16', 'halo0-int8', 'halo1-int8', 'halo2-int8', 'halo2-fp8'];

export interface StepShape {
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  seq: number;
  batch: number;
  vocab: number;
}

/** The issue's default: 4 blocks of a ~1B-style layer, 2048 tokens per step. */
export const DEFAULT_STEP_SHAPE: StepShape = { layers: 4, hidden: 1024, intermediate: 2816, heads: 16, kvHeads: 4, seq: 512, batch: 4, vocab: 32000 };
/** --quick: the same architecture, small enough for a smoke test in seconds. */
export const QUICK_STEP_SHAPE: StepShape = { layers: 2, hidden: 256, intermediate: 704, heads: 4, kvHeads: 2, seq: 128, batch: 2, vocab: 2048 };

export interface StepBenchOptions {
  steps: number; // timed steps (the median is reported)
  warmup: number; // untimed steps first (primitive creation, page faults)
  seed: number;
  threads?: number;
  backend?: BackendName;
  profile?: boolean; // time every backend call (profiledBackend)
}

export interface StepBenchRow {
  config: string;
  label: string; // e.g. 'HALO2 INT8'
  tokens: number; // B·T per step
  stepMs: number; // median of the timed steps
  minStepMs: number;
  fwdBwdMs: number; // median forward + backward
  optimMs: number; // median AdamW update (+ zeroing the gradients)
  tokensPerSec: number; // tokens / median step
  peakRssMiB: number; // the process's peak resident set (this configuration alone when run as a child)
  savedLinearBytes: number; // activations the 7 linears of every layer save for backward
  fp32LinearBytes: number; // the same in the FP32 path (f32 inputs)
  savedVsFp32: number;
  loss: number; // mean loss of the first step (≈ ln V for fresh weights)
  backend: string;
  nnKernels: string; // which element-wise kernels ran (AdamW here; the model's own ops are its choice)
  threads: number | null; // OpenMP threads of the native backend, null on the reference backend
  profile?: OpProfile[]; // with --profile: backend time per op kind, per timed step
  gemmRates?: Record<string, number>; // with --profile: standalone TOPS of a 2048³ GEMM per operand type
  gemmFloorMs?: number; // with --profile: the step's GEMMs at those rates (src/bench/gemm-floor.ts)
}

export function modelConfigFor(s: StepShape): ModelConfig {
  return parseModelConfig(
    {
      architectures: ['LlamaForCausalLM'],
      vocab_size: s.vocab,
      hidden_size: s.hidden,
      intermediate_size: s.intermediate,
      num_hidden_layers: s.layers,
      num_attention_heads: s.heads,
      num_key_value_heads: s.kvHeads,
      max_position_embeddings: Math.max(2048, s.seq),
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
    },
    'bench step shape',
  );
}

/** B sequences of T random tokens, every position a training target (after the shift). */
export function syntheticBatch(s: StepShape, seed: number): Batch {
  const rng = new Rng(seed);
  const examples: Example[] = Array.from({ length: s.batch }, () => {
    const ids = Int32Array.from({ length: s.seq }, () => rng.int(s.vocab));
    return { ids, labels: ids.slice(), truncated: false };
  });
  return collate(examples, { padId: 0 });
}

/**
 * Bytes the HALO linears of the whole model save for backward: layer 0's seven linears run once on inputs
 * of the real shapes (q/k/v and gate/up share one prepared input, as in the model, so it counts once), times
 * the layer count. fp32 is what the FP32 path saves: the f32 inputs themselves.
 */
function savedLinearBytes(be: Backend, model: LlamaModel, s: StepShape, seed: number): { saved: number; fp32: number } {
  const N = s.batch * s.seq;
  const { C, I, Hq, D } = model.dims;
  const rng = new Rng(seed);
  const input = (cols: number) => new Tensor([N, cols], 'f32', rng.fillNormal(new Float32Array(N * cols))) as FloatTensor;
  const n = model.names[0]!;
  const saved: LinearSaved[] = [];
  const h = prepareInput(be, model.halo, input(C), model.weight(n.q));
  for (const w of [n.q, n.k, n.v]) saved.push(linearForward(be, model.halo, h, model.weight(w)).saved);
  saved.push(linearForward(be, model.halo, input(Hq * D), model.weight(n.o)).saved);
  const h2 = prepareInput(be, model.halo, input(C), model.weight(n.gate));
  for (const w of [n.gate, n.up]) saved.push(linearForward(be, model.halo, h2, model.weight(w)).saved);
  saved.push(linearForward(be, model.halo, input(I), model.weight(n.down)).saved);
  const unique = new Map(saved.map((sv) => [sv.x, sv]));
  let bytes = 0;
  for (const sv of unique.values()) bytes += savedActivationBytes(sv);
  const fp32 = 4 * N * (C + Hq * D + C + I);
  return { saved: bytes * s.layers, fp32: fp32 * s.layers };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** Runs one configuration in this process. */
export function runStepConfig(shape: StepShape, name: string, o: StepBenchOptions): StepBenchRow {
  const spec = STEP_CONFIGS[name];
  if (!spec) throw new HaloError('E_ARG', `unknown step configuration '${name}'; use one of ${Object.keys(STEP_CONFIGS).join(', ')}`);
  const base = getBackend(o.backend);
  const prof = o.profile ? profiledBackend(base) : null;
  const be = prof ? prof.backend : base;
  let threads: number | null = null;
  if (be.name === 'native') {
    if (o.threads !== undefined) addon().setThreads(o.threads);
    threads = addon().getThreads();
  }
  const halo = haloConfig(spec);
  const config = modelConfigFor(shape);
  const model = new LlamaModel(config, initLlamaWeights(config, o.seed), { halo, backend: be });
  const batch = syntheticBatch(shape, o.seed + 1);
  const kernels = prof ? prof.kernels(nnKernels(be)) : nnKernels(be);
  if (prof) model.nn = kernels;
  const params = model.parameters().filter((p) => p.grad !== null);
  const moments = params.map((p) => ({ m: new Float32Array(p.data.length) as FloatArray, v: new Float32Array(p.data.length) as FloatArray }));
  const hyper = { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 };
  let t = 0;
  let firstLoss = NaN;
  const fwdBwd: number[] = [],
    optim: number[] = [],
    total: number[] = [];
  for (let i = 0; i < o.warmup + o.steps; i++) {
    const t0 = performance.now();
    const r = model.forwardBackward(batch, 1 / batch.lossTokens);
    const t1 = performance.now();
    t++;
    for (let k = 0; k < params.length; k++) kernels.adamwUpdate(params[k]!.data, params[k]!.grad!, moments[k]!.m, moments[k]!.v, t, hyper);
    for (const p of params) p.grad!.fill(0);
    model.weightsChanged();
    const t2 = performance.now();
    if (i === 0) firstLoss = r.lossSum / r.tokens;
    if (i + 1 === o.warmup) prof?.take(1); // drop the warm-up's calls
    if (i >= o.warmup) {
      fwdBwd.push(t1 - t0);
      optim.push(t2 - t1);
      total.push(t2 - t0);
    }
  }
  const profile = prof?.take(o.steps);
  const gemmRates = profile ? standaloneGemmRates(base, [...new Set(profile.filter((p) => p.op.startsWith('gemm ')).map((p) => p.op.slice(5)))]) : undefined;
  const tokens = batch.B * batch.T;
  const stepMs = median(total);
  const peakRssMiB = process.resourceUsage().maxRSS / 1024; // before the saved-bytes probe allocates its inputs
  const bytes = savedLinearBytes(be, model, shape, o.seed + 2);
  return {
    config: name,
    label: describeConfig(halo),
    tokens,
    stepMs,
    minStepMs: Math.min(...total),
    fwdBwdMs: median(fwdBwd),
    optimMs: median(optim),
    tokensPerSec: tokens / (stepMs / 1000),
    peakRssMiB,
    savedLinearBytes: bytes.saved,
    fp32LinearBytes: bytes.fp32,
    savedVsFp32: bytes.saved / bytes.fp32,
    loss: firstLoss,
    backend: be.name,
    nnKernels: kernels.name,
    threads,
    ...(profile ? { profile, gemmRates, gemmFloorMs: gemmFloorMs(profile, gemmRates!) } : {}),
  };
}

interface ChildRequest {
  shape: StepShape;
  name: string;
  opts: StepBenchOptions;
}

const REQUEST_ENV = 'HALO_BENCH_STEP_REQUEST';

/** Runs one configuration in a fresh Node process (same loader flags) and returns its row. */
export function runStepConfigInChild(shape: StepShape, name: string, opts: StepBenchOptions): Promise<StepBenchRow> {
  const self = pathToFileURL(fileURLToPath(import.meta.url)).href;
  const code = `const m = await import(${JSON.stringify(self)}); await m.stepChildMain();`;
  const request: ChildRequest = { shape, name, opts };
  // tsx only for the TypeScript sources: the built package (dist/*.js) runs on plain Node, without tsx.
  return runJsonChild<StepBenchRow>(
    process.execPath,
    [...(self.endsWith('.ts') ? ['--import', 'tsx'] : []), '--input-type=module', '-e', code],
    { ...process.env, [REQUEST_ENV]: JSON.stringify(request) },
    `bench step: the child process for '${name}'`,
  );
}

/** Entry point of a child process started by runStepConfigInChild. */
export async function stepChildMain(): Promise<void> {
  const req = JSON.parse(process.env[REQUEST_ENV] ?? 'null') as ChildRequest | null;
  if (!req) throw new Error(`${REQUEST_ENV} is not set`);
  process.stdout.write(JSON.stringify(runStepConfig(req.shape, req.name, req.opts)) + '\n');
}

/** Every requested configuration, each in its own process unless inProcess. */
export async function runStepBench(
  shape: StepShape,
  names: readonly string[],
  opts: StepBenchOptions & { inProcess?: boolean },
  onRow?: (r: StepBenchRow) => void,
): Promise<StepBenchRow[]> {
  const rows: StepBenchRow[] = [];
  for (const name of names) {
    const row = opts.inProcess ? runStepConfig(shape, name, opts) : await runStepConfigInChild(shape, name, opts);
    rows.push(row);
    onRow?.(row);
  }
  return rows;
}

const SHAPE_FLAGS: readonly [keyof StepShape, string, string][] = [
  ['layers', 'layers', 'decoder blocks'],
  ['hidden', 'hidden', 'hidden size'],
  ['intermediate', 'intermediate', 'MLP intermediate size'],
  ['heads', 'heads', 'attention heads'],
  ['kvHeads', 'kv-heads', 'key/value heads'],
  ['seq', 'seq', 'sequence length'],
  ['batch', 'batch', 'sequences per step'],
  ['vocab', 'vocab', 'vocabulary size'],
];

/** A real architecture's dimensions (src/models/presets.ts) at batch 1 × seq 512, the real-size issue's shape. */
export function presetStepShape(name: string): StepShape {
  const c = getPreset(name).config as Record<string, number>;
  return {
    layers: c.num_hidden_layers!,
    hidden: c.hidden_size!,
    intermediate: c.intermediate_size!,
    heads: c.num_attention_heads!,
    kvHeads: c.num_key_value_heads!,
    vocab: c.vocab_size!,
    batch: 1,
    seq: 512,
  };
}

export function stepShapeFromOptions(options: Record<string, unknown>): StepShape {
  const base = typeof options.preset === 'string' ? presetStepShape(options.preset) : options.quick === true ? QUICK_STEP_SHAPE : DEFAULT_STEP_SHAPE;
  const shape = { ...base };
  for (const [key, flag] of SHAPE_FLAGS) {
    const v = options[flag];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || (v as number) < 1) throw new HaloError('E_ARG', `--${flag} must be a positive integer, got ${String(v)}`);
    shape[key] = v as number;
  }
  if (shape.hidden % shape.heads !== 0) throw new HaloError('E_ARG', `--heads ${shape.heads} must divide --hidden ${shape.hidden}`);
  if (shape.heads % shape.kvHeads !== 0) throw new HaloError('E_ARG', `--kv-heads ${shape.kvHeads} must divide --heads ${shape.heads}`);
  return shape;
}

export function parseStepConfigs(value: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!Object.hasOwn(STEP_CONFIGS, n)) throw new HaloError('E_ARG', `unknown configuration '${n}'; use ${Object.keys(STEP_CONFIGS).join(', ')}`);
  }
  if (names.length === 0) throw new HaloError('E_ARG', '--configs is empty');
  return names;
}

export function describeShape(s: StepShape): string {
  return (
    `${s.layers} blocks, hidden ${s.hidden}, intermediate ${s.intermediate}, ${s.heads}/${s.kvHeads} heads, ` +
    `vocab ${s.vocab}, batch ${s.batch} × seq ${s.seq} = ${s.batch * s.seq} tokens`
  );
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

export function renderStepTable(rows: readonly StepBenchRow[]): string {
  return formatTable(
    ['config', 'step ms', 'tokens/s', 'fwd+bwd ms', 'AdamW ms', 'peak RSS MiB', 'saved act MiB', '× FP32', 'loss'],
    rows.map((r) => [
      r.label,
      r.stepMs.toFixed(0),
      r.tokensPerSec.toFixed(0),
      r.fwdBwdMs.toFixed(0),
      r.optimMs.toFixed(0),
      r.peakRssMiB.toFixed(0),
      mib(r.savedLinearBytes),
      r.savedVsFp32.toFixed(3),
      r.loss.toFixed(3),
    ]),
  );
}

/**
 * Per configuration: where a step's time goes (--profile). "nn kernels" is the model's element-wise ops,
 * attention, cross-entropy and AdamW (renderKernelTable splits it); "other" is everything outside both.
 */
export function renderProfileTable(rows: readonly StepBenchRow[]): string {
  const ms = (r: StepBenchRow, f: (p: OpProfile) => boolean) => (r.profile ?? []).filter(f).reduce((a, p) => a + p.msPerStep, 0);
  const gemms = (r: StepBenchRow) => (r.profile ?? []).filter((p) => p.op.startsWith('gemm '));
  return formatTable(
    [
      'config',
      'step ms',
      'GEMM ms',
      'GEMM TOPS by type (standalone)',
      'GEMM floor ms',
      'step ÷ floor',
      'rotate+quantize ms',
      'bf16 cast ms',
      'rotate ms',
      'transpose ms',
      'nn kernels ms',
      'other ms',
    ],
    rows.map((r) => {
      const g = ms(r, (p) => p.op.startsWith('gemm '));
      const rq = ms(r, (p) => p.op === 'rotateQuantize' || p.op === 'dequantize');
      const cast = ms(r, (p) => p.op === 'cast bf16');
      const rot = ms(r, (p) => p.op === 'rotate');
      const tr = ms(r, (p) => p.op === 'transpose');
      const nn = ms(r, (p) => p.op.startsWith('nn '));
      // "other" uses the mean step (the profile is a mean), not the median
      const mean = (r.profile ?? []).reduce((a, p) => a + p.msPerStep, 0);
      return [
        r.label,
        r.stepMs.toFixed(0),
        `${g.toFixed(0)} (${((100 * g) / r.stepMs).toFixed(0)}%)`,
        gemms(r)
          .map((p) => `${p.op.slice(5)} ${p.tops!.toFixed(2)} (${r.gemmRates?.[p.op.slice(5)]?.toFixed(2) ?? '?'})`)
          .join(', '),
        r.gemmFloorMs?.toFixed(0) ?? '-',
        r.gemmFloorMs ? `${(r.stepMs / r.gemmFloorMs).toFixed(2)}×` : '-',
        rq.toFixed(0),
        cast.toFixed(0),
        rot.toFixed(0),
        tr.toFixed(0),
        nn.toFixed(0),
        Math.max(0, r.stepMs - mean).toFixed(0),
      ];
    }),
  );
}

/** Per configuration: the model's nn kernels (element-wise ops, attention, cross-entropy, AdamW), ms per step. */
export function renderKernelTable(rows: readonly StepBenchRow[]): string {
  const ops = [...new Set(rows.flatMap((r) => (r.profile ?? []).filter((p) => p.op.startsWith('nn ')).map((p) => p.op)))];
  const ms = (r: StepBenchRow, op: string) => (r.profile ?? []).find((p) => p.op === op)?.msPerStep ?? 0;
  ops.sort((a, b) => rows.reduce((t, r) => t + ms(r, b) - ms(r, a), 0));
  return formatTable(
    ['config', ...ops.map((o) => o.slice(3))],
    rows.map((r) => [r.label, ...ops.map((o) => ms(r, o).toFixed(1))]),
  );
}

export const STEP_OPTIONS = [
  ...SHAPE_FLAGS.map(([key, flag, help]) => ({ name: flag, type: 'int' as const, help: `${help} (default ${DEFAULT_STEP_SHAPE[key]})` })),
  { name: 'quick', type: 'boolean' as const, help: `small shape (${describeShape(QUICK_STEP_SHAPE)}); the flags above still override` },
  {
    name: 'preset',
    type: 'string' as const,
    help: "a real model's dimensions at batch 1 × seq 512 (halo init's presets); the flags above still override",
    choices: PRESET_NAMES,
  },
  { name: 'steps', type: 'int' as const, help: 'timed steps per configuration (the median is reported)', default: 3 },
  { name: 'warmup', type: 'int' as const, help: 'untimed steps first', default: 1 },
  { name: 'threads', type: 'int' as const, help: 'OpenMP threads of the native backend (default: all cores)' },
  { name: 'seed', type: 'int' as const, help: 'weights and batch seed', default: 0 },
  { name: 'backend', type: 'string' as const, help: 'kernel backend', choices: backendNames() },
];

export const benchStepCommand: Command = {
  name: 'bench step',
  summary: 'one Llama training step (fwd+bwd+AdamW) in FP32, BF16 and HALO INT8/FP8: tokens/s, peak RSS, saved activations',
  usage: 'halo bench step [--quick] [--layers N] [--hidden N] … [--configs fp32,bf16,…] [--json]',
  options: [
    ...STEP_OPTIONS,
    {
      name: 'configs',
      type: 'string',
      help: `comma-separated configurations, of ${Object.keys(STEP_CONFIGS).join(', ')}`,
      default: DEFAULT_STEP_CONFIGS.join(','),
    },
    { name: 'in-process', type: 'boolean', help: 'run every configuration in this process (peak RSS is then cumulative)' },
    {
      name: 'profile',
      type: 'boolean',
      help: "also time every backend call (GEMM and its TOPS, rotate/quantize, transpose, the rest) and the step's GEMM floor: its GEMMs at the standalone rate of their type, measured in the same run",
    },
    { name: 'json', type: 'boolean', help: 'print one JSON object instead of a table' },
  ],
  async run({ options }) {
    const shape = stepShapeFromOptions(options);
    const names = parseStepConfigs(options.configs as string);
    const opts = stepOptions(options);
    const json = options.json === true;
    if (!json) process.stdout.write(`Llama step: ${describeShape(shape)}; median of ${opts.steps} step(s) after ${opts.warmup} warm-up\n`);
    const rows = await runStepBench(
      shape,
      names,
      { ...opts, inProcess: options['in-process'] === true },
      json ? undefined : (r) => process.stderr.write(`  done ${r.config}: ${r.tokensPerSec.toFixed(0)} tokens/s\n`),
    );
    if (json) {
      process.stdout.write(JSON.stringify({ shape, rows }) + '\n');
    } else {
      const r0 = rows[0]!;
      process.stdout.write(
        `backend ${r0.backend}${r0.threads !== null ? `, ${r0.threads} thread(s)` : ''}, AdamW kernels ${r0.nnKernels}; ` +
          `saved act = what the 7 linears of all layers keep for backward\n${renderStepTable(rows)}\n`,
      );
      if (opts.profile) {
        process.stdout.write(`\nwhere a step goes (ms per step; nn kernels = element-wise ops, attention, cross-entropy, AdamW; other = the rest)\n`);
        process.stdout.write(`${renderProfileTable(rows)}\n\nnn kernels (ms per step)\n${renderKernelTable(rows)}\n`);
      }
    }
    return 0;
  },
};

export function stepOptions(options: Record<string, unknown>): StepBenchOptions {
  const steps = options.steps as number,
    warmup = options.warmup as number;
  if (!(steps >= 1) || !(warmup >= 0)) throw new HaloError('E_ARG', '--steps must be ≥ 1 and --warmup ≥ 0');
  const threads = options.threads as number | undefined;
  if (threads !== undefined && threads < 1) throw new HaloError('E_ARG', `--threads must be ≥ 1, got ${threads}`);
  return { steps, warmup, seed: options.seed as number, threads, backend: options.backend as BackendName | undefined, profile: options.profile === true };
}
