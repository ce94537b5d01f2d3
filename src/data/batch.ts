// Examples → batches. `collate` right-pads a list of examples into [B, T] arrays; `BatchLoader` walks the
// data epoch by epoch in a seeded shuffled order and can be resumed exactly from its `state()` (a plain
// JSON object stored in checkpoints); `packExamples` concatenates examples into fixed-length sequences for
// pretraining (Hugging Face run_clm's group_texts).
//
// The shuffle order of epoch e is a pure function of (seed, e): a fresh mulberry32 stream seeded by a hash of
// both, driving a Fisher–Yates shuffle. So the "rng state" a resumed run needs is just (seed, epoch, index),
// and resuming never depends on how many random numbers earlier epochs drew.
import { HaloError } from '../core/errors.ts';
import { Rng } from '../core/rng.ts';
import { IGNORE_INDEX, type Example } from './encode.ts';

export interface Batch {
  B: number;
  T: number;
  /** [B, T] token ids, right-padded with padId. */
  ids: Int32Array;
  /** [B, T] aligned labels (Example.labels), IGNORE_INDEX on padding. */
  labels: Int32Array;
  /** [B, T] next-token targets: targets[b, t] = labels[b, t + 1]; IGNORE_INDEX at t = T − 1. Feed these to cross-entropy on logits[b, t]. */
  targets: Int32Array;
  /** [B, T] 1 = real token, 0 = padding. */
  attnMask: Uint8Array;
  /** [B, T] position ids: t (padding continues counting; it is masked anyway). */
  positions: Int32Array;
  /** [B] real tokens per row. */
  lengths: Int32Array;
  /** Number of targets that are not IGNORE_INDEX (the loss denominator). */
  lossTokens: number;
  /** [B] indices of the examples in the list the batch was drawn from. */
  indices: Int32Array;
  /** Epoch the batch belongs to, and the position in that epoch's order of its first example (0 for collate()). */
  epoch: number;
  index: number;
}

export interface CollateOptions {
  /** Id written into padded positions (tokenizer.padId ?? tokenizer.eosId ?? 0). Labels there are IGNORE_INDEX. */
  padId: number;
  /** Fixed T for every batch (examples longer than that are an E_SHAPE error). Default: longest in the batch. */
  padTo?: number;
  /** Round T up to a multiple of this (e.g. 8 or 64, for kernels that like aligned sizes). Default 1. */
  padToMultipleOf?: number;
}

/** Right-pads examples into one batch. */
export function collate(examples: readonly Example[], opts: CollateOptions, indices?: ArrayLike<number>): Batch {
  const B = examples.length;
  if (B === 0) throw new HaloError('E_ARG', 'collate: no examples');
  let longest = 0;
  for (const ex of examples) {
    if (ex.labels.length !== ex.ids.length) {
      throw new HaloError('E_SHAPE', `collate: example has ${ex.ids.length} ids but ${ex.labels.length} labels`);
    }
    longest = Math.max(longest, ex.ids.length);
  }
  let T = longest;
  if (opts.padTo !== undefined) {
    if (longest > opts.padTo) {
      throw new HaloError(
        'E_SHAPE',
        `collate: an example has ${longest} tokens, more than the fixed length ${opts.padTo}; encode with maxSeqLen ≤ ${opts.padTo}`,
      );
    }
    T = opts.padTo;
  }
  const mult = opts.padToMultipleOf ?? 1;
  if (!Number.isInteger(mult) || mult < 1) throw new HaloError('E_ARG', `padToMultipleOf must be a positive integer, got ${mult}`);
  T = Math.max(1, Math.ceil(T / mult) * mult);

  const ids = new Int32Array(B * T).fill(opts.padId);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  const attnMask = new Uint8Array(B * T);
  const positions = new Int32Array(B * T);
  const lengths = new Int32Array(B);
  let lossTokens = 0;
  for (let b = 0; b < B; b++) {
    const ex = examples[b]!;
    const n = ex.ids.length;
    const row = b * T;
    ids.set(ex.ids, row);
    labels.set(ex.labels, row);
    attnMask.fill(1, row, row + n);
    lengths[b] = n;
    for (let t = 0; t < T; t++) positions[row + t] = t;
    for (let t = 0; t + 1 < n; t++) {
      const y = ex.labels[t + 1]!;
      targets[row + t] = y;
      if (y !== IGNORE_INDEX) lossTokens++;
    }
  }
  const idx = indices ? Int32Array.from(indices) : Int32Array.from({ length: B }, (_, i) => i);
  return { B, T, ids, labels, targets, attnMask, positions, lengths, lossTokens, indices: idx, epoch: 0, index: 0 };
}

