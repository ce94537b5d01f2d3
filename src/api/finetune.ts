// finetune(): what `halo finetune` does, as a function with defaults — check the memory plan, lock and claim the
// output folder (run.json), read and encode the data, load the model (full, PEFT adapters on a frozen base, or
// one FSDP rank), train, and save an HF folder (or an HF PEFT adapter folder) that transformers loads. Progress
// comes as onProgress events; an AbortSignal stops the run between optimizer steps. The CLI command
// (src/cli/commands/finetune.ts) is a thin wrapper that maps its flags onto these options.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import { readDataSpecs, splitSpec } from '../data/data-specs.ts';
import { describeExample } from '../data/debug.ts';
import { encodeRecords, type Example } from '../data/encode.ts';
import { DEFAULT_MAX_LINE_BYTES } from '../data/jsonl.ts';
import type { FsdpMode } from '../dist/fsdp.ts';
import { worldCommunicator } from '../dist/index.ts';
import { loadFsdpLlama } from '../dist/load-fsdp.ts';
import { describeConfig, haloConfigFileText, headPrecisionOf, operandFormat } from '../halo/config.ts';
import { QuantStats } from '../halo/quant-stats.ts';
import { readModelConfig } from '../io/hf-config.ts';
import { saveModelFolder, scanModelFolder } from '../io/hf-folder.ts';
import { checkOutDir, makeOutDir } from '../io/out-dir.ts';
import { lockOutDir } from '../io/out-lock.ts';
import type { CausalLM } from '../models/causal-lm.ts';
import { loadLlama } from '../models/load.ts';
import type { GradDtype } from '../optim/bf16-grad.ts';
import { describeOptimizer, type OptimizerChoice, type OptimizerKind } from '../optim/optimizer.ts';
import type { ScheduleKind } from '../optim/schedule.ts';
import { describeParamCounts, HALO_PEFT_DEFAULTS, type PeftMethod, type PeftOptions } from '../peft/build.ts';
import { savePeft } from '../peft/io.ts';
import { loadPeftLlama } from '../peft/load.ts';
import { parseTargetModules } from '../peft/names.ts';
import type { PeftModel } from '../peft/peft-model.ts';
import { loadTokenizer } from '../tokenizer/hf.ts';
import { checkPlanFits, describePlan, memoryPlan } from '../train/memory-plan.ts';
import { dataFingerprint, modelFingerprint, prepareRunFolder, startRun, type RunSettings } from '../train/run-folder.ts';
import { trainOptions } from '../train/train-options.ts';
import { train, type StepRecord } from '../train/trainer.ts';
import { haloFromSettings, type HaloSettings } from './halo-settings.ts';

export interface FinetunePeft {
  method: PeftMethod;
  /** Adapter rank r (default 16). */
  rank?: number;
  /** Scale numerator: scale = alpha / r (default 8). */
  alpha?: number;
  /** LoRA input dropout (default 0.05; HUT has none). */
  dropout?: number;
  /** Projections to adapt: 'all-linear' (default) or some of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj. */
  targetModules?: string | readonly string[];
  /** Scale alpha/sqrt(r) instead of alpha/r. */
  rslora?: boolean;
  /** LoRA with a quantized format: keep the frozen base as rotated 8-bit codes only (default true there). */
  base8bit?: boolean;
}

/** One optimizer step, as onProgress receives it. */
export type ProgressEvent = StepRecord;

