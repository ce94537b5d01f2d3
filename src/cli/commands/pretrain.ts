// `halo pretrain`: next-token pretraining with any HALO level/format — random init from a config.json, or
// continued from a model folder's weights (--init) — text packed into fixed-length sequences, the same
// trainer, checkpoints and metrics as fine-tuning, ending in a HF folder with the tokenizer copied in.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getBackend } from '../../backend/select.ts';
import { HaloError } from '../../core/errors.ts';
import { packExamples } from '../../data/batch.ts';
import { readCorpus } from '../../data/corpus.ts';
import { encodeRecords } from '../../data/encode.ts';
import { describeConfig, haloConfigFileText, headPrecisionOf, type HaloConfig } from '../../halo/config.ts';
import { readModelConfig } from '../../io/hf-config.ts';
import { loadModelFolder, saveModelFolder } from '../../io/hf-folder.ts';
import { initLlamaWeights } from '../../models/init.ts';
import { LlamaModel } from '../../models/llama.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import type { TextTokenizer } from '../../tokenizer/types.ts';
import { train } from '../../train/trainer.ts';
import type { Command } from '../command.ts';
import { HALO_OPTIONS, haloConfigFromOptions, MAX_LINE_BYTES_OPTION, maxLineBytesFrom } from '../halo-options.ts';
import type { ParsedOptions } from '../args.ts';
import { gradDtypeFrom, OPTIMIZER_OPTIONS, optimizerChoiceFrom } from '../optimizer-options.ts';
import { describeOptimizer } from '../../optim/optimizer.ts';
import { AT_LEAST_1, checkExclusive, checkRanges, NON_NEGATIVE, UNIT_OPEN, type Range } from '../checks.ts';
import { checkOutDir, makeOutDir } from '../../io/out-dir.ts';
import { lockOutDir } from '../../io/out-lock.ts';
import { dataFingerprint, fileFingerprint, modelFingerprint, prepareRunFolder, startRun, type RunSettings } from '../../train/run-folder.ts';

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'Pretrain a Llama-architecture model on text files (from scratch, or continued with --init), with HALO matmuls',
  usage: 'halo pretrain (--config config.json --tokenizer DIR | --init MODEL_DIR) --data FILES --tokens N --out DIR',
  options: [
    { name: 'config', type: 'string', help: 'HF config.json of the architecture (LlamaForCausalLM / Qwen2ForCausalLM), randomly initialized' },
    { name: 'init', type: 'string', help: 'continue pretraining this HF model folder (its config and weights; its tokenizer unless --tokenizer)' },
    { name: 'tokenizer', type: 'string', help: 'folder with tokenizer.json + tokenizer_config.json (see halo tokenizer train)' },
    { name: 'data', type: 'string', help: 'comma-separated .txt / .jsonl files', required: true },
    { name: 'tokens', type: 'int', help: 'training tokens (steps = tokens / (batch × max-seq-len × grad-accum))', required: true },
    { name: 'out', type: 'string', help: 'output folder', required: true },
    ...HALO_OPTIONS,
    { name: 'max-seq-len', aliases: ['seq-len'], type: 'int', help: 'packed sequence length', default: 256 },
    { name: 'batch-size', type: 'int', help: 'sequences per micro-batch', default: 8 },
    { name: 'grad-accum', type: 'int', help: 'micro-batches per optimizer step', default: 1 },
    { name: 'lr', type: 'number', help: 'peak learning rate', default: 1e-3 },
    { name: 'schedule', type: 'string', help: 'decay after warmup', default: 'cosine', choices: ['linear', 'cosine', 'constant'] },
    { name: 'warmup-steps', type: 'int', help: 'linear warmup steps', default: 50 },
    { name: 'min-lr-ratio', type: 'number', help: 'final LR as a fraction of the peak', default: 0.1 },
    { name: 'weight-decay', type: 'number', help: 'decoupled weight decay', default: 0.1 },
    { name: 'adam-beta2', type: 'number', help: "AdamW's β2 (0.95 is usual for pretraining)", default: 0.999 },
    ...OPTIMIZER_OPTIONS,
    { name: 'max-grad-norm', type: 'number', help: 'gradient clipping (0 = off)', default: 1 },
    { name: 'eval-fraction', type: 'number', help: 'share of sequences held out for eval loss', default: 0.01 },
    MAX_LINE_BYTES_OPTION,
    { name: 'seed', type: 'int', help: 'shuffle seed, and the random init with --config', default: 0 },
    { name: 'save-every', type: 'int', help: 'checkpoint every N steps', default: 100 },
    {
      name: 'resume',
      type: 'boolean',
      help: 'continue the run in --out from its newest checkpoint; refused if the settings changed what the checkpoint means (see run.json)',
    },
    {
      name: 'overwrite',
      type: 'boolean',
      help: 'start a new run in an --out that holds a previous run, removing its checkpoints, metrics and saved weights first',
    },
    { name: 'allow-nonfinite', type: 'boolean', help: 'with --init: load weights that hold NaN/Inf (by default an error naming the tensor)' },
  ],
  async run({ options: o }) {
    // Every flag is checked before anything is read or written.
    checkRanges(o, RANGES);
    checkExclusive(o, 'resume', 'overwrite', 'continue the run in --out, or replace it');
    const init = o.init as string | undefined;
    if ((o.config === undefined) === (init === undefined))
      throw new HaloError('E_ARG', 'give exactly one of --config (random init) and --init (a model folder to continue)');
    if (o.tokenizer === undefined && init === undefined) throw new HaloError('E_ARG', '--tokenizer is required with --config');
    haloConfigFromOptions(o);
    optimizerChoiceFrom(o);
    gradDtypeFrom(o);
    const inputs = [
      { flag: '--init', dir: init },
      { flag: '--tokenizer', dir: o.tokenizer as string | undefined },
      { flag: '--config', dir: o.config === undefined ? undefined : path.dirname(o.config as string) },
    ];
    checkOutDir(o.out as string, inputs);
    const lock = lockOutDir(o.out as string, 'pretrain', say);
    try {
      return await pretrain(o);
    } finally {
      lock.release();
    }
  },
};

