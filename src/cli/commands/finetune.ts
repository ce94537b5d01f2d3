// `halo finetune`: load a HF folder, fine-tune it on a JSONL dataset with the chosen HALO level/format,
// and save a HF folder (+ halo_config.json) that transformers loads unchanged. With --peft lora|hut the base
// stays frozen and only adapters train; the output is then an HF PEFT adapter folder (src/peft/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../core/errors.ts';
import { describeExample } from '../../data/debug.ts';
import { encodeRecords } from '../../data/encode.ts';
import { readModelConfig } from '../../io/hf-config.ts';
import { describeConfig, operandFormat } from '../../halo/config.ts';
import { saveModelFolder, scanModelFolder } from '../../io/hf-folder.ts';
import { checkPlanFits, describePlan, memoryPlan } from '../../train/memory-plan.ts';
import type { CausalLM } from '../../models/causal-lm.ts';
import { loadLlama } from '../../models/load.ts';
import { describeParamCounts } from '../../peft/build.ts';
import { savePeft } from '../../peft/io.ts';
import { loadPeftLlama } from '../../peft/load.ts';
import type { PeftModel } from '../../peft/peft-model.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import { train } from '../../train/trainer.ts';
import type { Command } from '../command.ts';
import { HALO_OPTIONS, haloConfigFromOptions, readDataSpecs } from '../halo-options.ts';
import { FSDP_OPTIONS, fsdpModeFrom, loadFsdpLlama } from '../fsdp-options.ts';
import { QuantStats } from '../../halo/quant-stats.ts';
import type { ParsedOptions } from '../args.ts';
import { PEFT_OPTIONS, peftOptionsFrom } from '../peft-options.ts';

function positive(o: ParsedOptions, name: string): number {
  const v = o[name] as number;
  if (!(v >= 1)) throw new HaloError('E_ARG', `--${name} must be at least 1, got ${v}`);
  return v;
}

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
    { name: 'batch-size', type: 'int', help: 'sequences per micro-batch', default: 4 },
    { name: 'grad-accum', type: 'int', help: 'micro-batches per optimizer step', default: 1 },
    { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 512 },
    { name: 'max-grad-norm', type: 'number', help: 'clip the global gradient norm (0 = off)', default: 1 },
    { name: 'seed', type: 'int', help: 'seed for shuffling', default: 42 },
    { name: 'eval-every', type: 'int', help: 'evaluate every N steps (0 = at the end only)', default: 0 },
    { name: 'save-every', type: 'int', help: 'checkpoint (weights + optimizer state, resumable) every N steps and after the last; 0 = no checkpoints, only the final model', default: 50 },
    { name: 'grad-checkpointing', type: 'boolean', help: "keep only each decoder block's input and recompute the block in the backward pass (less activation memory, ~1/3 more compute)" },
    { name: 'save-total-limit', type: 'int', help: 'checkpoints kept in --out/checkpoints, newest first (≥ 1)', default: 2 },
    { name: 'resume', type: 'boolean', help: 'continue from the newest complete checkpoint in --out (manifest + checksums valid; damaged ones are skipped)' },
    { name: 'max-bad-steps', type: 'int', help: 'stop after this many steps in a row with a non-finite loss or gradient norm (each is skipped)', default: 10 },
    { name: 'quant-stats', type: 'boolean', help: 'log per-layer counts of quantized values at the format max in metrics.jsonl (--no-quant-stats: off)', default: true },
    { name: 'train-on-prompt', type: 'boolean', help: 'also put loss on prompt/user tokens' },
    { name: 'debug-data', type: 'boolean', help: 'print one processed example with its loss mask, then exit' },
    { name: 'skip-bad-lines', type: 'boolean', help: 'skip malformed JSONL lines (counted) instead of stopping' },
    { name: 'force', type: 'boolean', help: "start even when the memory plan says the run will not fit in the machine's available memory" },
  ],
  async run({ options: o }) {
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
      batchSize: positive(o, 'batch-size'), seqLen: positive(o, 'max-seq-len'),
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
    const readOpts = { onBadLine: o['skip-bad-lines'] ? ('skip' as const) : ('error' as const) };
    const trainRead = readDataSpecs(o.data as string, readOpts);
    const trainEnc = encodeRecords(trainRead.records, tok, encodeOpts);
    process.stderr.write(`${trainRead.summary}\n${trainRead.records.length} records, ${trainEnc.stats.examples} examples (${trainEnc.stats.truncated} truncated, ${trainEnc.stats.droppedNoLoss} without loss tokens dropped)\n`);
    if (o['debug-data']) {
      const first = trainEnc.examples[0];
      if (!first) throw new HaloError('E_ARG', 'no example to show: the training data produced no examples');
      process.stdout.write(describeExample(first, tok, { color: process.stdout.isTTY }) + '\n');
      return 0;
    }
    let evalExamples: typeof trainEnc.examples = [];
    if (o['eval-data']) {
      evalExamples = encodeRecords(readDataSpecs(o['eval-data'] as string, readOpts).records, tok, encodeOpts).examples;
    }
    const backend = o.backend as 'native' | 'reference' | undefined;
    const quantStats = o['quant-stats'] && !peft && !fsdp ? new QuantStats() : null;
    const sharded = fsdp ? loadFsdpLlama(modelDir, { halo, backend, mode: fsdp }) : null;
    // Under mpirun every rank runs this command; only rank 0 writes files and reports.
    const lead = (sharded?.model.rank ?? 0) === 0;
    const { model, source }: { model: CausalLM; source: ReturnType<typeof loadLlama>['source'] } = sharded
      ? sharded
      : peft
      ? loadPeftLlama(modelDir, { halo, backend, peft, base8bit, gradCheckpointing })
      : loadLlama(modelDir, { halo, backend, gradCheckpointing, wrapBackend: quantStats ? (be) => quantStats.wrap(be) : undefined, blockHooks: quantStats?.hooks });
    if (lead) process.stderr.write(`model ${modelDir}: ${source.config.architecture}, ${source.config.num_hidden_layers} layers, hidden ${source.config.hidden_size}; matmuls ${describeConfig(halo)}${sharded ? `; ${fsdp === 'hq' ? 'HQ-FSDP' : `FSDP (${fsdp} gathers)`} over ${sharded.model.size} rank(s)` : ''}\n`);
    if (peft) {
      process.stderr.write(`${peft.method.toUpperCase()} adapters on a frozen base (r ${peft.rank}, alpha ${peft.alpha}, dropout ${peft.dropout}):\n${describeParamCounts(source.config, peft.rank, peft.targetModules)}\n`);
      if (base8bit) process.stderr.write('frozen base kept as rotated 8-bit codes only (--no-base-8bit keeps f32 copies)\n');
    }
    fs.mkdirSync(outDir, { recursive: true });
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
      batchSize: o['batch-size'] as number,
      gradAccum: o['grad-accum'] as number,
      maxGradNorm: o['max-grad-norm'] as number,
      seed: o.seed as number,
      padId: tok.padId ?? tok.eosId ?? 0,
      evalEvery: o['eval-every'] as number,
      saveEvery: o['save-every'] as number,
      finalCheckpoint: (o['save-every'] as number) > 0,
      keepCheckpoints: positive(o, 'save-total-limit'),
      resume: o.resume === true,
      logEvery: 10,
      maxBadSteps: positive(o, 'max-bad-steps'),
      quantStats: quantStats ?? undefined,
      runConfig: { halo },
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
  },
};
