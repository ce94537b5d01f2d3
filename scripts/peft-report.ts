// Reproduces the PEFT tables of docs/peft.md. Each run is a child process (so its peak RSS is its own):
//
//  1. Quality: LoRA and HUT adapters, in FP32 and HALO-2 INT8, fine-tuned on the shipped text-to-SQL task
//     from the same frozen base (models/halo-tiny by default); eval loss and greedy exact match against the
//     base, trainable parameters, tokens/s, peak RSS.
//  2. Memory: a few training steps of a larger random model (hidden 1024, 4 layers) — full fine-tuning vs
//     LoRA with the f32 base kept vs LoRA with the base kept as 8-bit codes only (PeftModel.compactBase) vs
//     HUT — peak RSS while training (the high-water mark is reset after loading, on Linux).
//
//   node --import tsx scripts/peft-report.ts [--model models/halo-tiny] [--out runs/peft-report] [--epochs 1] [--mem-steps 4]
//   node --expose-gc --import tsx scripts/peft-report.ts --run lora-int8 …   one configuration, its JSON on stdout
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendNames, getBackend } from '../src/backend/select.ts';
import { formatHelp, parseArgs, type OptionSpec, type ParsedOptions } from '../src/cli/args.ts';
import { HaloError } from '../src/core/errors.ts';
import { toEvalItem } from '../src/data/records.ts';
import { evaluateGeneration } from '../src/eval/evaluate.ts';
import { scorersFor } from '../src/eval/scorers.ts';
import { formatTable } from '../src/cli/table.ts';
import { collate } from '../src/data/batch.ts';
import { encodeRecords, type Example } from '../src/data/encode.ts';
import { readJsonl } from '../src/data/jsonl.ts';
import { describeConfig, haloConfig, type HaloConfig } from '../src/halo/config.ts';
import { loadModelFolder, parameterCount } from '../src/io/hf-folder.ts';
import { writeTinyModelFolder } from '../src/io/testing/tiny-model.ts';
import type { CausalLM } from '../src/models/causal-lm.ts';
import { LlamaModel } from '../src/models/llama.ts';
import { AdamW } from '../src/optim/adamw.ts';
import { countPeftParams, type PeftMethod } from '../src/peft/build.ts';
import { savePeft } from '../src/peft/io.ts';
import { createPeftModel, PeftModel } from '../src/peft/peft-model.ts';
import { loadTokenizer } from '../src/tokenizer/hf.ts';
import { evaluateLoss, train } from '../src/train/trainer.ts';

const OPTIONS: OptionSpec[] = [
  { name: 'model', type: 'string', help: 'base model folder for the quality runs', default: 'models/halo-tiny' },
  { name: 'out', type: 'string', help: 'run folder', default: 'runs/peft-report' },
  { name: 'train-data', type: 'string', help: 'training JSONL', default: 'data/sql/train.jsonl' },
  { name: 'eval-data', type: 'string', help: 'held-out JSONL', default: 'data/sql/eval.jsonl' },
  { name: 'epochs', type: 'number', help: 'passes over the training data', default: 1 },
  { name: 'lr', type: 'number', help: 'peak learning rate', default: 1e-3 },
  { name: 'rank', type: 'int', help: 'adapter rank', default: 16 },
  { name: 'alpha', type: 'number', help: 'adapter alpha', default: 8 },
  { name: 'dropout', type: 'number', help: 'LoRA dropout', default: 0.05 },
  { name: 'batch-size', type: 'int', help: 'sequences per optimizer step', default: 8 },
  { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 256 },
  { name: 'seed', type: 'int', help: 'adapter init, dropout and shuffle seed', default: 42 },
  { name: 'em-limit', type: 'int', help: 'exact match on the first N eval records (0 = skip)', default: 200 },
  { name: 'max-new-tokens', type: 'int', help: 'exact match: tokens generated per answer at most', default: 96 },
  { name: 'only', type: 'string', help: 'comma-separated run names to do (default: all)' },
  { name: 'reuse', type: 'boolean', help: 'take the runs OUT/results.json already holds (made with the same settings) instead of redoing them' },
  { name: 'mem-steps', type: 'int', help: 'training steps of each memory run (0 = skip the memory table)', default: 4 },
  { name: 'backend', type: 'string', help: 'kernel backend (every run must get it: tokens/s are compared)', default: 'native', choices: backendNames() },
  { name: 'run', type: 'string', help: '(internal) run one configuration and print its JSON result' },
];

