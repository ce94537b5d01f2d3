// `halo finetune`: load a HF folder, fine-tune it on a JSONL dataset with the chosen HALO level/format,
// and save a HF folder (+ halo_config.json) that transformers loads unchanged.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../core/errors.ts';
import { describeExample } from '../../data/debug.ts';
import { encodeRecords } from '../../data/encode.ts';
import { describeRead, readJsonl } from '../../data/jsonl.ts';
import { describeConfig } from '../../halo/config.ts';
import { saveModelFolder } from '../../io/hf-folder.ts';
import { loadLlama } from '../../models/load.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import { train } from '../../train/trainer.ts';
import type { Command } from '../command.ts';
import { HALO_OPTIONS, haloConfigFromOptions, splitSpec } from '../halo-options.ts';

export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'Fine-tune a Hugging Face Llama/Qwen2 folder on JSONL data with HALO low-precision matmuls',
  usage: 'halo finetune --model DIR --data FILE [--eval-data FILE] [--level halo2] [--format int8] --out DIR',
  options: [
    { name: 'model', type: 'string', help: 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)', required: true },
    { name: 'data', type: 'string', help: 'training JSONL (messages / prompt+completion / text); FILE[:FROM:TO] takes rows FROM..TO-1', required: true },
    { name: 'eval-data', type: 'string', help: 'evaluation JSONL (same forms), for eval loss' },
    { name: 'out', type: 'string', help: 'output folder (HF folder + checkpoints/ + metrics.jsonl)', required: true },
    ...HALO_OPTIONS,
    { name: 'epochs', type: 'number', help: 'passes over the training data', default: 1 },
    { name: 'max-steps', type: 'int', help: 'stop after this many optimizer steps (overrides --epochs)' },
    { name: 'lr', type: 'number', help: 'peak learning rate', default: 5e-5 },
    { name: 'schedule', type: 'string', help: 'learning-rate schedule after warmup', default: 'linear', choices: ['linear', 'cosine', 'constant'] },
    { name: 'warmup-steps', type: 'int', help: 'linear warmup steps', default: 20 },
    { name: 'weight-decay', type: 'number', help: 'decoupled weight decay (not applied to norms/biases)', default: 0 },
    { name: 'batch-size', type: 'int', help: 'sequences per micro-batch', default: 4 },
    { name: 'grad-accum', type: 'int', help: 'micro-batches per optimizer step', default: 1 },
    { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 512 },
    { name: 'max-grad-norm', type: 'number', help: 'clip the global gradient norm (0 = off)', default: 1 },
    { name: 'seed', type: 'int', help: 'seed for shuffling', default: 42 },
    { name: 'eval-every', type: 'int', help: 'evaluate every N steps (0 = at the end only)', default: 0 },
    { name: 'save-every', type: 'int', help: 'checkpoint every N steps (0 = at the end only)', default: 50 },
    { name: 'keep-checkpoints', type: 'int', help: 'how many checkpoints to keep', default: 2 },
    { name: 'resume', type: 'boolean', help: 'continue from the newest checkpoint in --out' },
    { name: 'train-on-prompt', type: 'boolean', help: 'also put loss on prompt/user tokens' },
    { name: 'debug-data', type: 'boolean', help: 'print one processed example with its loss mask, then exit' },
    { name: 'skip-bad-lines', type: 'boolean', help: 'skip malformed JSONL lines (counted) instead of stopping' },
  ],
  async run({ options: o }) {
    const modelDir = o.model as string;
    const outDir = o.out as string;
    const halo = haloConfigFromOptions(o);
    const tok = loadTokenizer(modelDir);
    const encodeOpts = { maxSeqLen: o['max-seq-len'] as number, trainOnPrompt: o['train-on-prompt'] === true };
    const readOpts = { onBadLine: o['skip-bad-lines'] ? ('skip' as const) : ('error' as const) };
    const trainSpec = splitSpec(o.data as string);
    const trainRead = readJsonl(trainSpec.file, readOpts);
    const trainRecords = trainRead.records.slice(trainSpec.from, trainSpec.to);
    const trainEnc = encodeRecords(trainRecords, tok, encodeOpts);
    process.stderr.write(`${describeRead(trainRead)}; using ${trainRecords.length} records, ${trainEnc.stats.examples} examples (${trainEnc.stats.truncated} truncated, ${trainEnc.stats.droppedNoLoss} without loss tokens dropped)\n`);
    if (o['debug-data']) {
      const first = trainEnc.examples[0];
      if (!first) throw new HaloError('E_ARG', 'no example to show: the training data produced no examples');
      process.stdout.write(describeExample(first, tok, { color: process.stdout.isTTY }) + '\n');
      return 0;
    }
    let evalExamples: typeof trainEnc.examples = [];
    if (o['eval-data']) {
      const spec = splitSpec(o['eval-data'] as string);
      evalExamples = encodeRecords(readJsonl(spec.file, readOpts).records.slice(spec.from, spec.to), tok, encodeOpts).examples;
    }
    const { model, source } = loadLlama(modelDir, { halo, backend: o.backend as 'native' | 'reference' | undefined });
    process.stderr.write(`model ${modelDir}: ${source.config.architecture}, ${source.config.num_hidden_layers} layers, hidden ${source.config.hidden_size}; matmuls ${describeConfig(halo)}\n`);
    fs.mkdirSync(outDir, { recursive: true });
    const runConfig = { model: path.resolve(modelDir), halo, ...Object.fromEntries(Object.entries(o)) };
    fs.writeFileSync(path.join(outDir, 'run_config.json'), JSON.stringify(runConfig, null, 2));
    const summary = train(model, trainEnc.examples, evalExamples, {
      outDir,
      epochs: o.epochs as number,
      maxSteps: o['max-steps'] as number | undefined,
      lr: o.lr as number,
      schedule: o.schedule as 'linear',
      warmupSteps: o['warmup-steps'] as number,
      minLrRatio: 0,
      weightDecay: o['weight-decay'] as number,
      batchSize: o['batch-size'] as number,
      gradAccum: o['grad-accum'] as number,
      maxGradNorm: o['max-grad-norm'] as number,
      seed: o.seed as number,
      padId: tok.padId ?? tok.eosId ?? 0,
      evalEvery: o['eval-every'] as number,
      saveEvery: o['save-every'] as number,
      keepCheckpoints: o['keep-checkpoints'] as number,
      resume: o.resume === true,
      logEvery: 10,
      maxBadSteps: 5,
      runConfig: { halo },
    });
    saveModelFolder(outDir, { config: source.config, weights: model.stateDict(), dtype: source.dtype, tokenizerFrom: modelDir });
    fs.writeFileSync(path.join(outDir, 'halo_config.json'), JSON.stringify({ ...halo, trainedWith: describeConfig(halo) }, null, 2) + '\n');
    const last = summary.evalLosses[summary.evalLosses.length - 1];
    process.stdout.write(
      `done: ${summary.steps} steps, ${summary.tokens} tokens in ${summary.seconds.toFixed(1)} s (${Math.round(summary.tokensPerSecond)} tok/s); ` +
        `final train loss ${summary.finalTrainLoss.toFixed(4)}${last ? `, eval loss ${last.loss.toFixed(4)}` : ''}; saved to ${outDir}\n`,
    );
    return 0;
  },
};
