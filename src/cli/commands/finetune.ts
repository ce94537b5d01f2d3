// `halo finetune`: load a HF folder, fine-tune it on a JSONL dataset with the chosen HALO level/format,
// and save a HF folder (+ halo_config.json) that transformers loads unchanged. With --peft lora|hut the base
// stays frozen and only adapters train; the output is then an HF PEFT adapter folder (src/peft/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../core/errors.ts';
import { describeExample } from '../../data/debug.ts';
import { encodeRecords } from '../../data/encode.ts';
import { readModelConfig } from '../../io/hf-config.ts';
import { describeConfig, operandFormat, type HaloConfig } from '../../halo/config.ts';
import { saveModelFolder, scanModelFolder } from '../../io/hf-folder.ts';
import { checkOutDir, makeOutDir } from '../../io/out-dir.ts';
import { lockOutDir } from '../../io/out-lock.ts';
import { checkPlanFits, describePlan, memoryPlan } from '../../train/memory-plan.ts';
import type { CausalLM } from '../../models/causal-lm.ts';
import { loadLlama } from '../../models/load.ts';
import { describeParamCounts, type PeftOptions } from '../../peft/build.ts';
import { savePeft } from '../../peft/io.ts';
import { loadPeftLlama } from '../../peft/load.ts';
import type { PeftModel } from '../../peft/peft-model.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import { dataFingerprint, modelFingerprint, prepareRunFolder, startRun, type RunSettings } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';
import type { Command } from '../command.ts';
import { HALO_OPTIONS, haloConfigFromOptions, MAX_LINE_BYTES_OPTION, maxLineBytesFrom, readDataSpecs, splitSpec } from '../halo-options.ts';
import { FSDP_OPTIONS, fsdpModeFrom, loadFsdpLlama } from '../fsdp-options.ts';
import { QuantStats } from '../../halo/quant-stats.ts';
import type { ParsedOptions } from '../args.ts';
import { PEFT_OPTIONS, peftOptionsFrom } from '../peft-options.ts';
import { OPTIMIZER_OPTIONS, optimizerChoiceFrom } from '../optimizer-options.ts';
import { describeOptimizer } from '../../optim/optimizer.ts';
import { AT_LEAST_1, checkExclusive, checkRanges, NON_NEGATIVE, POSITIVE, UNIT_OPEN, type Range } from '../checks.ts';
import { worldCommunicator } from '../../dist/index.ts';

/** Every numeric flag's range, checked before anything is read or written. */
const RANGES: Record<string, Range> = {
  epochs: POSITIVE, 'max-steps': AT_LEAST_1, lr: { min: 0, note: '0 leaves the weights unchanged' }, 'warmup-steps': NON_NEGATIVE,
  'weight-decay': NON_NEGATIVE, 'adam-beta2': UNIT_OPEN, 'batch-size': AT_LEAST_1, 'grad-accum': AT_LEAST_1,
  'max-seq-len': { min: 2, note: 'a token and the one it predicts' }, 'max-grad-norm': { min: 0, note: '0 = no clipping' },
  'eval-every': { min: 0, note: '0 = at the end only' }, 'save-every': { min: 0, note: '0 = no checkpoints' }, 'save-total-limit': AT_LEAST_1,
  'max-bad-steps': AT_LEAST_1, rank: AT_LEAST_1, alpha: POSITIVE, dropout: UNIT_OPEN, 'max-line-bytes': AT_LEAST_1,
};

