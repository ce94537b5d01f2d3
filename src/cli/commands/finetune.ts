// `halo finetune`: load a HF folder, fine-tune it on a JSONL dataset with the chosen HALO level/format,
// and save a HF folder (+ halo_config.json) that transformers loads unchanged. With --peft lora|hut the base
// stays frozen and only adapters train; the output is then an HF PEFT adapter folder (src/peft/).
// The run itself is the API's finetune() (src/api/finetune.ts): this file checks the flags and maps them onto it.
import { finetune } from '../../api/finetune.ts';
import type { BackendName } from '../../backend/select.ts';
import type { ScheduleKind } from '../../optim/schedule.ts';
import type { Command } from '../command.ts';
import { HALO_OPTIONS, haloConfigFromOptions, MAX_LINE_BYTES_OPTION, maxLineBytesFrom } from '../halo-options.ts';
import { FSDP_OPTIONS, fsdpModeFrom } from '../fsdp-options.ts';
import { PEFT_OPTIONS, peftOptionsFrom } from '../peft-options.ts';
import { gradDtypeFrom, OPTIMIZER_OPTIONS, optimizerChoiceFrom } from '../optimizer-options.ts';
import { AT_LEAST_1, checkExclusive, checkRanges, NON_NEGATIVE, POSITIVE, UNIT_OPEN, type Range } from '../checks.ts';

/** Every numeric flag's range, checked before anything is read or written. */
const RANGES: Record<string, Range> = {
  epochs: POSITIVE,
  'max-steps': AT_LEAST_1,
  lr: { min: 0, note: '0 leaves the weights unchanged' },
  'warmup-steps': NON_NEGATIVE,
  'weight-decay': NON_NEGATIVE,
  'adam-beta2': UNIT_OPEN,
  'batch-size': AT_LEAST_1,
  'grad-accum': AT_LEAST_1,
  'max-seq-len': { min: 2, note: 'a token and the one it predicts' },
  'max-grad-norm': { min: 0, note: '0 = no clipping' },
  'eval-every': { min: 0, note: '0 = at the end only' },
  'save-every': { min: 0, note: '0 = no checkpoints' },
  'save-total-limit': AT_LEAST_1,
  'max-bad-steps': AT_LEAST_1,
  rank: AT_LEAST_1,
  alpha: POSITIVE,
  dropout: UNIT_OPEN,
  'max-line-bytes': AT_LEAST_1,
};

