// Generation accuracy on a set of (prompt, reference) items, the way HALO's scripts/eval.py measures it:
// each prompt rendered with the chat template and an open assistant turn, greedy decoding, the decoded
// answer scored by exact match against the reference (src/eval/scorers.ts: HALO's rule first, then the
// lenient variant). Prompts are tokenized exactly as training tokenized them (src/data/encode.ts: BOS
// first, added when the template does not write it), so the model continues the sequences it learned.
import { HaloError } from '../core/errors.ts';
import type { EvalItem } from '../data/records.ts';
import type { LlamaModel } from '../models/llama.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';
import { ProgressBar } from '../train/progress.ts';
import { generateBatch } from './generate.ts';
import { scoreAll, type Scorer, type ScorerName } from './scorers.ts';

export interface EvaluateGenerationOptions {
  /** Tokens generated per answer at most. Default 128. */
  maxNewTokens?: number;
  /** Prompts generated side by side (left-padded). Default 1. */
  batchSize?: number;
  /** 'chat' (default, HALO): the chat template with a generation prompt. 'raw': BOS + the record's prompt text. */
  promptFormat?: 'chat' | 'raw';
  /** Extra ids that end an answer (the tokenizer's end tokens always do). */
  stopIds?: readonly number[];
  /** How many (prediction, reference) pairs to return. Default 3. */
  showExamples?: number;
  /** Progress bar on stderr. Default true. */
  progress?: boolean;
  /** Names the data file in error messages. */
  source?: string;
}

export interface ScorerResult {
  scorer: ScorerName;
  description: string;
  correct: number;
  total: number;
  /** correct / total, in [0, 1]. */
  accuracy: number;
}

export interface EvalExample {
  /** Line of the record in its file. */
  line: number;
  prediction: string;
  reference: string;
  /** Verdict of each scorer. */
  correct: Partial<Record<ScorerName, boolean>>;
}

export interface GenerationEval {
  items: number;
  scores: ScorerResult[];
  /** The first showExamples items. */
  examples: EvalExample[];
  /** Every prediction, in item order. */
  predictions: string[];
  /** Answers cut off by maxNewTokens (no stop token produced). */
  cutOff: number;
  generatedTokens: number;
  seconds: number;
}

/** The prompt's token ids as training saw them (BOS first when the tokenizer has one). */
export function promptIds(tok: TextTokenizer, item: EvalItem, format: 'chat' | 'raw' = 'chat', source = 'data'): number[] {
  let ids: number[];
  if (format === 'raw') {
    if (item.rawPrompt === null) {
      throw new HaloError(
        'E_ARG',
        `${source}:${item.line}: prompt format 'raw' needs {"prompt","completion"} or {"question","answer"} records; this one is a chat (use the chat format)`,
      );
    }
    ids = tok.encode(item.rawPrompt);
  } else {
    ids = tok.encode(tok.applyChatTemplate(item.messages, { addGenerationPrompt: true }));
  }
  if (tok.bosId !== null && ids[0] !== tok.bosId) ids.unshift(tok.bosId);
  if (ids.length === 0) throw new HaloError('E_ARG', `${source}:${item.line}: the prompt is empty and the tokenizer has no BOS token to start from`);
  return ids;
}

export function evaluateGeneration(
  model: LlamaModel,
  tok: TextTokenizer,
  items: readonly EvalItem[],
  scorers: readonly Scorer[],
  opts: EvaluateGenerationOptions = {},
): GenerationEval {
  if (items.length === 0) throw new HaloError('E_ARG', 'evaluateGeneration: no items to evaluate (is the data range empty?)');
  if (scorers.length === 0) throw new HaloError('E_ARG', 'evaluateGeneration: no scorers given');
  const batchSize = opts.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new HaloError('E_ARG', `batch size must be a positive integer, got ${batchSize}`);
  const format = opts.promptFormat ?? 'chat';
  const prompts = items.map((it) => promptIds(tok, it, format, opts.source));
  const bar = (opts.progress ?? true) ? new ProgressBar('eval', items.length, { logEvery: Math.max(1, Math.ceil(items.length / 10)) }) : null;
  const t0 = performance.now();
  const predictions: string[] = [];
  let cutOff = 0;
  let generatedTokens = 0;
  for (let i = 0; i < items.length; i += batchSize) {
    const results = generateBatch(model, tok, prompts.slice(i, i + batchSize), { maxNewTokens: opts.maxNewTokens ?? 128, stopIds: opts.stopIds });
    for (const r of results) {
      predictions.push(r.text);
      generatedTokens += r.ids.length;
      if (r.finish === 'length') cutOff++;
    }
    bar?.update(predictions.length, { tokens: generatedTokens });
  }
  const references = items.map((it) => it.reference);
  const summaries = scorers.map((s) => scoreAll(predictions, references, s));
  const show = Math.min(opts.showExamples ?? 3, items.length);
  return {
    items: items.length,
    scores: summaries.map((s, j) => ({ scorer: s.scorer, description: scorers[j]!.description, correct: s.correct, total: s.total, accuracy: s.accuracy })),
    examples: items.slice(0, show).map((it, i) => ({
      line: it.line,
      prediction: predictions[i]!,
      reference: it.reference,
      correct: Object.fromEntries(summaries.map((s) => [s.scorer, s.verdicts[i]!])),
    })),
    predictions,
    cutOff,
    generatedTokens,
    seconds: (performance.now() - t0) / 1000,
  };
}