const FP32 = haloConfig({ level: 'none', format: 'fp32' });
const INT8 = haloConfig({ level: 'halo2', format: 'int8' });

interface RunSpec {
  name: string;
  /** null = the base model, evaluated only; 'full' = every weight trained. */
  method: PeftMethod | 'full' | null;
  halo: HaloConfig;
  /** Keep the frozen base as 8-bit codes only. */
  compact?: boolean;
  /** A memory run: the larger random model, a few steps, no evaluation. */
  memory?: boolean;
}

const RUNS: RunSpec[] = [
  { name: 'base-fp32', method: null, halo: FP32 },
  { name: 'base-int8', method: null, halo: INT8 },
  { name: 'lora-fp32', method: 'lora', halo: FP32 },
  { name: 'lora-int8', method: 'lora', halo: INT8 },
  { name: 'hut-int8', method: 'hut', halo: INT8 },
  { name: 'hut-fp32', method: 'hut', halo: FP32 },
  { name: 'mem-full-int8', method: 'full', halo: INT8, memory: true },
  { name: 'mem-lora-int8', method: 'lora', halo: INT8, memory: true },
  { name: 'mem-lora-int8-8bit-base', method: 'lora', halo: INT8, memory: true, compact: true },
  { name: 'mem-hut-int8', method: 'hut', halo: INT8, memory: true },
];

const MEM_MODEL = { hidden: 1024, layers: 4, heads: 8, kvHeads: 4, intermediate: 2816, vocab: 512, seed: 2 } as const;
const MEM_BATCH = 2;
const MEM_SEQ = 256;

interface RunResult {
  name: string;
  method: string;
  linears: string;
  /** Kernel backend the run used (native falls back to reference when the addon cannot load). */
  backend: string;
  evalLoss: number | null;
  /** HALO's SQL exact match (strings equal after trimming) and the normalized variant, on em-limit records. */
  exactMatch: number | null;
  normalizedMatch: number | null;
  emItems: number;
  trainable: number;
  total: number;
  steps: number;
  tokensPerSecond: number | null;
  trainSeconds: number | null;
  /** Whole-process high-water mark. */
  peakRssMiB: number;
  /** High-water mark from after loading to the end of training (Linux; else the whole-process one). */
  trainPeakRssMiB: number;
  /** f32 projection weights released by compactBase. */
  releasedMiB: number;
}

const MiB = 2 ** 20;