export interface FinetuneOptions extends HaloSettings {
  /** Hugging Face model folder (config.json, *.safetensors, tokenizer.json). */
  model: string;
  /** Training JSONL: 'FILE', 'FILE:FROM:TO' (rows FROM..TO-1), or several (array or comma-separated). */
  data: string | readonly string[];
  /** Evaluation JSONL (same forms), for the eval loss. */
  evalData?: string | readonly string[];
  /** Output folder: the saved model (or adapter), checkpoints/, metrics.jsonl, run.json. */
  out: string;
  /** Train adapters on a frozen base instead of every weight. */
  peft?: FinetunePeft;
  /** Shard over mpirun ranks (src/dist/fsdp.ts): 'fp32' / 'bf16' weight gathers, or 'hq' (HQ-FSDP). */
  fsdp?: FsdpMode;
  /** Passes over the data (default 1); maxSteps overrides it. */
  epochs?: number;
  maxSteps?: number;
  /** Peak learning rate (default 5e-5; 3e-4 with peft). */
  lr?: number;
  schedule?: ScheduleKind;
  warmupSteps?: number;
  weightDecay?: number;
  adamBeta2?: number;
  /** 'adamw' (default), 'adamw8bit', 'adamw-fp8', or { kind, block }. */
  optimizer?: OptimizerKind | OptimizerChoice;
  batchSize?: number;
  gradAccum?: number;
  /** Truncate examples to this many tokens (default 512). */
  maxSeqLen?: number;
  /** Clip the global gradient norm (default 1; 0 = off). */
  maxGradNorm?: number;
  seed?: number;
  /** Evaluate every N steps (default 0: at the end only). */
  evalEvery?: number;
  /** Checkpoint every N steps and after the last (default 50; 0 = none). */
  saveEvery?: number;
  /** Checkpoints kept, newest first (default 2). */
  saveTotalLimit?: number;
  gradCheckpointing?: boolean;
  /** 'f32' (default) or 'bf16': full fine-tuning keeps the 2-D weights' gradients as bf16 (not with fsdp or peft). */
  gradDtype?: GradDtype;
  /** Continue the run in `out` from its newest complete checkpoint. */
  resume?: boolean;
  /** Replace a previous run in `out`. */
  overwrite?: boolean;
  allowNonfinite?: boolean;
  /** Stop after this many non-finite steps in a row (default 10). */
  maxBadSteps?: number;
  /** Log per-layer saturation counts in metrics.jsonl (default true; full fine-tuning only). */
  quantStats?: boolean;
  /** Also put loss on prompt/user tokens. */
  trainOnPrompt?: boolean;
  skipBadLines?: boolean;
  maxLineBytes?: number;
  /** Start even when the memory plan says the run does not fit. */
  force?: boolean;
  /** Encode the data and return its first example, described (debugExample), without training. */
  debugData?: boolean;
  /** With debugData: ANSI colours in the description. */
  debugColor?: boolean;
  /** Called after every optimizer step. */
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Stops the run between optimizer steps (the loop is synchronous: an abort during a step takes effect when it
   * ends; abort from onProgress or another thread's message, a timer cannot fire mid-run). The promise then
   * rejects with the signal's reason; checkpoints already written stay, and `resume: true` continues from them.
   */
  signal?: AbortSignal;
  /** Where the run's notes go (memory plan, data and model summary): default stderr. */
  log?: (line: string) => void;
  /** No notes and no progress bar. */
  quiet?: boolean;
  /** Stored in OUT/run_config.json (default: these options). */
  runConfig?: Record<string, unknown>;
}

export interface FinetuneResult {
  /** The output folder. */
  out: string;
  steps: number;
  /** Tokens trained on in this call. */
  tokens: number;
  seconds: number;
  trainSeconds: number;
  tokensPerSecond: number;
  finalTrainLoss: number;
  /** The train loss of every step this call ran. */
  losses: { step: number; loss: number }[];
  evalLosses: { step: number; loss: number }[];
  skippedSteps: number;
  resumedFrom: string | null;
  /** False on the ranks after the first of an FSDP job (they write no files). */
  lead: boolean;
  /** With debugData: the first encoded example, described (nothing was trained). */
  debugExample?: string;
}

/** Fine-tunes `model` on `data` and saves the result in `out`. */
export async function finetune(opts: FinetuneOptions): Promise<FinetuneResult> {
  opts.signal?.throwIfAborted();
  const r = resolve(opts);
  const lead = !r.fsdp || worldCommunicator().rank === 0;
  const log = opts.quiet ? () => {} : (opts.log ?? ((line: string) => process.stderr.write(line + '\n')));
  if (!opts.debugData) checkOutDir(opts.out, [{ flag: '--model', dir: opts.model }]);
  // Every rank runs this under mpirun; the first locks `out` and writes the files.
  const lock = opts.debugData || !lead ? null : lockOutDir(opts.out, 'finetune', log);
  try {
    return await run(opts, r, lead, log);
  } finally {
    lock?.release();
  }
}

type Resolved = ReturnType<typeof resolve>;

/** The options with their defaults, checked before anything is read or written. */
function resolve(o: FinetuneOptions) {
  const halo = haloFromSettings(o);
  const peft = peftFrom(o);
  const fsdp = o.fsdp ?? null;
  if (fsdp && peft) throw new HaloError('E_UNSUPPORTED', 'fsdp with peft is not supported: adapters are small, train them in one process');
  const optimizer: OptimizerChoice = typeof o.optimizer === 'string' ? { kind: o.optimizer } : (o.optimizer ?? { kind: 'adamw' });
  if (o.gradDtype === 'bf16' && (fsdp || peft))
    throw new HaloError(
      'E_UNSUPPORTED',
      `gradDtype bf16 applies to full fine-tuning without fsdp; ${fsdp ? 'fsdp shards f32 gradients' : 'peft trains small f32 adapters'}, use gradDtype f32`,
    );
  if (o.resume && o.overwrite) throw new HaloError('E_ARG', 'resume and overwrite exclude each other: continue the run in out, or replace it');
  const data = specList(o.data, 'data');
  const evalData = o.evalData === undefined ? null : specList(o.evalData, 'evalData');
  const t = {
    epochs: o.epochs ?? 1,
    maxSteps: o.maxSteps,
    lr: o.lr ?? (peft ? 3e-4 : 5e-5),
    schedule: o.schedule ?? 'linear',
    warmupSteps: o.warmupSteps ?? 20,
    weightDecay: o.weightDecay ?? 0,
    adamBeta2: o.adamBeta2 ?? 0.999,
    batchSize: o.batchSize ?? 4,
    gradAccum: o.gradAccum ?? 1,
    maxSeqLen: o.maxSeqLen ?? 512,
    maxGradNorm: o.maxGradNorm ?? 1,
    seed: o.seed ?? 42,
    evalEvery: o.evalEvery ?? 0,
    saveEvery: o.saveEvery ?? 50,
    saveTotalLimit: o.saveTotalLimit ?? 2,
    maxBadSteps: o.maxBadSteps ?? 10,
  };
  for (const k of ['maxSteps', 'batchSize', 'gradAccum', 'saveTotalLimit', 'maxBadSteps'] as const) {
    const v = t[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new HaloError('E_ARG', `${k} must be an integer ≥ 1, got ${v}`);
  }
  if (!(Number.isInteger(t.maxSeqLen) && t.maxSeqLen >= 2))
    throw new HaloError('E_ARG', `maxSeqLen must be an integer ≥ 2 (a token and the one it predicts), got ${t.maxSeqLen}`);
  if (!(t.epochs > 0)) throw new HaloError('E_ARG', `epochs must be above 0, got ${t.epochs}`);
  if (!(t.lr >= 0)) throw new HaloError('E_ARG', `lr must be ≥ 0, got ${t.lr}`);
  return { halo, peft, fsdp, optimizer, data, evalData, ...t };
}

function specList(v: string | readonly string[], what: string): string {
  const s = typeof v === 'string' ? v : v.join(',');
  if (s.split(',').every((p) => p.trim() === '')) throw new HaloError('E_ARG', `${what} names no file; give a JSONL file (FILE or FILE:FROM:TO)`);
  return s;
}

function peftFrom(o: FinetuneOptions): (PeftOptions & { base8bit?: boolean }) | null {
  const p = o.peft;
  if (!p) return null;
  if (p.method !== 'lora' && p.method !== 'hut') throw new HaloError('E_ARG', `peft.method must be 'lora' or 'hut', got '${p.method}'`);
  const rank = p.rank ?? HALO_PEFT_DEFAULTS.rank;
  if (!(Number.isInteger(rank) && rank >= 1)) throw new HaloError('E_ARG', `peft.rank must be an integer ≥ 1, got ${rank}`);
  if (p.method === 'hut' && p.dropout !== undefined && p.dropout !== 0)
    throw new HaloError('E_ARG', "peft.dropout applies to LoRA's input only; HUT transforms the weight and has no dropout");
  const dropout = p.method === 'hut' ? 0 : (p.dropout ?? HALO_PEFT_DEFAULTS.dropout);
  if (!(dropout >= 0 && dropout < 1)) throw new HaloError('E_ARG', `peft.dropout must be in [0, 1), got ${dropout}`);
  if (p.base8bit && p.method !== 'lora') throw new HaloError('E_ARG', "peft.base8bit needs method lora: HUT rebuilds W' from the f32 base every step");
  return {
    method: p.method,
    rank,
    alpha: p.alpha ?? HALO_PEFT_DEFAULTS.alpha,
    dropout,
    targetModules: parseTargetModules(p.targetModules),
    rslora: p.rslora === true,
    seed: o.seed ?? 42,
    base8bit: p.base8bit,
  };
}

/** What identifies this run in run.json: a resume must match the MUST_MATCH ones (src/train/run-folder.ts). */
function runSettings(o: FinetuneOptions, r: Resolved, worldSize: number): RunSettings {
  const { halo, peft } = r;
  return {
    model: modelFingerprint(o.model),
    'model-path': path.resolve(o.model),
    data: dataFingerprint(
      r.data
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map(splitSpec),
    ),
    'eval-data': r.evalData,
    'max-seq-len': r.maxSeqLen,
    'train-on-prompt': o.trainOnPrompt === true,
    'skip-bad-lines': o.skipBadLines === true,
    seed: r.seed,
    level: halo.level,
    format: halo.format,
    granularity: halo.granularity,
    'hadamard-block': halo.hadamardBlock,
    'lm-head': headPrecisionOf(halo),
    peft: peft?.method ?? null,
    rank: peft?.rank ?? null,
    alpha: peft?.alpha ?? null,
    dropout: peft?.dropout ?? null,
    'target-modules': peft?.targetModules?.join(',') ?? null,
    rslora: peft?.rslora ?? null,
    optimizer: describeOptimizer(r.optimizer),
    'adam-beta2': r.adamBeta2,
    'weight-decay': r.weightDecay,
    lr: r.lr,
    schedule: r.schedule,
    'warmup-steps': r.warmupSteps,
    epochs: r.epochs,
    'max-steps': r.maxSteps ?? null,
    'max-grad-norm': r.maxGradNorm,
    'batch-size': r.batchSize,
    'grad-accum': r.gradAccum,
    'world-size': worldSize,
    'global-batch': worldSize * r.batchSize * r.gradAccum,
    fsdp: r.fsdp ?? 'off',
    backend: o.backend ?? null,
  };
}

/** The run itself, once the options are checked and `out` is locked. */
async function run(o: FinetuneOptions, r: Resolved, lead: boolean, log: (line: string) => void): Promise<FinetuneResult> {
  const { halo, peft, fsdp } = r;
  const modelDir = o.model;
  const outDir = o.out;
  const gradCheckpointing = o.gradCheckpointing === true;
  // A frozen LoRA base with a quantized format is what the HALO linear multiplies with as 8-bit codes: keeping
  // its f32 copy as well would only cost memory, so that is the default (base8bit: false keeps it).
  const base8bit = peft !== null && (peft.base8bit ?? (peft.method === 'lora' && operandFormat(halo) !== null));
  // Before any weight (or data) is read: a run that cannot fit stops here, in seconds. (Not for FSDP, whose
  // shards the plan does not model.)
  const scan = scanModelFolder(modelDir);
  const plan = memoryPlan(scan.config, {
    halo,
    mode: peft?.method ?? 'full',
    rank: peft?.rank,
    base8bit,
    gradCheckpointing,
    checkpointDtype: scan.tensors.find((t) => t.name === 'model.embed_tokens.weight')?.dtype === 'BF16' ? 'bf16' : 'f32',
    batchSize: r.batchSize,
    seqLen: r.maxSeqLen,
    optimizer: r.optimizer,
    gradDtype: o.gradDtype,
  });
  if (!fsdp) {
    log(describePlan(plan));
    if (!o.force) checkPlanFits(plan);
  }
  const tok = loadTokenizer(modelDir);
  // A config vocabulary larger than the tokenizer's is fine (padded embeddings); a smaller one is not.
  const vocab = readModelConfig(modelDir).vocab_size;
  if (tok.vocabSize > vocab) throw new HaloError('E_FORMAT', `${modelDir}: tokenizer.json has ${tok.vocabSize} tokens but config.json vocab_size is ${vocab}`);
  const encodeOpts = { maxSeqLen: r.maxSeqLen, trainOnPrompt: o.trainOnPrompt === true };
  const readOpts = { onBadLine: o.skipBadLines ? ('skip' as const) : ('error' as const), maxLineBytes: o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES };
  const trainRead = readDataSpecs(r.data, readOpts);
  const trainEnc = encodeRecords(trainRead.records, tok, encodeOpts);
  log(
    `${trainRead.summary}\n${trainRead.records.length} records, ${trainEnc.stats.examples} examples (${trainEnc.stats.truncated} truncated, ${trainEnc.stats.droppedNoLoss} without loss tokens dropped)`,
  );
  if (o.debugData) {
    const first = trainEnc.examples[0];
    if (!first) throw new HaloError('E_ARG', 'no example to show: the training data produced no examples');
    return { ...emptyResult(outDir, lead), debugExample: describeExample(first, tok, { color: o.debugColor === true }) };
  }
  // Who this run is, decided before the model loads: a used `out` or a resume with other settings stops here.
  const worldSize = fsdp ? worldCommunicator().size : 1;
  const runPlan = lead
    ? prepareRunFolder(outDir, {
        command: 'finetune',
        settings: runSettings(o, r, worldSize),
        resume: o.resume === true,
        overwrite: o.overwrite === true,
        note: log,
      })
    : null;
  let evalExamples: Example[] = [];
  if (r.evalData !== null) evalExamples = encodeRecords(readDataSpecs(r.evalData, readOpts).records, tok, encodeOpts).examples;
  const backend = o.backend;
  const quantStats = (o.quantStats ?? true) && !peft && !fsdp ? new QuantStats() : null;
  const allowNonfinite = o.allowNonfinite === true;
  const sharded = fsdp ? loadFsdpLlama(modelDir, { halo, backend, mode: fsdp, allowNonfinite }) : null;
  const { model, source }: { model: CausalLM; source: ReturnType<typeof loadLlama>['source'] } = sharded
    ? sharded
    : peft
      ? loadPeftLlama(modelDir, { halo, backend, peft, base8bit, gradCheckpointing, allowNonfinite })
      : loadLlama(modelDir, {
          halo,
          backend,
          gradCheckpointing,
          gradDtype: o.gradDtype,
          allowNonfinite,
          wrapBackend: quantStats ? (be) => quantStats.wrap(be) : undefined,
          blockHooks: quantStats?.hooks,
        });
  if (lead)
    log(
      `model ${modelDir}: ${source.config.architecture}, ${source.config.num_hidden_layers} layers, hidden ${source.config.hidden_size}; matmuls ${describeConfig(halo)}${sharded ? `; ${fsdp === 'hq' ? 'HQ-FSDP' : `FSDP (${fsdp} gathers)`} over ${sharded.model.size} rank(s)` : ''}`,
    );
  if (peft) {
    log(
      `${peft.method.toUpperCase()} adapters on a frozen base (r ${peft.rank}, alpha ${peft.alpha}, dropout ${peft.dropout}):\n${describeParamCounts(source.config, peft.rank, peft.targetModules)}`,
    );
    if (base8bit) log('frozen base kept as rotated 8-bit codes only (--no-base-8bit keeps f32 copies)');
  }
  o.signal?.throwIfAborted();
  makeOutDir(outDir);
  if (runPlan) startRun(runPlan, log);
  const runConfig = { model: path.resolve(modelDir), halo, ...(o.runConfig ?? storedOptions(o)) };
  if (lead) fs.writeFileSync(path.join(outDir, 'run_config.json'), JSON.stringify(runConfig, null, 2));
  const losses: { step: number; loss: number }[] = [];
  const summary = train(
    model,
    trainEnc.examples,
    evalExamples,
    trainOptions({
      outDir,
      epochs: r.epochs,
      maxSteps: r.maxSteps,
      lr: r.lr,
      schedule: r.schedule,
      warmupSteps: r.warmupSteps,
      weightDecay: r.weightDecay,
      adamBeta2: r.adamBeta2,
      optimizer: r.optimizer,
      batchSize: r.batchSize,
      gradAccum: r.gradAccum,
      maxGradNorm: r.maxGradNorm,
      seed: r.seed,
      padId: tok.padId ?? tok.eosId ?? 0,
      evalEvery: r.evalEvery,
      saveEvery: r.saveEvery,
      finalCheckpoint: r.saveEvery > 0,
      keepCheckpoints: r.saveTotalLimit,
      resume: o.resume === true,
      maxBadSteps: r.maxBadSteps,
      quantStats: quantStats ?? undefined,
      runConfig: { halo },
      runId: runPlan?.record.runId,
      parallel: sharded?.model,
      quiet: o.quiet,
      onStep: (e) => {
        losses.push({ step: e.step, loss: e.loss });
        o.onProgress?.(e);
      },
      shouldStop: o.signal ? () => o.signal!.aborted : undefined,
    }),
  );
  // Stopped by the signal: no final save (the last checkpoint, if any, is what a resume continues from).
  o.signal?.throwIfAborted();
  // PEFT: the adapter folder only (HF peft layout); `halo merge` makes a full model from it and the base.
  if (peft) savePeft(outDir, (model as PeftModel).adapters, { baseModel: modelDir });
  else {
    const weights = model.stateDict(); // FSDP: a collective, every rank gathers the whole weights
    if (lead) saveModelFolder(outDir, { config: source.config, weights, dtype: source.dtype, tokenizerFrom: modelDir });
  }
  if (lead) fs.writeFileSync(path.join(outDir, 'halo_config.json'), haloConfigFileText(halo));
  return {
    out: outDir,
    steps: summary.steps,
    tokens: summary.tokens,
    seconds: summary.seconds,
    trainSeconds: summary.trainSeconds,
    tokensPerSecond: summary.tokensPerSecond,
    finalTrainLoss: summary.finalTrainLoss,
    losses,
    evalLosses: summary.evalLosses,
    skippedSteps: summary.skippedSteps,
    resumedFrom: summary.resumedFrom,
    lead,
  };
}

/** The options as JSON (callbacks and the signal left out), for run_config.json. */
function storedOptions(o: FinetuneOptions): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => typeof v !== 'function' && k !== 'signal' && k !== 'runConfig'));
}

function emptyResult(out: string, lead: boolean): FinetuneResult {
  return {
    out,
    steps: 0,
    tokens: 0,
    seconds: 0,
    trainSeconds: 0,
    tokensPerSecond: 0,
    finalTrainLoss: NaN,
    losses: [],
    evalLosses: [],
    skippedSteps: 0,
    resumedFrom: null,
    lead,
  };
}