/** Where a BatchLoader stands: everything needed to continue exactly (JSON-serialisable). */
export interface LoaderState {
  seed: number;
  shuffle: boolean;
  /** Current epoch (0-based). */
  epoch: number;
  /** Examples of this epoch's order already handed out. */
  index: number;
  /** Size of the example list the state belongs to (checked on resume). */
  numExamples: number;
}

export interface BatchLoaderOptions extends CollateOptions {
  batchSize: number;
  /** Shuffle seed. Default 0. */
  seed?: number;
  /** Shuffle each epoch. Default true; false keeps file order. */
  shuffle?: boolean;
  /** Drop an epoch's last batch when it has fewer than batchSize examples. Default false (a smaller last batch). */
  dropLast?: boolean;
  /** Stop (next() returns null) after this many epochs. Default: never. */
  epochs?: number;
  /** Continue from a saved state(). */
  state?: LoaderState;
}

/** Epoch-aware, seeded, resumable batch iterator. Batches never span two epochs. */
export class BatchLoader implements Iterable<Batch> {
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly epochs: number;
  private epoch = 0;
  private index = 0;
  private order: Int32Array | null = null;
  private orderEpoch = -1;

  constructor(
    private readonly examples: readonly Example[],
    private readonly opts: BatchLoaderOptions,
  ) {
    const { batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new HaloError('E_ARG', `batchSize must be a positive integer, got ${batchSize}`);
    if (examples.length === 0) throw new HaloError('E_ARG', 'BatchLoader: no examples (is the data file empty, or was everything dropped?)');
    this.batchSize = batchSize;
    this.dropLast = opts.dropLast ?? false;
    this.epochs = opts.epochs ?? Infinity;
    if (this.dropLast && examples.length < batchSize) {
      throw new HaloError('E_ARG', `dropLast with batchSize ${batchSize} but only ${examples.length} examples: every batch would be dropped`);
    }
    const st = opts.state;
    if (st) {
      if (st.numExamples !== examples.length) {
        throw new HaloError('E_ARG', `cannot resume data position: it was saved for ${st.numExamples} examples, the data now has ${examples.length}`);
      }
      if (opts.seed !== undefined && opts.seed >>> 0 !== st.seed) {
        throw new HaloError('E_ARG', `cannot resume data position: it was saved with seed ${st.seed}, now seed ${opts.seed} was asked for`);
      }
      if (opts.shuffle !== undefined && opts.shuffle !== st.shuffle) {
        throw new HaloError('E_ARG', `cannot resume data position: it was saved with shuffle=${st.shuffle}`);
      }
      if (!Number.isInteger(st.epoch) || st.epoch < 0 || !Number.isInteger(st.index) || st.index < 0 || st.index > examples.length) {
        throw new HaloError('E_FORMAT', `invalid data position ${JSON.stringify(st)}`);
      }
      this.seed = st.seed;
      this.shuffle = st.shuffle;
      this.epoch = st.epoch;
      this.index = st.index;
    } else {
      this.seed = (opts.seed ?? 0) >>> 0;
      this.shuffle = opts.shuffle ?? true;
    }
    this.normalise();
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    const n = this.examples.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The next batch, or null once `epochs` epochs are done. */
  next(): Batch | null {
    if (this.epoch >= this.epochs) return null;
    const order = this.orderOf(this.epoch);
    const start = this.index;
    const end = Math.min(start + this.batchSize, order.length);
    const idx = order.subarray(start, end);
    const batch = collate(
      Array.from(idx, (i) => this.examples[i]!),
      this.opts,
      idx,
    );
    batch.epoch = this.epoch;
    batch.index = start;
    this.index = end;
    this.normalise();
    return batch;
  }

  [Symbol.iterator](): Iterator<Batch> {
    return {
      next: () => {
        const b = this.next();
        return b ? { value: b, done: false } : { value: undefined, done: true };
      },
    };
  }

  /** The position to save in a checkpoint; pass it back as `state` to continue with the same next batch. */
  state(): LoaderState {
    return { seed: this.seed, shuffle: this.shuffle, epoch: this.epoch, index: this.index, numExamples: this.examples.length };
  }

  /** The order in which epoch `epoch` visits the examples. */
  orderOf(epoch: number): Int32Array {
    if (this.orderEpoch !== epoch || !this.order) {
      this.order = this.shuffle ? epochPermutation(this.examples.length, this.seed, epoch) : Int32Array.from({ length: this.examples.length }, (_, i) => i);
      this.orderEpoch = epoch;
    }
    return this.order;
  }

  /** Moves to the next epoch when the current one has nothing (or, with dropLast, too little) left. */
  private normalise(): void {
    const left = this.examples.length - this.index;
    if (left === 0 || (this.dropLast && left < this.batchSize)) {
      this.epoch++;
      this.index = 0;
    }
  }
}

/** Seeded permutation of 0..n-1 for one epoch (Fisher–Yates on mulberry32 seeded by hash(seed, epoch)). */
export function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  const rng = new Rng(mixSeed(seed, epoch));
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** murmur3's finaliser over seed and epoch: nearby seeds/epochs give unrelated streams. */
function mixSeed(seed: number, epoch: number): number {
  let h = (seed >>> 0) ^ Math.imul(epoch + 1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface PackOptions {
  /** 'drop' (default): discard the final partial sequence. 'keep': keep it, shorter (collate pads it). */
  remainder?: 'drop' | 'keep';
}

/**
 * Concatenates examples (ids and labels together, in order) and cuts the stream into sequences of exactly
 * seqLen tokens, as Hugging Face run_clm's group_texts does. Encode text records with BOS/EOS so documents
 * stay delimited. Attention is not masked at document boundaries and positions run 0..seqLen-1 per sequence
 * (the usual pretraining setup). The first token of each sequence is never a target.
 */
export function packExamples(examples: readonly Example[], seqLen: number, opts: PackOptions = {}): { examples: Example[]; droppedTokens: number } {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new HaloError('E_ARG', `packing needs seqLen ≥ 2, got ${seqLen}`);
  let total = 0;
  for (const ex of examples) total += ex.ids.length;
  const ids = new Int32Array(total);
  const labels = new Int32Array(total);
  let o = 0;
  for (const ex of examples) {
    ids.set(ex.ids, o);
    labels.set(ex.labels, o);
    o += ex.ids.length;
  }
  // Sequences are views into the two stream arrays, not copies: a corpus of millions of tokens becomes a
  // hundred thousand small views over two buffers instead of as many ArrayBuffers, fewer things for every
  // garbage collection of the training loop to walk.
  const out: Example[] = [];
  const full = Math.floor(total / seqLen);
  for (let k = 0; k < full; k++) {
    out.push({ ids: ids.subarray(k * seqLen, (k + 1) * seqLen), labels: labels.subarray(k * seqLen, (k + 1) * seqLen), truncated: false });
  }
  const rest = total - full * seqLen;
  let droppedTokens = 0;
  if (rest > 0) {
    if ((opts.remainder ?? 'drop') === 'keep') {
      out.push({ ids: ids.subarray(full * seqLen), labels: labels.subarray(full * seqLen), truncated: false });
    } else {
      droppedTokens = rest;
    }
  }
  return { examples: out, droppedTokens };
}