function procStatus(field: string): number | null {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

const peakRssMiB = () => procStatus('VmHWM') ?? process.memoryUsage().rss / MiB;

/** Frees what loading left behind and restarts the peak-RSS count (writing 5 to clear_refs resets VmHWM). */
async function resetPeak(): Promise<boolean> {
  const gc = (globalThis as { gc?: () => void }).gc;
  await new Promise((r) => setTimeout(r, 10));
  gc?.();
  await new Promise((r) => setTimeout(r, 10));
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Greedy exact match on the first `limit` eval records, decoding with the model as it stands (adapters unmerged). */
function exactMatchOf(
  model: CausalLM,
  file: string,
  modelDir: string,
  limit: number,
  maxNewTokens: number,
): Pick<RunResult, 'exactMatch' | 'normalizedMatch' | 'emItems'> {
  const llama = model instanceof PeftModel ? model.eval().model : (model as LlamaModel);
  const tok = loadTokenizer(modelDir);
  const source = loadModelFolder(modelDir, { dtype: 'f32' });
  const items = readJsonl(file)
    .records.slice(0, limit)
    .map((r) => toEvalItem(r, file));
  const r = evaluateGeneration(llama, tok, items, scorersFor('sql'), {
    maxNewTokens,
    batchSize: 4,
    stopIds: source.eosTokenIds,
    progress: false,
    source: file,
  });
  const acc = (name: string) => r.scores.find((x) => x.scorer === name)!.accuracy;
  return { exactMatch: acc('sql-exact'), normalizedMatch: acc('sql-normalized'), emItems: r.items };
}

function encodeSet(file: string, modelDir: string, maxSeqLen: number): { examples: Example[]; padId: number } {
  const tok = loadTokenizer(modelDir);
  return { examples: encodeRecords(readJsonl(file).records, tok, { maxSeqLen }).examples, padId: tok.padId ?? tok.eosId ?? 0 };
}

async function runOne(o: ParsedOptions, modelDir: string, spec: RunSpec): Promise<RunResult> {
  const be = getBackend(o.backend as 'native' | 'reference');
  if (be.name !== o.backend) throw new Error(`run ${spec.name}: asked for the ${o.backend} backend, got ${be.name}; the runs' tokens/s would not compare`);
  const maxSeqLen = spec.memory ? MEM_SEQ : (o['max-seq-len'] as number);
  const { examples: trainSet, padId } = encodeSet(o['train-data'] as string, modelDir, maxSeqLen);
  const evalSet = spec.memory ? [] : encodeSet(o['eval-data'] as string, modelDir, maxSeqLen).examples;
  const batchSize = spec.memory ? MEM_BATCH : (o['batch-size'] as number);
  const peft =
    spec.method === 'lora' || spec.method === 'hut'
      ? { method: spec.method, rank: o.rank as number, alpha: o.alpha as number, dropout: o.dropout as number, seed: o.seed as number }
      : null;
  // Built inside a function so the loaded f32 checkpoint is garbage once the model holds its own copy.
  const build = (): CausalLM => {
    const source = loadModelFolder(modelDir, { dtype: 'f32' });
    if (peft) return createPeftModel(source.config, source.weights, { halo: spec.halo, backend: be, peft });
    return new LlamaModel(source.config, source.weights, { halo: spec.halo, backend: be, trainable: () => spec.method === 'full' });
  };
  const model = build();
  const config = model.config;
  const releasedMiB = spec.compact ? (model as PeftModel).compactBase() / MiB : 0;
  const resetOk = await resetPeak();
  const counts = peft ? countPeftParams(config, peft.method, peft.rank) : null;
  const base = parameterCount(config);
  const result: RunResult = {
    name: spec.name,
    method: spec.method === null ? 'none (base)' : spec.method.toUpperCase(),
    linears: describeConfig(spec.halo),
    backend: be.name,
    evalLoss: null,
    exactMatch: null,
    normalizedMatch: null,
    emItems: 0,
    trainable: counts?.trainable ?? (spec.method === 'full' ? base : 0),
    total: counts?.total ?? base,
    steps: 0,
    tokensPerSecond: null,
    trainSeconds: null,
    peakRssMiB: 0,
    trainPeakRssMiB: 0,
    releasedMiB,
  };
  if (spec.memory) Object.assign(result, memorySteps(model, trainSet, padId, o));
  else if (spec.method !== null) {
    const s = train(model, trainSet, [], {
      outDir: path.join(o.out as string, spec.name),
      epochs: o.epochs as number,
      lr: o.lr as number,
      schedule: 'linear',
      warmupSteps: 10,
      minLrRatio: 0,
      weightDecay: 0,
      batchSize,
      gradAccum: 1,
      maxGradNorm: 1,
      seed: o.seed as number,
      padId,
      evalEvery: 0,
      saveEvery: 0,
      keepCheckpoints: 1,
      resume: false,
      logEvery: 20,
      maxBadSteps: 5,
      quiet: true,
      runConfig: { halo: spec.halo, peft },
    });
    Object.assign(result, { steps: s.steps, tokensPerSecond: s.tokensPerSecond, trainSeconds: s.seconds });
  }
  result.trainPeakRssMiB = peakRssMiB();
  if (!spec.memory) {
    result.evalLoss = evaluateLoss(model, evalSet, batchSize, padId);
    if (model instanceof PeftModel) savePeft(path.join(o.out as string, spec.name, 'adapter'), model.adapters, { baseModel: modelDir });
  }
  result.peakRssMiB = peakRssMiB();
  // After the RSS readings: decoding allocates its own caches, which are not what the table compares.
  if (!spec.memory && (o['em-limit'] as number) > 0) {
    Object.assign(result, exactMatchOf(model, o['eval-data'] as string, modelDir, o['em-limit'] as number, o['max-new-tokens'] as number));
  }
  if (!resetOk) result.trainPeakRssMiB = result.peakRssMiB;
  return result;
}

/**
 * The trainer's step (forward/backward, AdamW on the parameters with a gradient, weightsChanged) without its
 * checkpointing, whose buffers would blur the peak of a memory run.
 */
function memorySteps(model: CausalLM, examples: Example[], padId: number, o: ParsedOptions): Partial<RunResult> {
  const trainable = model.parameters().filter((p) => p.grad !== null);
  const optimizer = new AdamW(
    trainable.map((p) => ({ name: p.name, param: p.data, grad: p.grad! })),
    { lr: o.lr as number },
  );
  const steps = o['mem-steps'] as number;
  let tokens = 0;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const batch = collate(examples.slice(i * MEM_BATCH, (i + 1) * MEM_BATCH), { padId });
    optimizer.zeroGrad();
    model.forwardBackward(batch, 1 / Math.max(1, batch.lossTokens));
    optimizer.step();
    model.weightsChanged();
    tokens += batch.lengths.reduce((a, b) => a + b, 0);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { steps, tokensPerSecond: tokens / seconds, trainSeconds: seconds };
}

function spawnRun(spec: RunSpec, modelDir: string): RunResult {
  const passOn = process.argv.slice(2).filter((a, i, all) => a !== '--model' && all[i - 1] !== '--model');
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...passOn, '--model', modelDir, '--run', spec.name],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    },
  );
  if (child.status !== 0) throw new Error(`run ${spec.name} failed (exit ${child.status})`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as RunResult;
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(2)}%`;
const num = (v: number | null, digits = 0) => (v === null ? '-' : v.toFixed(digits));
const pctOrDash = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(1)}%`);