export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'Fine-tune a Hugging Face Llama/Qwen2 folder on JSONL data with HALO low-precision matmuls',
  usage: 'halo finetune --model DIR --data FILE [--eval-data FILE] [--level halo2] [--format int8] [--peft lora|hut --rank 16 --alpha 8] --out DIR',
  options: [
    { name: 'model', type: 'string', help: 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)', required: true },
    {
      name: 'data',
      type: 'string',
      help: 'training JSONL (messages / prompt+completion / text); FILE[:FROM:TO] takes rows FROM..TO-1; several: comma-separated',
      required: true,
    },
    { name: 'eval-data', type: 'string', help: 'evaluation JSONL (same forms, same FILE[:FROM:TO],… list), for eval loss' },
    { name: 'out', type: 'string', help: 'output folder (HF folder + checkpoints/ + metrics.jsonl)', required: true },
    ...HALO_OPTIONS,
    ...PEFT_OPTIONS,
    ...FSDP_OPTIONS,
    { name: 'epochs', type: 'number', help: 'passes over the training data', default: 1 },
    { name: 'max-steps', type: 'int', help: 'stop after this many optimizer steps (overrides --epochs)' },
    { name: 'lr', type: 'number', help: "peak learning rate (default 5e-5; 3e-4 with --peft, HALO's LoRA recipe)" },
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
    {
      name: 'save-every',
      type: 'int',
      help: 'checkpoint (weights + optimizer state, resumable) every N steps and after the last; 0 = no checkpoints, only the final model',
      default: 50,
    },
    {
      name: 'grad-checkpointing',
      type: 'boolean',
      help: "keep only each decoder block's input and recompute the block in the backward pass (less activation memory, ~1/3 more compute)",
    },
    { name: 'save-total-limit', type: 'int', help: 'checkpoints kept in --out/checkpoints, newest first (≥ 1)', default: 2 },
    {
      name: 'resume',
      type: 'boolean',
      help: 'continue the run in --out from its newest complete checkpoint (manifest + checksums valid; damaged ones are skipped); refused if the settings changed what the checkpoint means (see run.json)',
    },
    {
      name: 'overwrite',
      type: 'boolean',
      help: 'start a new run in an --out that holds a previous run, removing its checkpoints, metrics and saved weights first',
    },
    { name: 'allow-nonfinite', type: 'boolean', help: 'load weights that hold NaN/Inf (by default an error naming the tensor)' },
    { name: 'max-bad-steps', type: 'int', help: 'stop after this many steps in a row with a non-finite loss or gradient norm (each is skipped)', default: 10 },
    {
      name: 'quant-stats',
      type: 'boolean',
      help: 'log per-layer counts of quantized values at the format max in metrics.jsonl (--no-quant-stats: off)',
      default: true,
    },
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
    const halo = haloConfigFromOptions(o);
    const peft = peftOptionsFrom(o);
    const fsdp = fsdpModeFrom(o, peft !== null);
    const optimizer = optimizerChoiceFrom(o);
    const r = await finetune({
      model: o.model as string,
      data: o.data as string,
      evalData: o['eval-data'] as string | undefined,
      out: o.out as string,
      level: halo.level,
      format: halo.format,
      granularity: halo.granularity,
      hadamardBlock: halo.hadamardBlock,
      lmHead: halo.lmHead,
      backend: o.backend as BackendName | undefined,
      peft: peft ? { ...peft, base8bit: o['base-8bit'] as boolean | undefined } : undefined,
      fsdp: fsdp ?? undefined,
      epochs: o.epochs as number,
      maxSteps: o['max-steps'] as number | undefined,
      lr: o.lr as number | undefined,
      schedule: o.schedule as ScheduleKind,
      warmupSteps: o['warmup-steps'] as number,
      weightDecay: o['weight-decay'] as number,
      adamBeta2: o['adam-beta2'] as number,
      optimizer,
      batchSize: o['batch-size'] as number,
      gradAccum: o['grad-accum'] as number,
      maxSeqLen: o['max-seq-len'] as number,
      maxGradNorm: o['max-grad-norm'] as number,
      seed: o.seed as number,
      evalEvery: o['eval-every'] as number,
      saveEvery: o['save-every'] as number,
      saveTotalLimit: o['save-total-limit'] as number,
      gradCheckpointing: o['grad-checkpointing'] === true,
      gradDtype: gradDtypeFrom(o),
      resume: o.resume === true,
      overwrite: o.overwrite === true,
      allowNonfinite: o['allow-nonfinite'] === true,
      maxBadSteps: o['max-bad-steps'] as number,
      quantStats: o['quant-stats'] === true,
      trainOnPrompt: o['train-on-prompt'] === true,
      skipBadLines: o['skip-bad-lines'] === true,
      maxLineBytes: maxLineBytesFrom(o),
      force: o.force === true,
      debugData: o['debug-data'] === true,
      debugColor: process.stdout.isTTY,
      runConfig: { ...o },
    });
    if (r.debugExample !== undefined) {
      process.stdout.write(r.debugExample + '\n');
      return 0;
    }
    if (!r.lead) return 0;
    const last = r.evalLosses[r.evalLosses.length - 1];
    process.stdout.write(
      `done: ${r.steps} steps, ${r.tokens} tokens in ${r.trainSeconds.toFixed(1)} s of training (${Math.round(r.tokensPerSecond)} tok/s; ${r.seconds.toFixed(1)} s with evaluation and checkpoints); ` +
        `final train loss ${r.finalTrainLoss.toFixed(4)}${last ? `, eval loss ${last.loss.toFixed(4)}` : ''}; saved to ${r.out}\n`,
    );
    return 0;
  },
};
