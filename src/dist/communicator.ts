// The collectives data-parallel training needs, as one small interface with two implementations: a single
// process (size 1, every collective a copy; local.ts) and Open MPI (mpi.ts). Training code talks only to this
// interface, so the one-process path is not a special case. All calls are blocking and must be made by every
// rank in the same order (MPI's rule); buffers are typed arrays, never JS number arrays.
import { HaloError } from '../core/errors.ts';

export type CommBuffer = Float32Array | Float64Array | Int8Array | Uint8Array | Uint16Array | Int32Array;
export type Reduction = 'sum' | 'max';

export interface Communicator {
  readonly rank: number;
  readonly size: number;
  /** 'local' (one process) or 'mpi'. */
  readonly kind: string;
  /** In place: every rank ends with the element-wise sum/max over ranks. */
  allReduce(buf: CommBuffer, op: Reduction): void;
  /** recv [n·size] ← rank r's send [n] at offset r·n. */
  allGather<T extends CommBuffer>(send: T, recv: T): void;
  /** recv [n] ← reduction over ranks of their send [n·size] block number `rank`. */
  reduceScatter<T extends CommBuffer>(send: T, recv: T, op?: Reduction): void;
  /** In place: every rank ends with root's buffer. */
  broadcast(buf: CommBuffer, root: number): void;
  barrier(): void;
  /** Bytes this rank has received through allGather so far (what HQ-FSDP shrinks). */
  readonly stats: CommStats;
}

/** Per-collective byte counters (bytes of the full result buffer, as a ring all-gather moves (size−1)/size of it). */
export interface CommStats {
  allGatherBytes: number;
  reduceScatterBytes: number;
  allReduceBytes: number;
  calls: number;
}

export function newStats(): CommStats {
  return { allGatherBytes: 0, reduceScatterBytes: 0, allReduceBytes: 0, calls: 0 };
}

export function checkGather(what: string, send: CommBuffer, recv: CommBuffer, size: number): void {
  if (send.constructor !== recv.constructor) {
    throw new HaloError('E_ARG', `${what}: send is a ${send.constructor.name} but recv is a ${recv.constructor.name}`);
  }
  if (recv.length !== send.length * size) {
    throw new HaloError('E_SHAPE', `${what}: the gathered buffer has ${recv.length} elements, needs ${send.length} × ${size} ranks`);
  }
}
