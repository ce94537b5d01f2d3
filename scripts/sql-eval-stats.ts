// How much of a text-to-SQL eval split can a model answer by copying from the question? Counts the quoted
// values in the reference answers that are not in their question verbatim (WikiSQL lowercases values, so a
// model has to change case as well as copy), and the reference answers at least MAX_NEW_TOKENS long (a greedy
// answer cut at that budget cannot match them). halo-tiny's model card quotes both.
// Usage: node --import tsx scripts/sql-eval-stats.ts [EVAL.jsonl] [MODEL_DIR] [MAX_NEW_TOKENS]
//        (default data/sql/eval.jsonl, models/halo-tiny, 48)
import path from 'node:path';
import { readJsonl } from '../src/data/jsonl.ts';
import { recordMessages } from '../src/data/records.ts';
import { loadTokenizer } from '../src/tokenizer/hf.ts';

export interface QaPair {
  question: string;
  answer: string;
}
export interface SqlEvalStats {
  answers: number;
  quoted: number;
  quotedNotVerbatim: number;
  longAnswers: number;
}

/** Single-quoted literals in a SQL answer; '' inside a literal is an escaped quote. */
export function quotedValues(sql: string): string[] {
  return [...sql.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1].replaceAll("''", "'"));
}

export function sqlEvalStats(pairs: readonly QaPair[], countTokens: (s: string) => number, maxNewTokens: number): SqlEvalStats {
  const out: SqlEvalStats = { answers: pairs.length, quoted: 0, quotedNotVerbatim: 0, longAnswers: 0 };
  for (const { question, answer } of pairs) {
    for (const v of quotedValues(answer)) {
      out.quoted++;
      if (!question.includes(v)) out.quotedNotVerbatim++;
    }
    if (countTokens(answer) >= maxNewTokens) out.longAnswers++;
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = path.resolve(import.meta.dirname, '..');
  const file = process.argv[2] ?? path.join(root, 'data/sql/eval.jsonl');
  const model = process.argv[3] ?? path.join(root, 'models/halo-tiny');
  const budget = Number(process.argv[4] ?? 48);
  if (!Number.isInteger(budget) || budget < 1) {
    process.stderr.write(`sql-eval-stats: MAX_NEW_TOKENS must be a positive integer, got ${process.argv[4]}\n`);
    process.exit(2);
  }
  const tok = loadTokenizer(model);
  const pairs = readJsonl(file).records.map((r) => {
    const msgs = recordMessages(r);
    return {
      question: msgs
        .filter((m) => m.role !== 'assistant')
        .map((m) => m.content)
        .join('\n'),
      answer: msgs.at(-1)!.content,
    };
  });
  const s = sqlEvalStats(pairs, (a) => tok.encode(a).length, budget);
  process.stdout.write(
    `${file}: ${s.answers} answers\n` +
      `  quoted values in the answers: ${s.quoted}, not in their question verbatim: ${s.quotedNotVerbatim}\n` +
      `  answers of ${budget} or more tokens (${path.basename(model)}'s tokenizer): ${s.longAnswers}\n`,
  );
}
