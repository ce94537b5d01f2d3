// Copy-rich pretraining documents: text that says something twice, so that the only way to predict the
// second time is to look back and copy (what "induction heads" do, Olsson et al. 2022). Some documents
// repeat a span of the corpus; the rest repeat a list of random corpus words, which nothing but copying
// predicts. A model pretrained on prose alone for a few million tokens does not learn to copy
// (models/halo-tiny/README.md), and text-to-SQL answers are mostly copies of names from the prompt.
// Writes {"text": …} lines for `halo pretrain --data`; seeded, so the same arguments give the same file.
// Usage: node --import tsx scripts/copy-corpus.ts --in a.txt,b.txt --count N --out OUT.jsonl [--help for the rest]
import fs from 'node:fs';
import { formatHelp, parseArgs, type OptionSpec } from '../src/cli/args.ts';
import { Rng } from '../src/core/rng.ts';

const SEPARATORS = ['\n', '\n\n', ' | ', ' ', ' = ', '\n> '];

export interface CopyCorpusOptions {
  count: number;
  seed: number;
  /** Share of documents that repeat a corpus span (the rest repeat random words). */
  spans: number;
  /** Random words come from the `top` most frequent corpus words (0 = all of them). */
  top: number;
  minWords: number;
  maxWords: number;
}

/** The text of comma-separated files, joined by newlines (the corpus both copy-corpus and sql-drills read). */
export function readCorpus(files: string): string {
  return files
    .split(',')
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n');
}

/** One document: `words` twice around a separator. */
export function copyDocument(words: readonly string[], sep: string): string {
  const s = words.join(' ');
  return `${s}${sep}${s}`;
}

/** `count` documents from the whitespace-separated words of `text`. */
export function copyDocuments(text: string, o: CopyCorpusOptions): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  if (words.length < o.maxWords) throw new Error(`the corpus has ${words.length} words; need at least ${o.maxWords}`);
  const freq = new Map<string, number>();
  for (const w of words) freq.set(w, (freq.get(w) ?? 0) + 1);
  // Most frequent first; ties in code-point order, so the list does not depend on the corpus's word order.
  const ranked = [...freq].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
  const vocab = o.top > 0 ? ranked.slice(0, o.top) : ranked;
  const rng = new Rng(o.seed);
  const docs: string[] = [];
  for (let i = 0; i < o.count; i++) {
    const n = o.minWords + rng.int(o.maxWords - o.minWords + 1);
    let picked: string[];
    if (rng.next() < o.spans) {
      const at = rng.int(words.length - n);
      picked = words.slice(at, at + n);
    } else {
      picked = Array.from({ length: n }, () => vocab[rng.int(vocab.length)]!);
    }
    docs.push(copyDocument(picked, SEPARATORS[rng.int(SEPARATORS.length)]!));
  }
  return docs;
}

const OPTIONS: OptionSpec[] = [
  { name: 'in', type: 'string', help: 'comma-separated text files to draw words and spans from', required: true },
  { name: 'count', type: 'int', help: 'documents to write', required: true },
  { name: 'out', type: 'string', help: 'output JSONL ({"text": …} per line)', required: true },
  { name: 'seed', type: 'int', help: 'random seed', default: 0 },
  { name: 'spans', type: 'number', help: 'share of documents that repeat a corpus span; the rest repeat random words', default: 0.5 },
  { name: 'top', type: 'int', help: 'draw random words from the N most frequent corpus words (0 = all)', default: 0 },
  { name: 'min-words', type: 'int', help: 'shortest repeated span, in words', default: 4 },
  { name: 'max-words', type: 'int', help: 'longest repeated span, in words', default: 40 },
  { name: 'help', type: 'boolean', help: 'show this help' },
];
const USAGE = 'node --import tsx scripts/copy-corpus.ts --in a.txt,b.txt --count N --out OUT.jsonl';

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--help')) {
    process.stdout.write(formatHelp(USAGE, 'Write documents that repeat a span or a list of random words, for pretraining a model to copy', OPTIONS));
    process.exit(0);
  }
  try {
    const { options: o } = parseArgs(process.argv.slice(2), OPTIONS);
    const spans = o.spans as number;
    const [minWords, maxWords] = [o['min-words'] as number, o['max-words'] as number];
    if (!(spans >= 0 && spans <= 1)) throw new Error(`--spans must be in [0, 1], got ${spans}`);
    if (minWords < 1 || maxWords < minWords) throw new Error(`need 1 ≤ --min-words ≤ --max-words, got ${minWords} and ${maxWords}`);
    const text = readCorpus(o.in as string);
    const docs = copyDocuments(text, { count: o.count as number, seed: o.seed as number, spans, top: o.top as number, minWords, maxWords });
    fs.writeFileSync(o.out as string, docs.map((t) => JSON.stringify({ text: t })).join('\n') + '\n');
    process.stderr.write(`${docs.length} copy documents → ${o.out}\n`);
  } catch (e) {
    process.stderr.write(`copy-corpus: ${(e as Error).message}\n`);
    process.exit(2);
  }
}
