// GSM8K-format arithmetic a model of halo-tiny's size can learn: one-step word problems ("Mia has 7 cups. Mia
// gets 5 more cups. …") whose answer is a GSM8K worked solution with a calculator annotation and a final
// `#### N` line, so the shipped GSM8K scorers (src/eval/scorers.ts) grade them unchanged. Real GSM8K needs
// multi-step reasoning a 6.8M-parameter model cannot do at all (exact match 0 for every method, which would
// hide any difference between them); single-digit addition and subtraction is a fact table it can learn in a
// few hundred steps, with the same answer format. `experiment compare --tasks arith` and data/arith/ use it.
// Deterministic from the seed; the eval split leaves out every question that is also in the train split.
// Usage: node --import tsx scripts/arith-data.ts OUT_DIR [TRAIN_COUNT] [EVAL_COUNT] [SEED]
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../src/core/rng.ts';

const NAMES = ['Tom', 'Anna', 'Ben', 'Lily', 'Sam', 'Mia', 'Jack', 'Emma', 'Leo', 'Zoe'];
const OBJECTS = ['apples', 'books', 'pens', 'cards', 'coins', 'eggs', 'cups', 'toys', 'stamps', 'shells'];

export interface ArithRow {
  question: string;
  answer: string;
}

/** One problem: a + b (a in 2..9, b in 1..9) or c − b with c = a + b, so every result is a fact of the same table. */
export function arithProblem(rng: Rng): ArithRow {
  const name = NAMES[rng.int(NAMES.length)]!;
  const obj = OBJECTS[rng.int(OBJECTS.length)]!;
  const a = 2 + rng.int(8); // never "1 apples"
  const b = 1 + rng.int(9);
  const c = a + b;
  if (rng.int(2) === 0) {
    return {
      question: `${name} has ${a} ${obj} and gets ${b} more. How many ${obj} does ${name} have?`,
      answer: `${a} + ${b} = <<${a}+${b}=${c}>>${c} ${obj}.\n#### ${c}`,
    };
  }
  return {
    question: `${name} has ${c} ${obj} and gives away ${b}. How many ${obj} does ${name} have left?`,
    answer: `${c} - ${b} = <<${c}-${b}=${a}>>${a} ${obj}.\n#### ${a}`,
  };
}

/** `trainCount` training rows, then `evalCount` eval rows whose questions are not in the training rows. */
export function makeArith(trainCount: number, evalCount: number, seed: number): { train: ArithRow[]; eval: ArithRow[] } {
  const rng = new Rng(seed);
  const train = Array.from({ length: trainCount }, () => arithProblem(rng));
  const seen = new Set(train.map((r) => r.question));
  const evalRows: ArithRow[] = [];
  // 10 names × 10 objects × 162 facts leave thousands of unseen questions, so this ends quickly.
  while (evalRows.length < evalCount) {
    const r = arithProblem(rng);
    if (seen.has(r.question)) continue;
    seen.add(r.question);
    evalRows.push(r);
  }
  return { train, eval: evalRows };
}

export const toJsonl = (rows: readonly ArithRow[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

if (import.meta.url === `file://${process.argv[1]}`) {
  const [out, trainArg = '2000', evalArg = '200', seedArg = '0'] = process.argv.slice(2);
  const nums = [trainArg, evalArg, seedArg].map(Number);
  if (!out || nums.some((n) => !Number.isInteger(n) || n < 0)) {
    console.error('usage: node --import tsx scripts/arith-data.ts OUT_DIR [TRAIN_COUNT] [EVAL_COUNT] [SEED]');
    process.exit(2);
  }
  const { train, eval: evalRows } = makeArith(nums[0]!, nums[1]!, nums[2]!);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'train.jsonl'), toJsonl(train));
  fs.writeFileSync(path.join(out, 'eval.jsonl'), toJsonl(evalRows));
}
