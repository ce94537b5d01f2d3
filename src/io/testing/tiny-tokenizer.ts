// A small but real tokenizer for tests: byte-level BPE in the same tokenizer.json layout as Llama 3 (GPT-2
// byte↔unicode alphabet, Llama 3's split regex, ByteLevel decoder, TemplateProcessing that prepends
// <|begin_of_text|>), its merges learned here from a built-in corpus, plus the special tokens and a chat
// template. Any text round-trips (every byte is a token), so tests can encode arbitrary strings.
// 'llama3' gives Llama 3's special tokens and chat template; 'chatml' gives Qwen2's (<|im_start|> …).

import { HaloError } from '../../core/errors.ts';

import {
  byteLevelBpeFiles,
  bytesToUnicode,
  CHATML_SPECIALS,
  LLAMA3_SPECIALS,
  type ChatFormat,
  type TinyTokenizerFiles,
} from '../../tokenizer/byte-level-bpe.ts';

export {
  bytesToUnicode,
  CHATML_CHAT_TEMPLATE,
  CHATML_SPECIALS,
  LLAMA3_CHAT_TEMPLATE,
  LLAMA3_SPECIALS,
  LLAMA3_SPLIT_REGEX,
} from '../../tokenizer/byte-level-bpe.ts';
export type { ChatFormat, TinyTokenizerFiles } from '../../tokenizer/byte-level-bpe.ts';

const CORPUS = `The quick brown fox jumps over the lazy dog. Hello world! Hello there, how are you today?
You are a helpful assistant. The user asks a question and the assistant answers it step by step.
Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.
How many clips did Natalia sell altogether in April and May? Natalia sold 48/2 = 24 clips in May.
Natalia sold 48+24 = 72 clips altogether in April and May. #### 72
SELECT name, count(*) FROM users WHERE age > 30 GROUP BY name ORDER BY name;
SELECT title FROM movies WHERE year = 2020 AND rating >= 8;
def main():\n    return the answer\n
the the the and and and of of to to in in is is that that it it for for with with as as on on`;

/** Learns up to `maxMerges` BPE merges (most frequent pair first, ties by string order) on the corpus. */
function learnMerges(maxMerges: number): [string, string][] {
  const b2u = bytesToUnicode();
  const enc = new TextEncoder();
  const counts = new Map<string, number>();
  const split = /'s|'t|'re|'ve|'m|'ll|'d|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
  for (const m of CORPUS.matchAll(split)) {
    const w = [...enc.encode(m[0])].map((b) => b2u[b]).join('\u0000');
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  let words = [...counts].map(([w, c]) => ({ syms: w.split('\u0000'), c }));
  const merges: [string, string][] = [];
  while (merges.length < maxMerges) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = syms[i] + '\u0000' + syms[i + 1];
        pairs.set(k, (pairs.get(k) ?? 0) + c);
      }
    }
    let best = '';
    let bestC = 1;
    for (const [k, c] of pairs) if (c > bestC || (c === bestC && c > 1 && k < best)) [best, bestC] = [k, c];
    if (bestC < 2) break;
    const [a, b] = best.split('\u0000') as [string, string];
    merges.push([a, b]);
    words = words.map(({ syms, c }) => {
      const out: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(syms[i]!);
      }
      return { syms: out, c };
    });
  }
  return merges;
}

const cache = new Map<string, TinyTokenizerFiles>();

/** The files of a tokenizer with exactly `vocabSize` tokens (≥ 256 bytes + the special tokens). */
export function makeTinyTokenizer(vocabSize: number, chat: ChatFormat = 'llama3'): TinyTokenizerFiles {
  const key = `${vocabSize}/${chat}`;
  const hit = cache.get(key);
  if (hit) return structuredClone(hit);
  const specials: readonly string[] = chat === 'llama3' ? LLAMA3_SPECIALS : CHATML_SPECIALS;
  if (!Number.isInteger(vocabSize) || vocabSize < 256 + specials.length) {
    throw new HaloError('E_ARG', `a byte-level tokenizer needs vocab ≥ ${256 + specials.length}, got ${vocabSize}`);
  }
  const files = byteLevelBpeFiles(learnMerges(vocabSize - 256 - specials.length), vocabSize, chat);
  cache.set(key, files);
  return structuredClone(files);
}
