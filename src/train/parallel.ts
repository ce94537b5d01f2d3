// What the trainer needs to run as one rank of a data-parallel job (src/dist/fsdp.ts implements it): sums
// over ranks, and turning this rank's parameter/optimizer shards into whole tensors for a checkpoint (and back
// on resume, at any world size). Absent = one process; the trainer then behaves exactly as before.
import type { FloatArray } from '../core/dtype.ts';
import type { Batch, BatchLoader } from '../data/batch.ts';

export interface TrainParallel {
  readonly rank: number;
  readonly size: number;
  /** In place: element-wise sum over ranks. */
  sum(values: Float64Array): void;
  barrier(): void;
  /** Whole tensors (flat, HF row-major) from every rank's shards; collective. */
  unshard(shards: ReadonlyMap<string, FloatArray>): Map<string, Float32Array>;
  /** This rank's shards of whole tensors (a checkpoint saved at any world size). */
  shard(whole: ReadonlyMap<string, FloatArray>): Map<string, Float32Array>;
  /** A parameter's whole shape (its Param holds this rank's shard's). */
  wholeShape(name: string): readonly number[];
}

/**
 * The data loader sharded by rank: every rank walks the same seeded batch sequence and keeps every size-th
 * batch, starting at its rank. A global step therefore sees the same batches as one process with
 * size × grad-accum micro-batches, and the loader position (checkpointed) is the same on every rank.
 */
export function nextBatch(loader: BatchLoader, par: TrainParallel | undefined): Batch | null {
  if (!par || par.size === 1) return loader.next();
  let mine: Batch | null = null;
  for (let r = 0; r < par.size; r++) {
    const b = loader.next();
    if (r === par.rank) mine = b;
  }
  return mine;
}
