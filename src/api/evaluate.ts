// evaluate(): a model on a JSONL set — the eval loss (mean cross-entropy of the answer tokens, the number
// finetune() reports) or greedy-generation exact-match accuracy on SQL / GSM8K (HALO's rule and the lenient
// variant side by side). `halo eval` prints what this returns.
import { HaloError } from '../core/errors.ts';
import { splitSpec } from '../data/data-specs.ts';
import { encodeRecords } from '../data/encode.ts';
import { DEFAULT_MAX_LINE_BYTES, readJsonl } from '../data/jsonl.ts';
import { toEvalItem } from '../data/records.ts';
import { evaluateGeneration, type GenerationEval } from '../eval/evaluate.ts';
import { scorersFor } from '../eval/scorers.ts';
import { describeConfig, type HaloConfig } from '../halo/config.ts';
import { evaluateLoss } from '../train/trainer.ts';
import { loadModelSync, type LoadedModel, type LoadModelOptions } from './load-model.ts';

export type Metric = 'loss' | 'sql' | 'gsm8k';

export interface EvaluateOptions extends LoadModelOptions {
  /** A model folder, or a model loadModel() returned (then the load options are not used). */
  model: string | LoadedModel;
  /** JSONL: FILE or FILE:FROM:TO (rows FROM..TO-1). */
  data: string;
  /** loss: mean cross-entropy of answer tokens; sql / gsm8k: exact-match accuracy of greedy answers. */
  metric: Metric;
  /** At most this many records (after the row range). */
  limit?: number;
  /** Generation: tokens per answer at most (default 128). */
  maxNewTokens?: number;
  /** Sequences per forward (default 4 for loss, 1 for generation). */
  batchSize?: number;
  /** Loss: truncate examples to this many tokens (default 512). */
  maxSeqLen?: number;
  /** 'chat' (default): the chat template; 'raw': BOS + the record's prompt text. */
  promptFormat?: 'chat' | 'raw';
  /** Generation: (prediction, reference) pairs to return (default 3). */
  show?: number;
  maxLineBytes?: number;
  /** Generation: a progress bar on stderr (default false). */
  progress?: boolean;
}

interface EvaluateHeader {
  model: string;
  data: string;
  records: number;
  /** e.g. 'data/sql/valid.jsonl rows 0..9' */
  range: string;
  linears: string;
  halo: HaloConfig;
}

export interface LossEvaluation extends EvaluateHeader {
  metric: 'loss';
  loss: number;
  perplexity: number;
  examples: number;
  /** Answer tokens scored. */
  tokens: number;
  truncated: number;
  seconds: number;
}

export interface AccuracyEvaluation extends EvaluateHeader, GenerationEval {
  metric: 'sql' | 'gsm8k';
}

export type Evaluation = LossEvaluation | AccuracyEvaluation;

export async function evaluate(o: EvaluateOptions & { metric: 'loss' }): Promise<LossEvaluation>;
export async function evaluate(o: EvaluateOptions & { metric: 'sql' | 'gsm8k' }): Promise<AccuracyEvaluation>;
export async function evaluate(o: EvaluateOptions): Promise<Evaluation>;
/** Evaluates a model on `data` by `metric`. */
export async function evaluate(o: EvaluateOptions): Promise<Evaluation> {
  return evaluateSync(o);
}

/** evaluate, synchronously (`halo eval`). */
export function evaluateSync(o: EvaluateOptions): Evaluation {
  if (!['loss', 'sql', 'gsm8k'].includes(o.metric)) throw new HaloError('E_ARG', `metric must be loss, sql or gsm8k, got '${o.metric}'`);
  const spec = splitSpec(o.data);
  let records = readJsonl(spec.file, { maxLineBytes: o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES }).records.slice(spec.from, spec.to);
  if (o.limit !== undefined) records = records.slice(0, o.limit);
  const range = `${spec.file} rows ${spec.from}..${spec.from + records.length - 1}`;
  if (records.length === 0) throw new HaloError('E_ARG', `${o.data}: no records in that row range (the file has fewer rows than ${spec.from + 1}?)`);
  const promptFormat = o.promptFormat ?? 'chat';
  const loaded = typeof o.model === 'string' ? loadModelSync(o.model, o) : o.model;
  const { model, tokenizer: tok, halo, eosTokenIds } = loaded;
  const header: EvaluateHeader = { model: loaded.dir, data: o.data, records: records.length, range, linears: describeConfig(halo), halo };

  if (o.metric === 'loss') {
    const maxSeqLen = o.maxSeqLen ?? 512;
    const { examples, stats } = encodeRecords(records, tok, { maxSeqLen, promptFormat });
    if (examples.length === 0)
      throw new HaloError('E_ARG', `${range}: no example has answer tokens to score (all ${stats.droppedNoLoss} were cut to nothing by --max-seq-len?)`);
    const t0 = performance.now();
    const loss = evaluateLoss(model, examples, o.batchSize ?? 4, tok.padId ?? tok.eosId ?? 0);
    const seconds = (performance.now() - t0) / 1000;
    return {
      ...header,
      metric: 'loss',
      loss,
      perplexity: Math.exp(loss),
      examples: examples.length,
      tokens: stats.lossTokens,
      truncated: stats.truncated,
      seconds,
    };
  }
  const items = records.map((r) => toEvalItem(r, spec.file));
  const r = evaluateGeneration(model, tok, items, scorersFor(o.metric), {
    maxNewTokens: o.maxNewTokens ?? 128,
    batchSize: o.batchSize ?? 1,
    promptFormat,
    stopIds: eosTokenIds,
    showExamples: o.show ?? 3,
    source: spec.file,
    progress: o.progress ?? false,
  });
  return { ...header, metric: o.metric, ...r };
}
