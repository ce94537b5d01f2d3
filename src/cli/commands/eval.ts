// `halo eval`: a model folder on a JSONL set — eval loss (mean cross-entropy of the answer tokens, the same
// number fine-tuning reports) or generation accuracy (greedy answers scored by exact match: HALO's rule and
// the lenient variant side by side). The model runs in full precision by default; --level/--format run it
// through the quantized HALO linears, and --as-trained re-applies the halo_config.json that `halo finetune`
// saved beside the weights (what HALO's eval.py does with hadamard_config.json). --adapter DIR applies a PEFT
// adapter folder (LoRA/HUT) to the model without merging it. The evaluation itself is the API's evaluate()
// (src/api/evaluate.ts); this file maps the flags onto it and prints the result.
import { evaluateSync } from '../../api/evaluate.ts';
import { loadModelSync, readHaloConfigFile, type LoadedModel } from '../../api/load-model.ts';
import type { BackendName } from '../../backend/select.ts';
import type { HaloConfig } from '../../halo/config.ts';
import type { OptionSpec, ParsedOptions } from '../args.ts';
import type { Command } from '../command.ts';
import { AT_LEAST_1, checkRanges, NON_NEGATIVE } from '../checks.ts';
import { HALO_OPTIONS, haloConfigFromOptions, MAX_LINE_BYTES_OPTION, maxLineBytesFrom } from '../halo-options.ts';
import * as path from 'node:path';

/**
 * HALO_OPTIONS for commands that only run the model: full precision unless asked (--level none), and a
 * --format that follows the level (int8 once a HALO level is named, fp32 for none).
 */
export const INFERENCE_HALO_OPTIONS: readonly OptionSpec[] = [
  ...HALO_OPTIONS.map((o): OptionSpec => {
    if (o.name === 'level') return { ...o, default: 'none', help: 'run the linears as this HALO level (none = full precision)' };
    if (o.name === 'format')
      return { name: o.name, type: o.type, choices: o.choices, help: 'precision of the linear matmuls (default: fp32 for level none, else int8)' };
    return o;
  }),
  {
    name: 'as-trained',
    type: 'boolean',
    help: "use the HALO config saved by 'halo finetune' (MODEL/halo_config.json, or ADAPTER/halo_config.json with --adapter)",
  },
  {
    name: 'adapter',
    type: 'string',
    help: 'a PEFT adapter folder (adapter_config.json + adapter_model.safetensors, LoRA or HUT) to apply to --model, unmerged',
  },
  { name: 'allow-nonfinite', type: 'boolean', help: 'load weights that hold NaN/Inf (by default an error naming the tensor)' },
];

/** The HALO config to run a model with: MODEL/halo_config.json under --as-trained, else the flags. */
export function inferenceHaloConfig(o: ParsedOptions, trainedDir: string): HaloConfig {
  if (o['as-trained']) return readHaloConfigFile(path.join(trainedDir, 'halo_config.json'));
  const format = o.format ?? (o.level === 'none' ? 'fp32' : 'int8');
  return haloConfigFromOptions({ ...o, format });
}