function say(line: string): void {
  process.stderr.write(line + '\n');
}

/** Every numeric flag's range. */
const RANGES: Record<string, Range> = {
  tokens: AT_LEAST_1,
  'max-seq-len': { min: 2, note: 'a token and the one it predicts' },
  'batch-size': AT_LEAST_1,
  'grad-accum': AT_LEAST_1,
  lr: { min: 0, note: '0 leaves the weights unchanged' },
  'warmup-steps': NON_NEGATIVE,
  'min-lr-ratio': { min: 0, max: 1 },
  'weight-decay': NON_NEGATIVE,
  'adam-beta2': UNIT_OPEN,
  'max-grad-norm': { min: 0, note: '0 = no clipping' },
  'eval-fraction': UNIT_OPEN,
  'save-every': { min: 0, note: '0 = at the end only' },
  'max-line-bytes': AT_LEAST_1,
};

/** What identifies this run in run.json: a resume must match the MUST_MATCH ones (src/train/run-folder.ts). */
function runSettings(o: ParsedOptions, halo: HaloConfig, files: readonly string[], tokenizerDir: string): RunSettings {
  const num = (k: string) => (o[k] as number | undefined) ?? null;
  return {
    config: o.init !== undefined ? modelFingerprint(o.init as string) : fileFingerprint(o.config as string),
    tokenizer: modelFingerprint(tokenizerDir),
    data: dataFingerprint(files.map((file) => ({ file }))),
    'max-seq-len': num('max-seq-len'),
    'eval-fraction': num('eval-fraction'),
    seed: num('seed'),
    level: halo.level,
    format: halo.format,
    granularity: halo.granularity,
    'hadamard-block': halo.hadamardBlock,
    'lm-head': headPrecisionOf(halo),
    optimizer: describeOptimizer(optimizerChoiceFrom(o)),
    'adam-beta2': num('adam-beta2'),
    'weight-decay': num('weight-decay'),
    lr: num('lr'),
    schedule: (o.schedule as string) ?? null,
    'warmup-steps': num('warmup-steps'),
    'min-lr-ratio': num('min-lr-ratio'),
    tokens: num('tokens'),
    'max-grad-norm': num('max-grad-norm'),
    'batch-size': num('batch-size'),
    'grad-accum': num('grad-accum'),
    'world-size': 1,
    'global-batch': (o['batch-size'] as number) * (o['grad-accum'] as number),
    backend: (o.backend as string | undefined) ?? null,
  };
}

