// The fine-tuning tasks the experiments run (experiment ablation, experiment compare): each task's shipped
// train/eval split and its exact-match scorers, and the one function that turns a task's files into the
// encoded examples and eval items a run needs, so the two commands read data the same way.
import { encodeRecords, type Example } from '../data/encode.ts';
import { readDataSpecs } from '../data/data-specs.ts';
import { toEvalItem, type EvalItem } from '../data/records.ts';
import { scorersFor, type Scorer } from '../eval/scorers.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';

export const TASK_NAMES = ['sql', 'gsm8k', 'arith'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export interface TaskData {
  /** Paths relative to the repository root (data/ ships in a clone, not in the npm package). */
  train: string;
  eval: string;
  /** Which dataset's scorers grade it: arith is GSM8K-format, so the GSM8K scorers apply unchanged. */
  scoring: 'sql' | 'gsm8k';
  description: string;
}

export const TASKS: { readonly [T in TaskName]: TaskData } = {
  sql: { train: 'data/sql/train.jsonl', eval: 'data/sql/eval.jsonl', scoring: 'sql', description: "text-to-SQL (HALO's SQL data)" },
  gsm8k: { train: 'data/gsm8k/train.jsonl', eval: 'data/gsm8k/test.jsonl', scoring: 'gsm8k', description: 'GSM8K grade-school math' },
  arith: {
    train: 'data/arith/train.jsonl',
    eval: 'data/arith/eval.jsonl',
    scoring: 'gsm8k',
    description: 'GSM8K-format one-step arithmetic (scripts/arith-data.ts)',
  },
};

export interface TaskDataOptions {
  /** FILE[:FROM:TO] specs, comma-separated. */
  trainSpec: string;
  evalSpec: string;
  scoring: 'sql' | 'gsm8k';
  maxSeqLen: number;
  maxLineBytes?: number;
  /** Use only the first N training examples (0 = all). */
  maxExamples: number;
  /** Held-out examples for the eval loss and for exact match: the first N of the eval split (0 = all). */
  evalLossLimit: number;
  evalLimit: number;
}

export interface LoadedTaskData {
  trainSet: Example[];
  evalSet: Example[];
  evalItems: EvalItem[];
  scorers: Scorer[];
}

export function loadTaskData(tok: TextTokenizer, o: TaskDataOptions): LoadedTaskData {
  const read = { maxLineBytes: o.maxLineBytes };
  const encode = { maxSeqLen: o.maxSeqLen };
  const first = <T>(a: T[], n: number) => (n > 0 ? a.slice(0, n) : a);
  const trainRead = readDataSpecs(o.trainSpec, read);
  const evalRead = readDataSpecs(o.evalSpec, read);
  return {
    trainSet: encodeRecords(first(trainRead.records, o.maxExamples), tok, encode).examples,
    evalSet: encodeRecords(first(evalRead.records, o.evalLossLimit), tok, encode).examples,
    evalItems: first(evalRead.records, o.evalLimit).map((r) => toEvalItem(r, evalRead.source)),
    scorers: scorersFor(o.scoring),
  };
}