async function main(): Promise<number> {
  const { options: o } = parseArgs(process.argv.slice(2), OPTIONS);
  const outDir = o.out as string;
  if (o.run) {
    const spec = RUNS.find((r) => r.name === o.run);
    if (!spec) throw new Error(`unknown run ${o.run}`);
    process.stdout.write(JSON.stringify(await runOne(o, o.model as string, spec)) + '\n');
    return 0;
  }
  fs.mkdirSync(outDir, { recursive: true });
  const modelDir = o.model as string;
  const only = o.only ? new Set((o.only as string).split(',')) : null;
  const memDir = path.join(outDir, 'mem-base');
  const resultsFile = path.join(outDir, 'results.json');
  // Everything that shapes a run's numbers (not which runs to do, or where to write).
  const settings = Object.fromEntries(
    Object.entries(o)
      .filter(([k]) => !['only', 'reuse', 'out', 'run'].includes(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  const earlier = new Map<string, RunResult>();
  if (o.reuse && fs.existsSync(resultsFile)) {
    const saved = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as { settings: unknown; results: RunResult[] };
    const sorted = (v: unknown) => JSON.stringify(Object.fromEntries(Object.entries(v as object).sort(([a], [b]) => a.localeCompare(b))));
    if (sorted(saved.settings) !== sorted(settings)) throw new Error(`--reuse: ${resultsFile} was made with other settings: ${JSON.stringify(saved.settings)}`);
    for (const r of saved.results) earlier.set(r.name, r);
  }
  const results: RunResult[] = [];
  for (const spec of RUNS) {
    if (spec.memory && (o['mem-steps'] as number) <= 0) continue;
    if (only && !only.has(spec.name) && !earlier.has(spec.name)) continue;
    if (spec.memory && !fs.existsSync(path.join(memDir, 'config.json'))) writeTinyModelFolder(memDir, MEM_MODEL);
    const reused = earlier.get(spec.name);
    if (reused && !only?.has(spec.name)) {
      results.push(reused);
      process.stderr.write(`peft-report: ${spec.name}: reusing ${resultsFile}\n`);
      continue;
    }
    process.stderr.write(`peft-report: ${spec.name} …\n`);
    const r = spawnRun(spec, spec.memory ? memDir : modelDir);
    results.push(r);
    // Written after every run, so a long report that is cut short keeps what it measured (see --reuse).
    fs.writeFileSync(resultsFile, JSON.stringify({ settings, results }, null, 2) + '\n');
    process.stderr.write(
      `  eval loss ${num(r.evalLoss, 4)}, exact match ${pctOrDash(r.exactMatch)}, ${num(r.tokensPerSecond)} tok/s, peak RSS while training ${r.trainPeakRssMiB.toFixed(0)} MiB\n`,
    );
  }
  const by = (n: string) => results.find((r) => r.name === n);
  const baseOf = (r: RunResult) => by(r.linears === 'FP32' ? 'base-fp32' : 'base-int8');
  const quality = results.filter((r) => !r.name.startsWith('mem-'));
  const qualityTable = formatTable(
    [
      'run',
      'method',
      'linears',
      'eval loss',
      'vs base',
      `exact match (${quality[0]?.emItems ?? 0})`,
      'normalized match',
      'trainable params',
      'train tok/s',
      'train s',
      'peak RSS MiB (training)',
      'peak RSS MiB (process)',
    ],
    quality.map((r) => {
      const base = baseOf(r);
      return [
        r.name,
        r.method,
        r.linears,
        num(r.evalLoss, 4),
        r.trainable && base ? pct(r.evalLoss! - base.evalLoss!, base.evalLoss!) : '-',
        pctOrDash(r.exactMatch),
        pctOrDash(r.normalizedMatch),
        r.trainable ? `${r.trainable} (${pct(r.trainable, r.total)})` : `0 of ${r.total}`,
        num(r.tokensPerSecond),
        num(r.trainSeconds),
        r.trainable ? r.trainPeakRssMiB.toFixed(0) : '-',
        r.peakRssMiB.toFixed(0),
      ];
    }),
  );
  const verdicts: string[] = [];
  for (const n of ['lora-fp32', 'lora-int8', 'hut-fp32', 'hut-int8']) {
    const r = by(n);
    const base = r && baseOf(r);
    if (r && base) verdicts.push(`${n} improves eval loss on the base (${base.name}): ${r.evalLoss! < base.evalLoss! ? 'yes' : 'NO'}`);
  }
  for (const [a, b] of [
    ['lora-int8', 'lora-fp32'],
    ['hut-int8', 'hut-fp32'],
    ['hut-int8', 'lora-fp32'],
  ]) {
    const ra = by(a);
    const rb = by(b);
    if (!ra || !rb) continue;
    const rel = (ra.evalLoss! - rb.evalLoss!) / rb.evalLoss!;
    verdicts.push(`${a} vs ${b} eval loss: ${pct(ra.evalLoss! - rb.evalLoss!, rb.evalLoss!)} (within 2%: ${Math.abs(rel) <= 0.02 ? 'yes' : 'NO'})`);
  }
  const lines = [
    `Quality: base ${modelDir}, ${o.epochs} epoch(s) of ${o['train-data']}, eval on ${o['eval-data']}; r ${o.rank}, alpha ${o.alpha}, dropout ${o.dropout}, lr ${o.lr}, batch ${o['batch-size']}, max ${o['max-seq-len']} tokens.`,
    qualityTable,
    '',
    ...verdicts,
  ];
  const mem = results.filter((r) => r.name.startsWith('mem-'));
  if (mem.length) {
    const m = MEM_MODEL;
    lines.push(
      '',
      `Memory: random model hidden ${m.hidden}, ${m.layers} layers, intermediate ${m.intermediate}, vocab ${m.vocab} (${parameterCountOf(mem)} base parameters), ` +
        `${o['mem-steps']} steps of batch ${MEM_BATCH} × ${MEM_SEQ} tokens, HALO-2 INT8.`,
      formatTable(
        ['run', 'trainable params', 'f32 base released MiB', 'train tok/s', 'peak RSS MiB (training)', 'peak RSS MiB (process)'],
        mem.map((r) => [
          r.name,
          `${r.trainable} (${pct(r.trainable, r.total)})`,
          r.releasedMiB.toFixed(0),
          num(r.tokensPerSecond),
          r.trainPeakRssMiB.toFixed(0),
          r.peakRssMiB.toFixed(0),
        ]),
      ),
    );
  }
  const text = lines.join('\n');
  process.stdout.write(text + '\n');
  fs.writeFileSync(resultsFile, JSON.stringify({ settings, results }, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, 'report.md'), ['# PEFT report', '', '```', text, '```', ''].join('\n'));
  return 0;
}

/** Base parameter count of the memory model (the full run's total). */
function parameterCountOf(mem: RunResult[]): number {
  const full = mem.find((r) => r.name === 'mem-full-int8');
  return full ? full.total : mem[0].total - mem[0].trainable;
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
    formatHelp(
      'node --import tsx scripts/peft-report.ts [options]',
      'LoRA and HUT in FP32 and HALO-2 INT8 on the SQL task, and the memory of full vs adapter fine-tuning (docs/peft.md)',
      OPTIONS,
    ) + '\n',
  );
  process.exitCode = 0;
} else {
  try {
    process.exitCode = await main();
  } catch (e) {
    if (!(e instanceof HaloError)) throw e;
    process.stderr.write(`peft-report: ${e.message}\n`);
    process.exitCode = 2;
  }
}
