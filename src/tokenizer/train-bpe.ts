// Learns byte-level BPE merges from text (GPT-2 / Llama 3 style): split text into pre-tokens with Llama 3's
// pattern (or byte-level-bpe.ts's words split), map each pre-token's UTF-8 bytes to the byte↔unicode
// alphabet, then repeatedly merge the most frequent adjacent pair. Only the words that contain the merged
// pair are revisited (an index from pair to words), and the best pair comes from a max-heap with lazy
// invalidation, so an 8k vocabulary trains in seconds instead of rescanning every word for every merge.
// Ties break on the pair's ids (deterministic).
import { HaloError } from '../core/errors.ts';
import { bytesToUnicode, WORDS_SPLIT_REGEX, type SplitName } from './byte-level-bpe.ts';

/** Llama 3's split pattern in JavaScript syntax (JS has no inline (?i:…), and the contractions are ASCII). */
const LLAMA3_SPLIT =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
const SPLITS: Record<SplitName, RegExp> = { llama3: LLAMA3_SPLIT, words: new RegExp(WORDS_SPLIT_REGEX, 'gu') };

export interface BpeTrainOptions {
  /** Merges to learn (vocabulary = 256 bytes + merges + special tokens). */
  merges: number;
  /** Pairs seen fewer times than this are never merged. */
  minFrequency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Pre-token counts of a text stream (the only pass over the raw text). */
export function countWords(texts: Iterable<string>, split: SplitName = 'llama3'): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const m of text.matchAll(SPLITS[split])) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  }
  return counts;
}

export function learnBpeMerges(wordCounts: ReadonlyMap<string, number>, o: BpeTrainOptions): [string, string][] {
  if (!Number.isInteger(o.merges) || o.merges < 0) throw new HaloError('E_ARG', `merges must be an integer ≥ 0, got ${o.merges}`);
  const minFreq = o.minFrequency ?? 2;
  const b2u = bytesToUnicode();
  const enc = new TextEncoder();
  // Symbols are ids: 0..255 bytes, then one per merge. symText[id] is the token's text in the alphabet.
  const symText: string[] = [...b2u];
  const words: Int32Array[] = [];
  const freq: number[] = [];
  for (const [w, c] of wordCounts) {
    words.push(Int32Array.from(enc.encode(w)));
    freq.push(c);
  }
  const key = (a: number, b: number) => a * 1048576 + b; // ids stay < 2^20
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: 1 | -1) => {
    const s = words[wi];
    const c = freq[wi] * sign;
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i], s[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + c);
      if (sign > 0) {
        let set = where.get(k);
        if (!set) where.set(k, (set = new Set()));
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1);
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);

  const merges: [string, string][] = [];
  while (merges.length < o.merges) {
    // Pop until the top entry's count is current (entries go stale when counts change).
    let best = -1;
    while (heap.size > 0) {
      const [c, k] = heap.pop();
      if (pairCount.get(k) === c) {
        best = k;
        break;
      }
    }
    if (best < 0 || (pairCount.get(best) ?? 0) < minFreq) break;
    const a = Math.floor(best / 1048576);
    const b = best % 1048576;
    const id = symText.length;
    symText.push(symText[a] + symText[b]);
    merges.push([symText[a], symText[b]]);
    const touched = new Set<number>();
    for (const wi of where.get(best) ?? []) {
      addPairs(wi, -1);
      words[wi] = mergeInWord(words[wi], a, b, id);
      addPairs(wi, 1);
      touched.add(wi);
    }
    where.delete(best);
    pairCount.delete(best);
    // Re-queue the pairs whose counts changed (new pairs and neighbours of merged positions).
    for (const wi of touched) {
      const s = words[wi];
      for (let i = 0; i + 1 < s.length; i++) {
        const k = key(s[i], s[i + 1]);
        const c = pairCount.get(k);
        if (c !== undefined && c > 0) heap.push(c, k);
      }
    }
    o.onProgress?.(merges.length, o.merges);
  }
  return merges;
}

function mergeInWord(s: Int32Array, a: number, b: number, id: number): Int32Array {
  const out = new Int32Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
      out[n++] = id;
      i++;
    } else out[n++] = s[i];
  }
  return out.slice(0, n);
}

/** Max-heap of (count, pairKey); larger count first, then smaller key (deterministic ties). */
class PairHeap {
  private c: number[] = [];
  private k: number[] = [];
  get size(): number {
    return this.c.length;
  }
  private before(i: number, j: number): boolean {
    return this.c[i] > this.c[j] || (this.c[i] === this.c[j] && this.k[i] < this.k[j]);
  }
  private swap(i: number, j: number): void {
    [this.c[i], this.c[j]] = [this.c[j], this.c[i]];
    [this.k[i], this.k[j]] = [this.k[j], this.k[i]];
  }
  push(count: number, key: number): void {
    this.c.push(count);
    this.k.push(key);
    for (let i = this.c.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.c[0], this.k[0]];
    const last = this.c.length - 1;
    this.swap(0, last);
    this.c.pop();
    this.k.pop();
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.c.length && this.before(l, m)) m = l;
      if (r < this.c.length && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}