export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'Fine-tune a Hugging Face Llama/Qwen2 folder on JSONL data with HALO low-precision matmuls',
  usage: 'halo finetune --model DIR --data FILE [--eval-data FILE] [--level halo2] [--format int8] [--peft lora|hut --rank 16 --alpha 8] --out DIR',
  options: [
    { name: 'model', type: 'string', help: 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)', required: true },
    { name: 'data', type: 'string', help: 'training JSONL (messages / prompt+completion / text); FILE[:FROM:TO] takes rows FROM..TO-1; several: comma-separated', required: true },
    { name: 'eval-data', type: 'string', help: 'evaluation JSONL (same forms, same FILE[:FROM:TO],… list), for eval loss' },
    { name: 'out', type: 'string', help: 'output folder (HF folder + checkpoints/ + metrics.jsonl)', required: true },
    ...HALO_OPTIONS,
    ...PEFT_OPTIONS,
    ...FSDP_OPTIONS,
    { name: 'epochs', type: 'number', help: 'passes over the training data', default: 1 },
    { name: 'max-steps', type: 'int', help: 'stop after this many optimizer steps (overrides --epochs)' },
    { name: 'lr', type: 'number', help: 'peak learning rate (default 5e-5; 3e-4 with --peft, HALO\'s LoRA recipe)' },
    { name: 'schedule', type: 'string', help: 'learning-rate schedule after warmup', default: 'linear', choices: ['linear', 'cosine', 'constant'] },
    { name: 'warmup-steps', type: 'int', help: 'linear warmup steps', default: 20 },
    { name: 'weight-decay', type: 'number', help: 'decoupled weight decay (not applied to norms/biases)', default: 0 },
    { name: 'adam-beta2', type: 'number', help: "AdamW's β2 (0.95 is usual for pretraining)", default: 0.999 },
    ...OPTIMIZER_OPTIONS,
    { name: 'batch-size', type: 'int', help: 'sequences per micro-batch', default: 4 },
    { name: 'grad-accum', type: 'int', help: 'micro-batches per optimizer step', default: 1 },
    { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 512 },
    { name: 'max-grad-norm', type: 'number', help: 'clip the global gradient norm (0 = off)', default: 1 },
    { name: 'seed', type: 'int', help: 'seed for shuffling', default: 42 },
    { name: 'eval-every', type: 'int', help: 'evaluate every N steps (0 = at the end only)', default: 0 },
    { name: 'save-every', type: 'int', help: 'checkpoint (weights + optimizer state, resumable) every N steps and after the last; 0 = no checkpoints, only the final model', default: 50 },
    { name: 'grad-checkpointing', type: 'boolean', help: "keep only each decoder block's input and recompute the block in the backward pass (less activation memory, ~1/3 more compute)" },
    { name: 'save-total-limit', type: 'int', help: 'checkpoints kept in --out/checkpoints, newest first (≥ 1)', default: 2 },
    { name: 'resume', type: 'boolean', help: 'continue the run in --out from its newest complete checkpoint (manifest + checksums valid; damaged ones are skipped); refused if the settings changed what the checkpoint means (see run.json)' },
    { name: 'overwrite', type: 'boolean', help: 'start a new run in an --out that holds a previous run, removing its checkpoints, metrics and saved weights first' },
    { name: 'allow-nonfinite', type: 'boolean', help: 'load weights that hold NaN/Inf (by default an error naming the tensor)' },
    { name: 'max-bad-steps', type: 'int', help: 'stop after this many steps in a row with a non-finite loss or gradient norm (each is skipped)', default: 10 },
    { name: 'quant-stats', type: 'boolean', help: 'log per-layer counts of quantized values at the format max in metrics.jsonl (--no-quant-stats: off)', default: true },
    { name: 'train-on-prompt', type: 'boolean', help: 'also put loss on prompt/user tokens' },
    { name: 'debug-data', type: 'boolean', help: 'print one processed example with its loss mask, then exit' },
    { name: 'skip-bad-lines', type: 'boolean', help: 'skip malformed JSONL lines (counted) instead of stopping' },
    MAX_LINE_BYTES_OPTION,
    { name: 'force', type: 'boolean', help: "start even when the memory plan says the run will not fit in the machine's available memory" },
  ],
  async run({ options: o }) {
    // Every flag is checked before anything is read or written.
    checkRanges(o, RANGES);
    checkExclusive(o, 'resume', 'overwrite', 'continue the run in --out, or replace it');
    haloConfigFromOptions(o);
    fsdpModeFrom(o, peftOptionsFrom(o) !== null);
    optimizerChoiceFrom(o);
    const debug = o['debug-data'] === true;
    if (!debug) checkOutDir(o.out as string, [{ flag: '--model', dir: o.model as string }]);
    // Under mpirun every rank runs this command; rank 0 locks --out and writes the files.
    const lead = !o.fsdp && !o['hq-fsdp'] ? true : worldCommunicator().rank === 0;
    const lock = debug || !lead ? null : lockOutDir(o.out as string, 'finetune', say);
    try {
      return await finetune(o);
    } finally {
      lock?.release();
    }
  },
};

function say(line: string): void {
  process.stderr.write(line + '\n');
}

