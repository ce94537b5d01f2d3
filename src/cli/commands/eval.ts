// `halo eval`: a model folder on a JSONL set — eval loss (mean cross-entropy of the answer tokens, the same
// number fine-tuning reports) or generation accuracy (greedy answers scored by exact match: HALO's rule and
// the lenient variant side by side). The model runs in full precision by default; --level/--format run it
// through the quantized HALO linears, and --as-trained re-applies the halo_config.json that `halo finetune`
// saved beside the weights (what HALO's eval.py does with hadamard_config.json). --adapter DIR applies a PEFT
// adapter folder (LoRA/HUT) to the model without merging it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../core/errors.ts';
import { encodeRecords } from '../../data/encode.ts';
import { readJsonl } from '../../data/jsonl.ts';
import { toEvalItem } from '../../data/records.ts';
import { evaluateGeneration } from '../../eval/evaluate.ts';
import { scorersFor } from '../../eval/scorers.ts';
import { describeConfig, haloConfig, type Format, type HaloConfig, type Level } from '../../halo/config.ts';
import { loadLlama } from '../../models/load.ts';
import type { LlamaModel } from '../../models/llama.ts';
import { loadPeftLlama } from '../../peft/load.ts';
import { GRANULARITIES, type Granularity } from '../../quant/index.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import { evaluateLoss } from '../../train/trainer.ts';
import type { OptionSpec, ParsedOptions } from '../args.ts';
import type { Command } from '../command.ts';
import { AT_LEAST_1, checkRanges, NON_NEGATIVE } from '../checks.ts';
import { HALO_OPTIONS, haloConfigFromOptions, MAX_LINE_BYTES_OPTION, maxLineBytesFrom, splitSpec } from '../halo-options.ts';

/**
 * HALO_OPTIONS for commands that only run the model: full precision unless asked (--level none), and a
 * --format that follows the level (int8 once a HALO level is named, fp32 for none).
 */
export const INFERENCE_HALO_OPTIONS: readonly OptionSpec[] = [
  ...HALO_OPTIONS.map((o): OptionSpec => {
    if (o.name === 'level') return { ...o, default: 'none', help: 'run the linears as this HALO level (none = full precision)' };
    if (o.name === 'format') return { name: o.name, type: o.type, choices: o.choices, help: 'precision of the linear matmuls (default: fp32 for level none, else int8)' };
    return o;
  }),
  { name: 'as-trained', type: 'boolean', help: "use the HALO config saved by 'halo finetune' (MODEL/halo_config.json, or ADAPTER/halo_config.json with --adapter)" },
  { name: 'adapter', type: 'string', help: 'a PEFT adapter folder (adapter_config.json + adapter_model.safetensors, LoRA or HUT) to apply to --model, unmerged' },
  { name: 'allow-nonfinite', type: 'boolean', help: 'load weights that hold NaN/Inf (by default an error naming the tensor)' },
];

/** The HALO config to run a model with: MODEL/halo_config.json under --as-trained, else the flags. */
export function inferenceHaloConfig(o: ParsedOptions, trainedDir: string): HaloConfig {
  if (o['as-trained']) return readHaloConfigFile(path.join(trainedDir, 'halo_config.json'));
  const format = o.format ?? (o.level === 'none' ? 'fp32' : 'int8');
  return haloConfigFromOptions({ ...o, format });
}