/** Loads model + tokenizer for inference (no gradient buffers) and says what runs on stderr. */
export function loadForInference(modelDir: string, o: ParsedOptions): LoadedModel {
  const adapter = o.adapter as string | undefined;
  const halo = inferenceHaloConfig(o, adapter ?? modelDir);
  return loadModelSync(modelDir, {
    ...halo,
    adapter,
    backend: o.backend as BackendName | undefined,
    allowNonfinite: o['allow-nonfinite'] === true,
    log: (line) => process.stderr.write(line + '\n'),
  });
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Evaluate a model folder on JSONL data: eval loss, or greedy-generation exact-match accuracy (SQL, GSM8K)',
  usage: 'halo eval --model DIR [--adapter DIR] --data FILE[:FROM:TO] --metric loss|sql|gsm8k [--eval-limit N] [--max-new-tokens 128] [--json]',
  options: [
    { name: 'model', type: 'string', help: 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)', required: true },
    { name: 'data', type: 'string', help: 'JSONL (messages / prompt+completion / question+answer); FILE:FROM:TO takes rows FROM..TO-1', required: true },
    {
      name: 'metric',
      type: 'string',
      help: 'loss = mean cross-entropy of answer tokens; sql / gsm8k = exact-match accuracy of greedy answers',
      required: true,
      choices: ['loss', 'sql', 'gsm8k'],
    },
    { name: 'eval-limit', aliases: ['limit'], type: 'int', help: 'evaluate at most this many records (after the row range)' },
    { name: 'max-new-tokens', type: 'int', help: 'tokens generated per answer at most', default: 128 },
    { name: 'batch-size', type: 'int', help: 'sequences per forward (default: 4 for loss, 1 for generation)' },
    { name: 'max-seq-len', type: 'int', help: 'loss: truncate examples to this many tokens', default: 512 },
    MAX_LINE_BYTES_OPTION,
    {
      name: 'prompt-format',
      type: 'string',
      help: "chat = the chat template (HALO); raw = BOS + the record's prompt text",
      default: 'chat',
      choices: ['chat', 'raw'],
    },
    { name: 'show', type: 'int', help: 'print this many (prediction, reference) pairs', default: 3 },
    { name: 'json', type: 'boolean', help: 'print one JSON object instead of text' },
    ...INFERENCE_HALO_OPTIONS,
  ],
  async run({ options: o }) {
    checkRanges(o, {
      'eval-limit': AT_LEAST_1,
      'max-new-tokens': AT_LEAST_1,
      'batch-size': AT_LEAST_1,
      'max-seq-len': AT_LEAST_1,
      show: NON_NEGATIVE,
      'max-line-bytes': AT_LEAST_1,
    });
    const modelDir = o.model as string;
    const metric = o.metric as 'loss' | 'sql' | 'gsm8k';
    const adapter = o.adapter as string | undefined;
    const r = evaluateSync({
      model: modelDir,
      adapter,
      ...inferenceHaloConfig(o, adapter ?? modelDir),
      backend: o.backend as BackendName | undefined,
      allowNonfinite: o['allow-nonfinite'] === true,
      log: (line) => process.stderr.write(line + '\n'),
      data: o.data as string,
      metric,
      limit: o['eval-limit'] as number | undefined,
      maxNewTokens: o['max-new-tokens'] as number,
      batchSize: o['batch-size'] as number | undefined,
      maxSeqLen: o['max-seq-len'] as number,
      promptFormat: o['prompt-format'] as 'chat' | 'raw',
      show: o.show as number,
      maxLineBytes: maxLineBytesFrom(o),
      progress: true,
    });
    const range = r.range;
    const header = { model: modelDir, data: o.data as string, records: r.records, linears: r.linears, halo: r.halo };
    if (r.metric === 'loss') {
      const result = {
        ...header,
        metric,
        loss: r.loss,
        perplexity: r.perplexity,
        examples: r.examples,
        tokens: r.tokens,
        truncated: r.truncated,
        seconds: r.seconds,
      };
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else {
        process.stdout.write(
          `eval loss ${r.loss.toFixed(4)} (perplexity ${r.perplexity.toFixed(2)}) over ${r.tokens} answer tokens of ${r.examples} examples` +
            `${r.truncated ? ` (${r.truncated} truncated to ${o['max-seq-len']} tokens)` : ''}; ${range}; ${r.seconds.toFixed(1)} s\n`,
        );
      }
      return 0;
    }
    if (o.json) {
      process.stdout.write(
        JSON.stringify({
          ...header,
          metric,
          items: r.items,
          scores: r.scores,
          examples: r.examples,
          cutOff: r.cutOff,
          generatedTokens: r.generatedTokens,
          seconds: r.seconds,
        }) + '\n',
      );
      return 0;
    }
    const lines = [
      `${metric} accuracy on ${r.items} items (${range}); ${r.generatedTokens} tokens generated in ${r.seconds.toFixed(1)} s, ${r.cutOff} answers cut off at ${o['max-new-tokens']} tokens`,
    ];
    const w = Math.max(...r.scores.map((s) => s.scorer.length));
    for (const s of r.scores) lines.push(`  ${s.scorer.padEnd(w)}  ${(100 * s.accuracy).toFixed(2).padStart(6)}%  (${s.correct}/${s.total})  ${s.description}`);
    for (const ex of r.examples) {
      const verdicts = Object.entries(ex.correct)
        .map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`)
        .join(', ');
      lines.push(`line ${ex.line} (${verdicts})`, `  reference:  ${JSON.stringify(ex.reference)}`, `  prediction: ${JSON.stringify(ex.prediction)}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