/** What identifies this run in run.json: a resume must match the MUST_MATCH ones (src/train/run-folder.ts). */
function runSettings(o: ParsedOptions, halo: HaloConfig, peft: PeftOptions | null, fsdp: string | null, lr: number, worldSize: number): RunSettings {
  const parts = (o.data as string).split(',').map((s) => s.trim()).filter(Boolean).map(splitSpec);
  const num = (k: string) => (o[k] as number | undefined) ?? null;
  return {
    model: modelFingerprint(o.model as string), 'model-path': path.resolve(o.model as string), data: dataFingerprint(parts), 'eval-data': (o['eval-data'] as string | undefined) ?? null,
    'max-seq-len': num('max-seq-len'), 'train-on-prompt': o['train-on-prompt'] === true, 'skip-bad-lines': o['skip-bad-lines'] === true, seed: num('seed'),
    level: halo.level, format: halo.format, granularity: halo.granularity, 'hadamard-block': halo.hadamardBlock, 'lm-head': halo.lmHead ?? 'f32',
    peft: peft?.method ?? null, rank: peft?.rank ?? null, alpha: peft?.alpha ?? null, dropout: peft?.dropout ?? null,
    'target-modules': peft?.targetModules?.join(',') ?? null, rslora: peft?.rslora ?? null,
    optimizer: describeOptimizer(optimizerChoiceFrom(o)), 'adam-beta2': num('adam-beta2'), 'weight-decay': num('weight-decay'), lr, schedule: (o.schedule as string) ?? null,
    'warmup-steps': num('warmup-steps'), epochs: num('epochs'), 'max-steps': num('max-steps'), 'max-grad-norm': num('max-grad-norm'),
    'batch-size': num('batch-size'), 'grad-accum': num('grad-accum'), 'world-size': worldSize,
    'global-batch': worldSize * (o['batch-size'] as number) * (o['grad-accum'] as number), fsdp: fsdp ?? 'off', backend: (o.backend as string | undefined) ?? null,
  };
}

