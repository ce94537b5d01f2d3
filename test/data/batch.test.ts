// Batching: shapes and padding, seeded epoch order, exact resume, packing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { BatchLoader, collate, epochPermutation, packExamples, type Batch, type LoaderState } from '../../src/data/batch.ts';
import { IGNORE_INDEX, type Example } from '../../src/data/encode.ts';

/** Example i: length 1 + (i·7 mod 13), ids 1000·i + t, loss on the second half. */
function makeExamples(n: number): Example[] {
  return Array.from({ length: n }, (_, i) => {
    const len = 1 + ((i * 7) % 13);
    const ids = Int32Array.from({ length: len }, (_, t) => 1000 * i + t);
    const labels = Int32Array.from(ids, (id, t) => (t >= len / 2 ? id : IGNORE_INDEX));
    return { ids, labels, truncated: false };
  });
}

const isArgError = (code: string) => (e: unknown) => e instanceof HaloError && e.code === code;

describe('collate', () => {
  const exs = makeExamples(3); // lengths 1, 8, 2
  test('right-pads to the longest, with mask, labels, shifted targets and positions', () => {
    const b = collate(exs, { padId: 7 });
    assert.equal(b.B, 3);
    assert.equal(b.T, 8);
    for (const arr of [b.ids, b.labels, b.targets, b.positions]) assert.equal(arr.length, 24);
    assert.equal(b.attnMask.length, 24);
    assert.deepEqual(Array.from(b.lengths), [1, 8, 2]);
    assert.deepEqual(Array.from(b.ids.subarray(0, 8)), [0, 7, 7, 7, 7, 7, 7, 7]);
    assert.deepEqual(Array.from(b.attnMask.subarray(16, 24)), [1, 1, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(b.positions.subarray(16, 24)), [0, 1, 2, 3, 4, 5, 6, 7]);
    // Row 1: labels on t ≥ 4; targets[t] = labels[t+1]; last target ignored.
    const L = IGNORE_INDEX;
    assert.deepEqual(Array.from(b.labels.subarray(8, 16)), [L, L, L, L, 1004, 1005, 1006, 1007]);
    assert.deepEqual(Array.from(b.targets.subarray(8, 16)), [L, L, L, 1004, 1005, 1006, 1007, L]);
    // Row 2 (length 2, loss on t = 1): one target, at t = 0.
    assert.deepEqual(Array.from(b.targets.subarray(16, 24)), [2001, L, L, L, L, L, L, L]);
    assert.equal(b.lossTokens, 4 + 1);
    assert.ok(
      b.labels.subarray(0, 8).every((y) => y === L),
      'padding carries no loss',
    );
  });

  test('fixed length and rounding up', () => {
    assert.equal(collate(exs, { padId: 0, padTo: 16 }).T, 16);
    assert.equal(collate(exs, { padId: 0, padToMultipleOf: 5 }).T, 10);
    assert.throws(() => collate(exs, { padId: 0, padTo: 4 }), isArgError('E_SHAPE'));
    assert.throws(() => collate([], { padId: 0 }), isArgError('E_ARG'));
  });
});

/** Everything that identifies a batch's contents. */
function key(b: Batch): string {
  return `${b.epoch}/${b.index}:${Array.from(b.indices).join(',')}|${b.T}|${b.ids.join(',')}`;
}

describe('BatchLoader', () => {
  const exs = makeExamples(23);

  test('each epoch visits every example once, in a new seeded order; batches never span epochs', () => {
    const loader = new BatchLoader(exs, { batchSize: 5, seed: 42, padId: 0, epochs: 3 });
    assert.equal(loader.batchesPerEpoch, 5);
    const perEpoch: number[][] = [[], [], []];
    const sizes: number[] = [];
    for (const b of loader) {
      perEpoch[b.epoch]!.push(...b.indices);
      sizes.push(b.B);
      for (let r = 0; r < b.B; r++) assert.deepEqual(b.ids.subarray(r * b.T, r * b.T + b.lengths[r]!), exs[b.indices[r]!]!.ids);
    }
    assert.deepEqual(sizes, [5, 5, 5, 5, 3, 5, 5, 5, 5, 3, 5, 5, 5, 5, 3]);
    for (const order of perEpoch)
      assert.deepEqual(
        [...order].sort((a, b) => a - b),
        [...Array(23).keys()],
      );
    assert.notDeepEqual(perEpoch[0], perEpoch[1]);
    assert.notDeepEqual(perEpoch[0], [...Array(23).keys()], 'shuffled');
    assert.equal(loader.next(), null, 'stops after `epochs`');
  });

  test('same seed → identical batches; other seed → other order; shuffle:false keeps file order', () => {
    const run = (seed: number) =>
      Array.from(
        { length: 12 },
        (
          (l) => () =>
            key(l.next()!)
        )(new BatchLoader(exs, { batchSize: 4, seed, padId: 0 })),
      );
    assert.deepEqual(run(1), run(1));
    assert.notDeepEqual(run(1), run(2));
    const plain = new BatchLoader(exs, { batchSize: 4, shuffle: false, padId: 0 });
    assert.deepEqual(Array.from(plain.next()!.indices), [0, 1, 2, 3]);
  });

  test('dropLast drops the short tail of each epoch', () => {
    const loader = new BatchLoader(exs, { batchSize: 5, seed: 3, padId: 0, dropLast: true, epochs: 2 });
    assert.equal(loader.batchesPerEpoch, 4);
    const bs = [...loader];
    assert.equal(bs.length, 8);
    assert.ok(bs.every((b) => b.B === 5));
    assert.deepEqual(
      bs.map((b) => b.epoch),
      [0, 0, 0, 0, 1, 1, 1, 1],
    );
  });

  test('resuming from state() reproduces the following batches exactly (also across epochs)', () => {
    for (const k of [0, 1, 4, 5, 7, 13]) {
      const opts = { batchSize: 5, seed: 9, padId: 0, padToMultipleOf: 4 };
      const a = new BatchLoader(exs, opts);
      for (let i = 0; i < k; i++) a.next();
      const saved = JSON.parse(JSON.stringify(a.state())) as LoaderState;
      const b = new BatchLoader(exs, { ...opts, state: saved });
      for (let i = 0; i < 12; i++) assert.equal(key(b.next()!), key(a.next()!), `resumed after ${k} batches, batch ${i}`);
    }
  });

  test('state after a full epoch points at the next epoch', () => {
    const l = new BatchLoader(exs, { batchSize: 23, seed: 1, padId: 0 });
    l.next();
    assert.deepEqual(l.state(), { seed: 1, shuffle: true, epoch: 1, index: 0, numExamples: 23 });
  });

  test('resume rejects a state made for other data or another seed', () => {
    const st = new BatchLoader(exs, { batchSize: 5, seed: 9, padId: 0 }).state();
    assert.throws(() => new BatchLoader(makeExamples(22), { batchSize: 5, padId: 0, state: st }), isArgError('E_ARG'));
    assert.throws(() => new BatchLoader(exs, { batchSize: 5, seed: 8, padId: 0, state: st }), isArgError('E_ARG'));
    const neg = new BatchLoader(exs, { batchSize: 5, seed: -1, padId: 0 }).state();
    assert.equal(new BatchLoader(exs, { batchSize: 5, seed: -1, padId: 0, state: neg }).seed, neg.seed, 'seeds compare as uint32');
    assert.throws(() => new BatchLoader(exs, { batchSize: 5, padId: 0, state: { ...st, index: 99 } }), isArgError('E_FORMAT'));
    assert.throws(() => new BatchLoader(exs, { batchSize: 0, padId: 0 }), isArgError('E_ARG'));
    assert.throws(() => new BatchLoader([], { batchSize: 1, padId: 0 }), isArgError('E_ARG'));
  });

  test('epochPermutation is a permutation and depends on seed and epoch', () => {
    const p = epochPermutation(1000, 5, 0);
    assert.deepEqual(
      Array.from(p).sort((a, b) => a - b),
      [...Array(1000).keys()],
    );
    assert.deepEqual(p, epochPermutation(1000, 5, 0));
    assert.notDeepEqual(p, epochPermutation(1000, 5, 1));
    assert.notDeepEqual(p, epochPermutation(1000, 6, 0));
  });
});

describe('packExamples', () => {
  test('concatenates ids and labels into fixed-length sequences', () => {
    const rng = new Rng(3);
    const exs = makeExamples(10);
    const total = exs.reduce((s, e) => s + e.ids.length, 0);
    const seqLen = 4 + rng.int(5);
    const { examples, droppedTokens } = packExamples(exs, seqLen);
    assert.equal(examples.length, Math.floor(total / seqLen));
    assert.equal(droppedTokens, total % seqLen);
    assert.ok(examples.every((e) => e.ids.length === seqLen && e.labels.length === seqLen));
    const streamIds = exs.flatMap((e) => Array.from(e.ids));
    const streamLabels = exs.flatMap((e) => Array.from(e.labels));
    assert.deepEqual(
      examples.flatMap((e) => Array.from(e.ids)),
      streamIds.slice(0, examples.length * seqLen),
    );
    assert.deepEqual(
      examples.flatMap((e) => Array.from(e.labels)),
      streamLabels.slice(0, examples.length * seqLen),
    );
    const kept = packExamples(exs, seqLen, { remainder: 'keep' });
    assert.equal(kept.droppedTokens, 0);
    assert.equal(
      kept.examples.reduce((s, e) => s + e.ids.length, 0),
      total,
    );
    assert.throws(() => packExamples(exs, 1), isArgError('E_ARG'));
    // Views into one stream buffer, not an ArrayBuffer per sequence (see packExamples: GC cost in pretraining).
    assert.equal(new Set(examples.map((e) => e.ids.buffer)).size, 1);
    assert.equal(new Set(examples.map((e) => e.labels.buffer)).size, 1);
  });
});
