// The Communicator: every collective on every buffer type through Open MPI with 2 ranks (each rank's result
// checked against what the collective must produce), the 1-process backend, and the row-shard layout that
// FSDP's gathers and scatters rest on (simulated for 3 ranks without MPI).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { LocalCommunicator } from '../../src/dist/local.ts';
import { ownedRows, packForScatter, packShards, shardSpec, sliceShard, unitLayout, unpackGathered } from '../../src/dist/shard.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { mpiSkipReason, runMpi } from './mpi-run.ts';
import { REPO } from './setup.ts';

const skip = mpiSkipReason();

describe('Open MPI communicator (mpirun -np 2)', { skip: skip ?? false }, () => {
  test('allReduce sum/max, allGather, reduceScatter, broadcast on f32/f64/i8/u8/u16/i32', () => {
    const r = runMpi(2, [path.join(REPO, 'test/dist/comm-worker.ts')]);
    assert.equal(r.code, 0, r.output);
    const line = r.output.split('\n').find((l) => l.startsWith('{'));
    assert.ok(line, r.output);
    const res = JSON.parse(line);
    assert.equal(res.size, 2);
    assert.equal(res.kind, 'mpi');
    assert.match(res.error, /needs 1 × 2 ranks/);
    for (let q = 0; q < 2; q++) {
      const got = res.perRank[q];
      for (const t of ['f32', 'f64', 'i8', 'u8', 'u16', 'i32']) {
        assert.deepEqual(got[`${t}.sum`], [1 + 2, 0 + 2, 6], `${t} sum on rank ${q}`);
        assert.deepEqual(got[`${t}.max`], [1, 5, 7], `${t} max on rank ${q}`);
        assert.deepEqual(got[`${t}.allGather`], [1, 2, 11, 12], `${t} allGather on rank ${q}`);
        // block q of send = [2q + r, 2q + 1 + r] summed over r = 0, 1
        assert.deepEqual(got[`${t}.reduceScatter`], [4 * q + 1, 4 * q + 3], `${t} reduceScatter on rank ${q}`);
        assert.deepEqual(got[`${t}.broadcast`], [9, 8], `${t} broadcast on rank ${q}`);
      }
    }
  });
});

if (skip) test(`Open MPI communicator: skipped (${skip})`, { skip }, () => {});

describe('LocalCommunicator', () => {
  test('size 1: reductions leave the buffer, gathers copy, shapes are checked', () => {
    const c = new LocalCommunicator();
    const a = Float32Array.of(1, -2);
    c.allReduce(a, 'max');
    assert.deepEqual([...a], [1, -2]);
    const g = new Int8Array(2);
    c.allGather(Int8Array.of(3, 4), g);
    assert.deepEqual([...g], [3, 4]);
    const s = new Float32Array(2);
    c.reduceScatter(Float32Array.of(5, 6), s);
    assert.deepEqual([...s], [5, 6]);
    assert.throws(
      () => c.allGather(Float32Array.of(1), new Float32Array(2)),
      (e: unknown) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
    assert.throws(
      () => c.allGather(Float32Array.of(1), new Float64Array(1) as never),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
    );
    assert.equal(c.stats.allGatherBytes, 2);
  });
});

describe('row shards', () => {
  const size = 3;
  const rng = new Rng(5);
  // 7 rows over 3 ranks: 3 + 3 + 1 (rank 2 padded with 2 zero rows); a 1-D tensor of 4: 2 + 2 + 0.
  const specs = [shardSpec('w', [7, 5], size), shardSpec('b', [4], size)];
  const fulls = specs.map((s) => Float32Array.from({ length: s.rows * s.cols }, () => rng.normal()));

  test('rows per rank, padding, ownership', () => {
    assert.deepEqual(
      specs.map((s) => [s.rowsPerRank, s.shardLen]),
      [
        [3, 15],
        [2, 2],
      ],
    );
    assert.deepEqual(
      [0, 1, 2].map((q) => ownedRows(specs[0], q)),
      [3, 3, 1],
    );
    assert.deepEqual(
      [0, 1, 2].map((q) => ownedRows(specs[1], q)),
      [2, 2, 0],
    );
    const last = sliceShard(fulls[0], specs[0], 2);
    assert.deepEqual([...last.subarray(0, 5)], [...fulls[0].subarray(30, 35)]);
    assert.ok(last.subarray(5).every((x) => x === 0));
  });

  test('an all-gather of the packed shards unpacks to the whole tensors', () => {
    const u = unitLayout(specs);
    const gathered = new Float32Array(u.length * size);
    for (let q = 0; q < size; q++)
      packShards(
        u,
        specs.map((s, i) => sliceShard(fulls[i], s, q)),
        gathered.subarray(q * u.length, (q + 1) * u.length),
      );
    const back = specs.map((s) => new Float32Array(s.rows * s.cols));
    unpackGathered(u, gathered, size, back);
    back.forEach((b, i) => assert.deepEqual([...b], [...fulls[i]]));
  });

  test('a reduce-scatter of packed gradients gives each rank the sum of its rows', () => {
    const u = unitLayout(specs);
    const perRank = [0, 1, 2].map(() => specs.map((s) => Float32Array.from({ length: s.rows * s.cols }, () => rng.normal())));
    const sends = perRank.map((g) => packForScatter(u, g, size, new Float32Array(u.length * size)));
    for (let q = 0; q < size; q++) {
      const mine = new Float64Array(u.length);
      for (const s of sends) for (let k = 0; k < u.length; k++) mine[k] += s[q * u.length + k];
      specs.forEach((s, i) => {
        const total = Float64Array.from({ length: s.rows * s.cols }, (_, k) => perRank[0][i][k] + perRank[1][i][k] + perRank[2][i][k]);
        const want = sliceShard(total, s, q);
        const got = mine.subarray(u.offsets[i], u.offsets[i] + s.shardLen);
        for (let k = 0; k < s.shardLen; k++) assert.ok(Math.abs(got[k] - want[k]) < 1e-5, `${s.name}[${k}] on rank ${q}`);
      });
    }
  });
});