/** The run itself, once the flags are checked and --out is locked. */
async function finetune(o: ParsedOptions): Promise<number> {
  const modelDir = o.model as string;
  const outDir = o.out as string;
  const halo = haloConfigFromOptions(o);
  const peft = peftOptionsFrom(o);
  const fsdp = fsdpModeFrom(o, peft !== null);
  const lr = (o.lr as number | undefined) ?? (peft ? 3e-4 : 5e-5);
  const gradCheckpointing = o['grad-checkpointing'] === true;
  // A frozen LoRA base with a quantized format is what the HALO linear multiplies with as 8-bit codes: keeping
  // its f32 copy as well would only cost memory, so that is the default (--no-base-8bit keeps it).
  const base8bit = peft !== null && ((o['base-8bit'] as boolean | undefined) ?? (peft.method === 'lora' && operandFormat(halo) !== null));
  // Before any weight (or data) is read: a run that cannot fit stops here, in seconds. (Not for FSDP, whose
  // shards the plan does not model.)
  const scan = scanModelFolder(modelDir);
  const plan = memoryPlan(scan.config, {
    halo, mode: peft?.method ?? 'full', rank: peft?.rank, base8bit, gradCheckpointing, checkpointDtype: scan.tensors.find((t) => t.name === 'model.embed_tokens.weight')?.dtype === 'BF16' ? 'bf16' : 'f32',
    batchSize: o['batch-size'] as number, seqLen: o['max-seq-len'] as number, optimizer: optimizerChoiceFrom(o),
  });
  if (!fsdp) {
    process.stderr.write(describePlan(plan) + '\n');
    if (!o.force) checkPlanFits(plan);
  }
  const tok = loadTokenizer(modelDir);
  // A config vocabulary larger than the tokenizer's is fine (padded embeddings); a smaller one is not.
  const vocab = readModelConfig(modelDir).vocab_size;
  if (tok.vocabSize > vocab) throw new HaloError('E_FORMAT', `${modelDir}: tokenizer.json has ${tok.vocabSize} tokens but config.json vocab_size is ${vocab}`);
  const encodeOpts = { maxSeqLen: o['max-seq-len'] as number, trainOnPrompt: o['train-on-prompt'] === true };
  const readOpts = { onBadLine: o['skip-bad-lines'] ? ('skip' as const) : ('error' as const), maxLineBytes: maxLineBytesFrom(o) };
  const trainRead = readDataSpecs(o.data as string, readOpts);
  const trainEnc = encodeRecords(trainRead.records, tok, encodeOpts);
  process.stderr.write(`${trainRead.summary}\n${trainRead.records.length} records, ${trainEnc.stats.examples} examples (${trainEnc.stats.truncated} truncated, ${trainEnc.stats.droppedNoLoss} without loss tokens dropped)\n`);
  if (o['debug-data']) {
    const first = trainEnc.examples[0];
    if (!first) throw new HaloError('E_ARG', 'no example to show: the training data produced no examples');
    process.stdout.write(describeExample(first, tok, { color: process.stdout.isTTY }) + '\n');
    return 0;
  }
  // Who this run is, decided before the model loads: a used --out or a resume with other settings stops here.
  const worldSize = fsdp ? worldCommunicator().size : 1;
  const lead = !fsdp || worldCommunicator().rank === 0;
  const runPlan = lead ? prepareRunFolder(outDir, { command: 'finetune', settings: runSettings(o, halo, peft, fsdp, lr, worldSize), resume: o.resume === true, overwrite: o.overwrite === true, note: say }) : null;
  let evalExamples: typeof trainEnc.examples = [];
  if (o['eval-data']) {
    evalExamples = encodeRecords(readDataSpecs(o['eval-data'] as string, readOpts).records, tok, encodeOpts).examples;
  }
  const backend = o.backend as 'native' | 'reference' | undefined;
  const quantStats = o['quant-stats'] && !peft && !fsdp ? new QuantStats() : null;
  const allowNonfinite = o['allow-nonfinite'] === true;
  const sharded = fsdp ? loadFsdpLlama(modelDir, { halo, backend, mode: fsdp, allowNonfinite }) : null;
  const { model, source }: { model: CausalLM; source: ReturnType<typeof loadLlama>['source'] } = sharded
    ? sharded
    : peft
    ? loadPeftLlama(modelDir, { halo, backend, peft, base8bit, gradCheckpointing, allowNonfinite })
    : loadLlama(modelDir, { halo, backend, gradCheckpointing, allowNonfinite, wrapBackend: quantStats ? (be) => quantStats.wrap(be) : undefined, blockHooks: quantStats?.hooks });
  if (lead) process.stderr.write(`model ${modelDir}: ${source.config.architecture}, ${source.config.num_hidden_layers} layers, hidden ${source.config.hidden_size}; matmuls ${describeConfig(halo)}${sharded ? `; ${fsdp === 'hq' ? 'HQ-FSDP' : `FSDP (${fsdp} gathers)`} over ${sharded.model.size} rank(s)` : ''}\n`);
  if (peft) {
    process.stderr.write(`${peft.method.toUpperCase()} adapters on a frozen base (r ${peft.rank}, alpha ${peft.alpha}, dropout ${peft.dropout}):\n${describeParamCounts(source.config, peft.rank, peft.targetModules)}\n`);
    if (base8bit) process.stderr.write('frozen base kept as rotated 8-bit codes only (--no-base-8bit keeps f32 copies)\n');
  }
  makeOutDir(outDir);
  if (runPlan) startRun(runPlan, say);
  const runConfig = { model: path.resolve(modelDir), halo, ...Object.fromEntries(Object.entries(o)) };
  if (lead) fs.writeFileSync(path.join(outDir, 'run_config.json'), JSON.stringify(runConfig, null, 2));
  const summary = train(model, trainEnc.examples, evalExamples, {
    outDir,
    epochs: o.epochs as number,
    maxSteps: o['max-steps'] as number | undefined,
    lr,
    schedule: o.schedule as 'linear',
    warmupSteps: o['warmup-steps'] as number,
    minLrRatio: 0,
    weightDecay: o['weight-decay'] as number,
    adamBeta2: o['adam-beta2'] as number,
    optimizer: optimizerChoiceFrom(o),
    batchSize: o['batch-size'] as number,
    gradAccum: o['grad-accum'] as number,
    maxGradNorm: o['max-grad-norm'] as number,
    seed: o.seed as number,
    padId: tok.padId ?? tok.eosId ?? 0,
    evalEvery: o['eval-every'] as number,
    saveEvery: o['save-every'] as number,
    finalCheckpoint: (o['save-every'] as number) > 0,
    keepCheckpoints: o['save-total-limit'] as number,
    resume: o.resume === true,
    logEvery: 10,
    maxBadSteps: o['max-bad-steps'] as number,
    quantStats: quantStats ?? undefined,
    runConfig: { halo },
    runId: runPlan?.record.runId,
    parallel: sharded?.model,
  });
  // PEFT: the adapter folder only (HF peft layout); `halo merge` makes a full model from it and the base.
  if (peft) savePeft(outDir, (model as PeftModel).adapters, { baseModel: modelDir });
  else {
    const weights = model.stateDict(); // FSDP: a collective, every rank gathers the whole weights
    if (lead) saveModelFolder(outDir, { config: source.config, weights, dtype: source.dtype, tokenizerFrom: modelDir });
  }
  if (!lead) return 0;
  fs.writeFileSync(path.join(outDir, 'halo_config.json'), JSON.stringify({ ...halo, trainedWith: describeConfig(halo) }, null, 2) + '\n');
  const last = summary.evalLosses[summary.evalLosses.length - 1];
  process.stdout.write(
    `done: ${summary.steps} steps, ${summary.tokens} tokens in ${summary.trainSeconds.toFixed(1)} s of training (${Math.round(summary.tokensPerSecond)} tok/s; ${summary.seconds.toFixed(1)} s with evaluation and checkpoints); ` +
      `final train loss ${summary.finalTrainLoss.toFixed(4)}${last ? `, eval loss ${last.loss.toFixed(4)}` : ''}; saved to ${outDir}\n`,
  );
  return 0;
}