/** The run itself, once the flags are checked and --out is locked. */
async function pretrain(o: ParsedOptions): Promise<number> {
  const init = o.init as string | undefined;
  const start = init === undefined ? undefined : loadModelFolder(init, { dtype: 'f32', allowNonfinite: o['allow-nonfinite'] === true });
  const config = start?.config ?? readModelConfig(o.config as string);
  const tokenizerDir = ((o.tokenizer as string | undefined) ?? init)!;
  const tok = loadTokenizer(tokenizerDir);
  if (tok.vocabSize > config.vocab_size) {
    throw new HaloError('E_ARG', `the tokenizer has ${tok.vocabSize} tokens but config vocab_size is ${config.vocab_size}`);
  }
  const halo = haloConfigFromOptions(o);
  const files = (o.data as string).split(',').filter(Boolean);
  const seqLen = o['max-seq-len'] as number;
  const t0 = performance.now();
  const { trainSet, evalSet, documents, tokens } = packCorpus(files, tok, seqLen, o['eval-fraction'] as number, maxLineBytesFrom(o));
  process.stderr.write(
    `corpus: ${documents} documents, ${tokens} tokens → ${trainSet.length} train / ${evalSet.length} eval sequences of ${seqLen} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
  // Who this run is, decided before the model is built: a used --out or a resume with other settings stops here.
  const runPlan = prepareRunFolder(o.out as string, {
    command: 'pretrain',
    settings: runSettings(o, halo, files, tokenizerDir),
    resume: o.resume === true,
    overwrite: o.overwrite === true,
    note: say,
  });
  const perStep = (o['batch-size'] as number) * seqLen * (o['grad-accum'] as number);
  const steps = Math.max(1, Math.round((o.tokens as number) / perStep));
  const model = new LlamaModel(config, start?.weights ?? initLlamaWeights(config, o.seed as number), {
    halo,
    backend: getBackend(o.backend as 'native' | undefined),
    gradDtype: gradDtypeFrom(o),
  });
  const nParams = model.parameters().reduce((s, p) => s + p.data.length, 0);
  process.stderr.write(
    `model: ${init === undefined ? 'random init' : `continued from ${init}`}, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, ${(nParams / 1e6).toFixed(2)}M parameters; matmuls ${describeConfig(halo)}; ${steps} steps\n`,
  );
  const outDir = o.out as string;
  makeOutDir(outDir);
  startRun(runPlan, say);
  const summary = train(model, trainSet, evalSet, {
    outDir,
    epochs: 1e9,
    maxSteps: steps,
    lr: o.lr as number,
    schedule: o.schedule as 'cosine',
    warmupSteps: o['warmup-steps'] as number,
    minLrRatio: o['min-lr-ratio'] as number,
    weightDecay: o['weight-decay'] as number,
    adamBeta2: o['adam-beta2'] as number,
    optimizer: optimizerChoiceFrom(o),
    batchSize: o['batch-size'] as number,
    gradAccum: o['grad-accum'] as number,
    maxGradNorm: o['max-grad-norm'] as number,
    seed: o.seed as number,
    padId: tok.padId ?? tok.eosId ?? 0,
    evalEvery: Math.max(1, Math.floor(steps / 10)),
    saveEvery: o['save-every'] as number,
    keepCheckpoints: 2,
    resume: o.resume === true,
    logEvery: 10,
    maxBadSteps: 5,
    runConfig: { halo, command: 'pretrain' },
    runId: runPlan.record.runId,
  });
  saveModelFolder(outDir, { config, weights: model.stateDict(), dtype: 'f32', tokenizerFrom: tokenizerDir });
  fs.writeFileSync(path.join(outDir, 'halo_config.json'), haloConfigFileText(halo));
  const last = summary.evalLosses[summary.evalLosses.length - 1];
  const report = {
    steps: summary.steps,
    tokens: summary.tokens,
    seconds: Math.round(summary.seconds),
    tokensPerSecond: Math.round(summary.tokensPerSecond),
    finalTrainLoss: summary.finalTrainLoss,
    finalEvalLoss: last?.loss ?? null,
    parameters: nParams,
  };
  fs.writeFileSync(path.join(outDir, 'pretrain_summary.json'), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(JSON.stringify(report) + '\n');
  return 0;
}

/**
 * Text files → packed train and held-out sequences. In a function of its own so that the documents' text and
 * per-document token arrays are garbage once it returns: kept alive through training, they made every
 * garbage collection of the loop slower.
 */
function packCorpus(files: readonly string[], tok: TextTokenizer, seqLen: number, evalFraction: number, maxLineBytes: number) {
  const records = readCorpus(files, { maxLineBytes });
  const { examples, stats } = encodeRecords(records, tok, {});
  const packed = packExamples(examples, seqLen).examples;
  const nEval = Math.max(1, Math.floor(packed.length * evalFraction));
  // Held-out sequences come from the end of the stream (fixed, independent of the seed).
  return { trainSet: packed.slice(0, packed.length - nEval), evalSet: packed.slice(packed.length - nEval), documents: records.length, tokens: stats.tokens };
}
