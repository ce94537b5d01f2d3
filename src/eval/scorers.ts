// Exact-match scorers for generated answers. The `*-exact` variants reproduce HALO's scripts/eval.py
// (`is_correct`) so accuracies are comparable with the paper's (spec §11); the other variants forgive
// differences that do not change the answer and are reported beside them, never instead of them.
//
//   sql-exact       pred.strip() == ref.strip()                                      (HALO)
//   sql-normalized  equal after: trailing ';' dropped, whitespace between tokens ignored, unquoted words
//                   (keywords and identifiers) lower-cased; 'string literals' and "quoted identifiers" kept
//                   verbatim. So `SELECT COUNT(*) FROM t;` == `select count ( * ) from T`, but 'Paris' ≠ 'paris'.
//   gsm8k-exact     the text after the last '####', stripped, equal as strings        (HALO; a prediction
//                   without '####' is compared whole, as HALO does)
//   gsm8k-numeric   the first number after the last '####' in each, with ',' between digits, '$' and a
//                   trailing '.' ignored, equal as numbers ('#### $1,234.' == '#### 1234', '0.50' == '.5');
//                   a prediction without '####' or without a number there is wrong.
// JS trim() and Python strip() agree on all ASCII whitespace (they differ only on a few rare Unicode code points).
import { HaloError } from '../core/errors.ts';

export type ScorerName = 'sql-exact' | 'sql-normalized' | 'gsm8k-exact' | 'gsm8k-numeric';

export interface Scorer {
  name: ScorerName;
  description: string;
  /** True if the prediction counts as correct. */
  score(prediction: string, reference: string): boolean;
}

// ---- SQL ----

/** HALO's SQL rule: equal strings after stripping surrounding whitespace. */
export function sqlExact(prediction: string, reference: string): boolean {
  return prediction.trim() === reference.trim();
}

/** Normal form used by sqlNormalized: tokens joined by single spaces (see the header). */
export function normalizeSql(sql: string): string {
  const toks: string[] = [];
  const s = sql;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"' || c === '`' || c === '[') {
      // Quoted: copy verbatim up to the closing quote ('' / "" escapes stay inside).
      const close = c === '[' ? ']' : c;
      let j = i + 1;
      for (;;) {
        if (j >= s.length) break;
        if (s[j] === close) {
          if (close !== ']' && s[j + 1] === close) {
            j += 2;
            continue;
          }
          j++;
          break;
        }
        j++;
      }
      toks.push(s.slice(i, j));
      i = j;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < s.length && /[A-Za-z0-9_$]/.test(s[j]!)) j++;
      toks.push(s.slice(i, j).toLowerCase());
      i = j;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < s.length && /[0-9.]/.test(s[j]!)) j++;
      toks.push(s.slice(i, j));
      i = j;
    } else {
      const two = s.slice(i, i + 2);
      if (['<>', '<=', '>=', '!=', '==', '||'].includes(two)) {
        toks.push(two);
        i += 2;
      } else {
        toks.push(c);
        i++;
      }
    }
  }
  while (toks.length > 0 && toks[toks.length - 1] === ';') toks.pop();
  return toks.join(' ');
}

/** Lenient SQL match: equal normal forms (normalizeSql). */
export function sqlNormalized(prediction: string, reference: string): boolean {
  return normalizeSql(prediction) === normalizeSql(reference);
}

// ---- GSM8K ----

/** HALO's final-answer string: the text after the last '####' (or all of it), stripped. */
export function gsm8kFinalAnswer(text: string): string {
  const parts = text.trim().split('####');
  return parts[parts.length - 1]!.trim();
}

/** HALO's GSM8K rule: final-answer strings equal. */
export function gsm8kExact(prediction: string, reference: string): boolean {
  return gsm8kFinalAnswer(prediction) === gsm8kFinalAnswer(reference);
}

/**
 * The number after the last '####': ',' between digits and '$' removed, a trailing '.' ignored, '−' (U+2212)
 * read as '-'. Null when there is no '####' or no number after it.
 */
export function extractGsm8kNumber(text: string): number | null {
  const at = text.lastIndexOf('####');
  if (at < 0) return null;
  const seg = text
    .slice(at + 4)
    .replace(/\u2212/g, '-')
    .replace(/\$/g, '')
    .replace(/(\d),(?=\d)/g, '$1');
  const m = /[-+]?(?:\d+(?:\.\d+)?|\.\d+)/.exec(seg);
  if (!m) return null;
  const x = Number(m[0]);
  return Number.isFinite(x) ? x : null;
}

/** Lenient GSM8K match: final answers equal as numbers. */
export function gsm8kNumeric(prediction: string, reference: string): boolean {
  const p = extractGsm8kNumber(prediction);
  const r = extractGsm8kNumber(reference);
  return p !== null && r !== null && p === r;
}

// ---- registry ----

export const SCORERS: { readonly [N in ScorerName]: Scorer } = {
  'sql-exact': { name: 'sql-exact', description: "HALO's rule: strings equal after trimming", score: sqlExact },
  'sql-normalized': {
    name: 'sql-normalized',
    description: "ignores whitespace between tokens, a trailing ';' and the case of unquoted words",
    score: sqlNormalized,
  },
  'gsm8k-exact': { name: 'gsm8k-exact', description: "HALO's rule: text after the last '####' equal", score: gsm8kExact },
  'gsm8k-numeric': {
    name: 'gsm8k-numeric',
    description: "number after the last '####' equal (',', '$', trailing '.' ignored)",
    score: gsm8kNumeric,
  },
};

export function getScorer(name: string): Scorer {
  const s = (SCORERS as Record<string, Scorer>)[name];
  if (!s) throw new HaloError('E_ARG', `unknown scorer '${name}'; available: ${Object.keys(SCORERS).join(', ')}`);
  return s;
}

/** The scorers to report for a dataset, HALO's (paper-comparable) first. */
export function scorersFor(dataset: 'sql' | 'gsm8k'): Scorer[] {
  return dataset === 'sql' ? [SCORERS['sql-exact'], SCORERS['sql-normalized']] : [SCORERS['gsm8k-exact'], SCORERS['gsm8k-numeric']];
}

export interface ScoreSummary {
  scorer: ScorerName;
  correct: number;
  total: number;
  /** correct / total (0 when total is 0). */
  accuracy: number;
  /** Per-item verdicts, in input order. */
  verdicts: boolean[];
}

/** Scores predictions against references pairwise. */
export function scoreAll(predictions: readonly string[], references: readonly string[], scorer: Scorer): ScoreSummary {
  if (predictions.length !== references.length) {
    throw new HaloError('E_SHAPE', `scoreAll: ${predictions.length} predictions but ${references.length} references`);
  }
  const verdicts = predictions.map((p, i) => scorer.score(p, references[i]!));
  const correct = verdicts.filter(Boolean).length;
  return { scorer: scorer.name, correct, total: verdicts.length, accuracy: verdicts.length ? correct / verdicts.length : 0, verdicts };
}
