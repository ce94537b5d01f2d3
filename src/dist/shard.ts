// Row sharding (spec §7): every parameter is split by whole rows — rank r owns rows [r·R, (r+1)·R) with
// R = ceil(rows / world size), the last ranks' missing rows zero padding — so a rank can apply the per-row
// right Hadamard of HALO to its own rows. A 1-D tensor (norm, bias) is a column of 1-element rows. A "unit"
// (the embedding/norm/head root, or one decoder layer) concatenates its parameters' shards, so one collective
// moves a whole layer; rank q's part of a gathered unit is its shards in the same order.
import { HaloError } from '../core/errors.ts';

export interface ShardSpec {
  name: string;
  shape: readonly number[];
  rows: number;
  cols: number;
  /** Rows per rank (R). */
  rowsPerRank: number;
  /** R·cols: elements of every rank's shard, padding included. */
  shardLen: number;
}

export function shardSpec(name: string, shape: readonly number[], size: number): ShardSpec {
  if (shape.length < 1 || shape.length > 2) throw new HaloError('E_SHAPE', `cannot shard ${name}: shape [${shape.join(', ')}] is not 1-D or 2-D`);
  const rows = shape[0];
  const cols = shape.length === 2 ? shape[1] : 1;
  const rowsPerRank = Math.ceil(rows / size);
  return { name, shape, rows, cols, rowsPerRank, shardLen: rowsPerRank * cols };
}

/** Real (unpadded) rows rank q owns. */
export function ownedRows(s: ShardSpec, q: number): number {
  return Math.max(0, Math.min(s.rowsPerRank, s.rows - q * s.rowsPerRank));
}

/** Rank r's shard [R·cols] of a full tensor [rows·cols] (padding zero). */
export function sliceShard(full: ArrayLike<number>, s: ShardSpec, r: number, out = new Float32Array(s.shardLen)): Float32Array {
  if (full.length !== s.rows * s.cols)
    throw new HaloError('E_SHAPE', `${s.name}: ${full.length} values, the shape [${s.shape.join(', ')}] needs ${s.rows * s.cols}`);
  out.fill(0);
  const start = r * s.rowsPerRank * s.cols;
  const n = ownedRows(s, r) * s.cols;
  for (let i = 0; i < n; i++) out[i] = full[start + i];
  return out;
}

/** Unit layout: where each parameter's shard sits inside the unit's per-rank buffer. */
export interface UnitLayout {
  specs: ShardSpec[];
  offsets: number[];
  /** Per-rank elements of the unit. */
  length: number;
}

export function unitLayout(specs: ShardSpec[]): UnitLayout {
  const offsets: number[] = [];
  let length = 0;
  for (const s of specs) {
    offsets.push(length);
    length += s.shardLen;
  }
  return { specs, offsets, length };
}

type Arr = { length: number; [i: number]: number; set(a: ArrayLike<number>, offset?: number): void; subarray(a: number, b?: number): Arr };

/** Copies the parameters' shards into one per-rank send buffer. */
export function packShards<T extends Arr>(u: UnitLayout, shards: readonly ArrayLike<number>[], out: T): T {
  u.specs.forEach((s, i) => out.set(shards[i], u.offsets[i]));
  return out;
}

/** From a gathered unit [size · u.length] to each full tensor (rows of rank q at row q·R). */
export function unpackGathered<T extends Arr>(u: UnitLayout, gathered: T, size: number, fulls: readonly Arr[]): void {
  u.specs.forEach((s, i) => {
    for (let q = 0; q < size; q++) {
      const n = ownedRows(s, q) * s.cols;
      if (n === 0) continue;
      const src = q * u.length + u.offsets[i];
      fulls[i].set(gathered.subarray(src, src + n), q * s.rowsPerRank * s.cols);
    }
  });
}

/** The reduce-scatter send buffer [size · u.length]: block q holds every parameter's rank-q rows of the full gradients. */
export function packForScatter(u: UnitLayout, fulls: readonly ArrayLike<number>[], size: number, out: Float32Array): Float32Array {
  out.fill(0);
  u.specs.forEach((s, i) => {
    const f = fulls[i];
    for (let q = 0; q < size; q++) {
      const n = ownedRows(s, q) * s.cols;
      const src = q * s.rowsPerRank * s.cols;
      const dst = q * u.length + u.offsets[i];
      for (let k = 0; k < n; k++) out[dst + k] = f[src + k];
    }
  });
  return out;
}