function readHaloConfigFile(file: string): HaloConfig {
  if (!fs.existsSync(file)) throw new HaloError('E_IO', `--as-trained: no ${file} (it is written by 'halo finetune'); pass --level/--format instead`);
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new HaloError('E_FORMAT', `${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null) throw new HaloError('E_FORMAT', `${file}: not a JSON object`);
  const granularity = v.granularity ?? 'tensor';
  if (!GRANULARITIES.includes(granularity as Granularity)) throw new HaloError('E_FORMAT', `${file}: granularity must be one of ${GRANULARITIES.join(', ')}, got ${JSON.stringify(granularity)}`);
  const block = v.hadamardBlock ?? 'auto';
  if (block !== 'auto' && block !== 'full' && !(Number.isInteger(block) && (block as number) > 0)) {
    throw new HaloError('E_FORMAT', `${file}: hadamardBlock must be 'auto', 'full' or a positive integer, got ${JSON.stringify(block)}`);
  }
  try {
    return haloConfig({ level: v.level as Level, format: v.format as Format, granularity: granularity as Granularity, hadamardBlock: block as HaloConfig['hadamardBlock'] });
  } catch (e) {
    throw new HaloError('E_FORMAT', `${file}: ${(e as Error).message}`);
  }
}

/** Loads model + tokenizer for inference (no gradient buffers) and says what runs on stderr. */
export function loadForInference(modelDir: string, o: ParsedOptions): { model: LlamaModel; tok: ReturnType<typeof loadTokenizer>; halo: HaloConfig; eosTokenIds: number[] } {
  const adapter = o.adapter as string | undefined;
  const halo = inferenceHaloConfig(o, adapter ?? modelDir);
  const tok = loadTokenizer(modelDir);
  const backend = o.backend as 'native' | 'reference' | undefined;
  // With an adapter: the frozen base with the adapters hooked in (dropout off), as a plain LlamaModel to decode with.
  const allowNonfinite = o['allow-nonfinite'] === true;
  const peft = adapter !== undefined ? loadPeftLlama(modelDir, { halo, backend, adapter, allowNonfinite }) : null;
  const { model, source } = peft ? { model: peft.model.model, source: peft.source } : loadLlama(modelDir, { halo, backend, trainable: () => false, allowNonfinite });
  if (tok.vocabSize > source.config.vocab_size) {
    throw new HaloError('E_FORMAT', `${modelDir}: tokenizer.json has ${tok.vocabSize} tokens but config.json vocab_size is ${source.config.vocab_size}`);
  }
  process.stderr.write(`model ${modelDir}${adapter !== undefined ? ` + adapter ${adapter}` : ''}: ${source.config.architecture}, ${source.config.num_hidden_layers} layers, hidden ${source.config.hidden_size}; linears ${describeConfig(halo)}\n`);
  return { model, tok, halo, eosTokenIds: source.eosTokenIds };
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Evaluate a model folder on JSONL data: eval loss, or greedy-generation exact-match accuracy (SQL, GSM8K)',
  usage: 'halo eval --model DIR [--adapter DIR] --data FILE[:FROM:TO] --metric loss|sql|gsm8k [--eval-limit N] [--max-new-tokens 128] [--json]',
  options: [
    { name: 'model', type: 'string', help: 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)', required: true },
    { name: 'data', type: 'string', help: 'JSONL (messages / prompt+completion / question+answer); FILE:FROM:TO takes rows FROM..TO-1', required: true },
    { name: 'metric', type: 'string', help: 'loss = mean cross-entropy of answer tokens; sql / gsm8k = exact-match accuracy of greedy answers', required: true, choices: ['loss', 'sql', 'gsm8k'] },
    { name: 'eval-limit', aliases: ['limit'], type: 'int', help: 'evaluate at most this many records (after the row range)' },
    { name: 'max-new-tokens', type: 'int', help: 'tokens generated per answer at most', default: 128 },
    { name: 'batch-size', type: 'int', help: 'sequences per forward (default: 4 for loss, 1 for generation)' },
    { name: 'max-seq-len', type: 'int', help: 'loss: truncate examples to this many tokens', default: 512 },
    MAX_LINE_BYTES_OPTION,
    { name: 'prompt-format', type: 'string', help: "chat = the chat template (HALO); raw = BOS + the record's prompt text", default: 'chat', choices: ['chat', 'raw'] },
    { name: 'show', type: 'int', help: 'print this many (prediction, reference) pairs', default: 3 },
    { name: 'json', type: 'boolean', help: 'print one JSON object instead of text' },
    ...INFERENCE_HALO_OPTIONS,
  ],
  async run({ options: o }) {
    checkRanges(o, { 'eval-limit': AT_LEAST_1, 'max-new-tokens': AT_LEAST_1, 'batch-size': AT_LEAST_1, 'max-seq-len': AT_LEAST_1, show: NON_NEGATIVE, 'max-line-bytes': AT_LEAST_1 });
    const modelDir = o.model as string;
    const metric = o.metric as 'loss' | 'sql' | 'gsm8k';
    const spec = splitSpec(o.data as string);
    const limit = o['eval-limit'] as number | undefined;
    let records = readJsonl(spec.file, { maxLineBytes: maxLineBytesFrom(o) }).records.slice(spec.from, spec.to);
    if (limit !== undefined) records = records.slice(0, limit);
    const range = `${spec.file} rows ${spec.from}..${spec.from + records.length - 1}`;
    if (records.length === 0) throw new HaloError('E_ARG', `${o.data}: no records in that row range (the file has fewer rows than ${spec.from + 1}?)`);
    const promptFormat = o['prompt-format'] as 'chat' | 'raw';
    const { model, tok, halo, eosTokenIds } = loadForInference(modelDir, o);
    const header = { model: modelDir, data: o.data as string, records: records.length, linears: describeConfig(halo), halo };

    if (metric === 'loss') {
      const { examples, stats } = encodeRecords(records, tok, { maxSeqLen: o['max-seq-len'] as number, promptFormat });
      if (examples.length === 0) throw new HaloError('E_ARG', `${range}: no example has answer tokens to score (all ${stats.droppedNoLoss} were cut to nothing by --max-seq-len?)`);
      const t0 = performance.now();
      const loss = evaluateLoss(model, examples, (o['batch-size'] as number | undefined) ?? 4, tok.padId ?? tok.eosId ?? 0);
      const seconds = (performance.now() - t0) / 1000;
      const result = { ...header, metric, loss, perplexity: Math.exp(loss), examples: examples.length, tokens: stats.lossTokens, truncated: stats.truncated, seconds };
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else {
        process.stdout.write(
          `eval loss ${loss.toFixed(4)} (perplexity ${result.perplexity.toFixed(2)}) over ${stats.lossTokens} answer tokens of ${examples.length} examples` +
            `${stats.truncated ? ` (${stats.truncated} truncated to ${o['max-seq-len']} tokens)` : ''}; ${range}; ${seconds.toFixed(1)} s\n`,
        );
      }
      return 0;
    }

    const items = records.map((r) => toEvalItem(r, spec.file));
    const r = evaluateGeneration(model, tok, items, scorersFor(metric), {
      maxNewTokens: o['max-new-tokens'] as number,
      batchSize: (o['batch-size'] as number | undefined) ?? 1,
      promptFormat,
      stopIds: eosTokenIds,
      showExamples: o.show as number,
      source: spec.file,
    });
    if (o.json) {
      const { predictions: _all, ...rest } = r;
      process.stdout.write(JSON.stringify({ ...header, metric, ...rest }) + '\n');
      return 0;
    }
    const lines = [`${metric} accuracy on ${r.items} items (${range}); ${r.generatedTokens} tokens generated in ${r.seconds.toFixed(1)} s, ${r.cutOff} answers cut off at ${o['max-new-tokens']} tokens`];
    const w = Math.max(...r.scores.map((s) => s.scorer.length));
    for (const s of r.scores) lines.push(`  ${s.scorer.padEnd(w)}  ${(100 * s.accuracy).toFixed(2).padStart(6)}%  (${s.correct}/${s.total})  ${s.description}`);
    for (const ex of r.examples) {
      const verdicts = Object.entries(ex.correct).map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ');
      lines.push(`line ${ex.line} (${verdicts})`, `  reference:  ${JSON.stringify(ex.reference)}`, `  prediction: ${JSON.stringify(ex.prediction)}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
