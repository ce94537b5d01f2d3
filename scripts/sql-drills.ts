// Text-to-SQL "drills": new training examples made from the SQL training split by renaming what the answer
// copies from the prompt. Each drill takes a training example and gives its table a fresh name, swaps the
// columns the question names in words for other column names, and swaps the quoted values for values from
// other examples, in the schema, the question and the answer alike. The query's shape and the question's
// wording stay; the names and values become ones the model has not seen together, so memorizing the
// training answers no longer lowers the loss and copying from the prompt does. It is a tool for teaching a
// base model to copy schema names; on halo-tiny, 1000 steps of it did not. With corpus values, on a base that
// already copies a little (pretrain-copy-curriculum.sh stage E), it did: models/halo-tiny/README.md.
// Only the training split is read; the eval split stays unseen.
// With VALUES_CORPUS, 80% of the values are instead 1–3 consecutive words of that text, so few values repeat
// and an answer's value can only come from the question.
// Usage: node --import tsx scripts/sql-drills.ts IN.jsonl[:FROM:TO] COUNT OUT.jsonl [SEED] [VALUES_CORPUS.txt,...]
import fs from 'node:fs';
import { splitSpec } from '../src/cli/halo-options.ts';
import { Rng } from '../src/core/rng.ts';
import { readCorpus } from './copy-corpus.ts';

/** A training example cut at what a drill renames; prefix + schema + sep + question is the user turn. */
interface Example {
  prefix: string;
  table: string;
  columns: string[];
  types: string[];
  sep: string;
  question: string;
  answer: string;
}

const SCHEMA = /^([\s\S]*context: )CREATE TABLE (\S+) \((.*)\)(\s*question: )([\s\S]*)$/;

function parse(line: string): Example | undefined {
  const messages = (JSON.parse(line) as { messages: { role: string; content: string }[] }).messages;
  const m = SCHEMA.exec(messages[0].content);
  if (!m || m[3].includes('CREATE')) return undefined; // multi-table contexts keep their own shape
  const cols = m[3].split(', ').map((c) => c.split(' '));
  if (cols.some((c) => c.length !== 2)) return undefined;
  if ((messages[1].content.match(/'/g) ?? []).length % 2 !== 0) return undefined; // a quote inside a value (O'Brien)
  return { prefix: m[1], table: m[2], columns: cols.map((c) => c[0]), types: cols.map((c) => c[1]), sep: m[4], question: m[5], answer: messages[1].content };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const wordRe = (w: string, flags = 'g'): RegExp => new RegExp(`(?<![\\w])${escape(w)}(?![\\w])`, flags);
const phraseOf = (column: string): string => column.replace(/_/g, ' ').trim();
const titleCase = (s: string): string => s.replace(/\b[a-z]/g, (c) => c.toUpperCase());
const isLower = (s: string): boolean => s === s.toLowerCase();

// The answer's quoted values, where the question says them: names inside them are values, not columns.
function insideValue(question: string, answer: string, at: number, length: number): boolean {
  for (const [, value] of answer.matchAll(/'([^']+)'/g)) {
    const v = question.search(wordRe(value, 'i'));
    if (v >= 0 && at < v + value.length && v < at + length) return true;
  }
  return false;
}

const outsideQuotes = (sql: string, edit: (part: string) => string): string =>
  sql
    .split(/('[^']*')/)
    .map((part, i) => (i % 2 === 0 ? edit(part) : part))
    .join('');

function freshTable(table: string, rng: Rng): string {
  if (/^table_name_\d+$/.test(table)) return `table_name_${1 + rng.int(99)}`;
  if (/^table_\d+_\d+$/.test(table)) return `table_${1000000 + rng.int(29000000)}_${1 + rng.int(40)}`;
  return table;
}

interface Pools {
  columns: string[];
  values: string[];
  corpusWords?: string[];
}

// A value the model cannot have memorized: 1–3 consecutive words from the corpus, in their own case.
function corpusValue(words: string[], rng: Rng): string {
  const at = rng.int(words.length - 3);
  return words.slice(at, at + 1 + rng.int(3)).join(' ');
}

function drill(ex: Example, pools: Pools, rng: Rng): string {
  let { question, answer } = ex;
  const columns = [...ex.columns];
  const table = freshTable(ex.table, rng);
  answer = outsideQuotes(answer, (part) => part.replace(wordRe(ex.table), table));
  // Columns the question spells out ("Final Placing" for final_placing) are renamed everywhere.
  for (let i = 0; i < columns.length; i++) {
    const col = columns[i];
    const phrase = phraseOf(col);
    const at = phrase ? question.search(wordRe(phrase, 'i')) : -1;
    if (at < 0 || !/^[a-z][a-z0-9_]*$/.test(col) || insideValue(question, answer, at, phrase.length) || rng.next() < 0.2) continue;
    let next = col;
    for (let tries = 0; tries < 10 && (next === col || columns.includes(next)); tries++) next = pools.columns[rng.int(pools.columns.length)];
    if (next === col || columns.includes(next)) continue;
    const said = question.slice(at, at + phrase.length);
    const nextPhrase = phraseOf(next);
    question = question.slice(0, at) + (isLower(said) ? nextPhrase : titleCase(nextPhrase)) + question.slice(at + phrase.length);
    answer = outsideQuotes(answer, (part) => part.replace(wordRe(col), next));
    columns[i] = next;
  }
  // Quoted values found in the question are swapped for another example's value (or, with a corpus, mostly
  // for corpus words), keeping each side's case: WikiSQL-derived answers lowercase what the question
  // capitalizes ('sri lanka' for "Sri Lanka"), so a capitalized corpus value teaches that too.
  answer = answer.replace(/'([^']+)'/g, (whole, value: string) => {
    const at = question.search(wordRe(value, 'i'));
    if (at < 0) return whole;
    const said = question.slice(at, at + value.length);
    const words = pools.corpusWords;
    const fromCorpus = words !== undefined && rng.next() < 0.8;
    const next = fromCorpus ? corpusValue(words, rng) : pools.values[rng.int(pools.values.length)];
    const spoken = isLower(said) ? next.toLowerCase() : fromCorpus ? titleCase(next) : next;
    question = question.slice(0, at) + spoken + question.slice(at + value.length);
    // Without a corpus the answer's value keeps the source answer's own case even where the question says it
    // in lowercase ('Chittorgarh' for "chittorgarh"): the drills that models/halo-tiny's curriculum stages C
    // and D trained on were made that way, and scripts/build-halo-tiny.sh must make the same bytes again.
    const written = words === undefined ? next : spoken;
    return `'${isLower(value) ? written.toLowerCase() : written}'`;
  });
  const schema = `CREATE TABLE ${table} (${columns.map((c, i) => `${c} ${ex.types[i]}`).join(', ')})`;
  const user = `${ex.prefix}${schema}${ex.sep}${question}`;
  return JSON.stringify({
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: answer },
    ],
  });
}

