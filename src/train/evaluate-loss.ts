// The mean loss per counted token of a model over examples, batch by batch, forward only: the eval loss a run
// logs, and what `halo eval --metric loss` reports.
import { collate } from '../data/batch.ts';
import type { Example } from '../data/encode.ts';
import type { CausalLM } from '../models/causal-lm.ts';

/** Σ loss / Σ counted tokens over `examples` in batches of batchSize (NaN when no token counts). */
export function evaluateLoss(model: CausalLM, examples: readonly Example[], batchSize: number, padId: number): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const r = model.loss(collate(examples.slice(i, i + batchSize), { padId }));
    sum += r.lossSum;
    count += r.tokens;
  }
  return count > 0 ? sum / count : NaN;
}
