// A batch of random token sequences for model tests: one example per length, no loss on the first two tokens
// (a 2-token "prompt"), right-padded with id 0.
import { Rng } from '../../src/core/rng.ts';
import { collate, type Batch } from '../../src/data/batch.ts';
import { IGNORE_INDEX, type Example } from '../../src/data/encode.ts';

export function batchOf(lengths: number[], V: number, seed: number): Batch {
  const rng = new Rng(seed);
  const examples: Example[] = lengths.map((T) => {
    const ids = Int32Array.from({ length: T }, () => rng.int(V));
    const labels = Int32Array.from(ids, (id, t) => (t < 2 ? IGNORE_INDEX : id));
    return { ids, labels, truncated: false };
  });
  return collate(examples, { padId: 0 });
}