/** `corpus`, when given, supplies most of the drills' values (see corpusValue) instead of the split's own. */
export function makeDrills(lines: string[], count: number, seed: number, corpus?: string): string[] {
  const examples = lines.map(parse).filter((e): e is Example => e !== undefined);
  const corpusWords = corpus
    ?.split(/\s+/)
    .map((w) => w.replace(/^[^\w]+|[^\w]+$/g, ''))
    .filter((w) => /^[A-Za-z0-9][\w-]*$/.test(w));
  if (corpusWords !== undefined && corpusWords.length < 10) throw new Error(`the values corpus has ${corpusWords.length} usable words; it needs at least 10`);
  const pools: Pools = {
    corpusWords,
    columns: [...new Set(examples.flatMap((e) => e.columns).filter((c) => /^[a-z][a-z0-9_]*[a-z0-9]$/.test(c)))].sort(),
    values: [...new Set(examples.flatMap((e) => [...e.answer.matchAll(/'([^']+)'/g)].map((m) => m[1])))].filter((v) => !v.includes("'")).sort(),
  };
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => drill(examples[rng.int(examples.length)], pools, rng));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, countArg, out, seedArg, valuesFrom] = process.argv.slice(2);
  if (!input || !countArg || !out) {
    console.error('usage: node --import tsx scripts/sql-drills.ts IN.jsonl[:FROM:TO] COUNT OUT.jsonl [SEED] [VALUES_CORPUS.txt,...]');
    process.exit(2);
  }
  try {
    const { file, from, to } = splitSpec(input);
    const lines = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .slice(from, to);
    const corpus = valuesFrom === undefined ? undefined : readCorpus(valuesFrom);
    fs.writeFileSync(out, makeDrills(lines, Number(countArg), Number(seedArg ?? 0), corpus).join('\n') + '\n');
  } catch (e) {
    console.error(`sql-drills: ${(e as Error).message}`);
    process.exit(2);
  }
}
