// One rank of the communicator test (test/dist/communicator.test.ts runs it under mpirun -np 2): every
// collective on every buffer type, with rank-dependent inputs; rank 0 prints what each rank received as JSON.
import { worldCommunicator } from '../../src/dist/index.ts';
import type { CommBuffer } from '../../src/dist/communicator.ts';

const c = worldCommunicator();
const r = c.rank;
const n = c.size;
const out: Record<string, number[]> = {};
const list = (a: CommBuffer) => Array.from(a as ArrayLike<number>);

const makers = {
  f32: (v: number[]) => Float32Array.from(v),
  f64: (v: number[]) => Float64Array.from(v),
  i8: (v: number[]) => Int8Array.from(v),
  u8: (v: number[]) => Uint8Array.from(v),
  u16: (v: number[]) => Uint16Array.from(v),
  i32: (v: number[]) => Int32Array.from(v),
};
for (const [t, make] of Object.entries(makers)) {
  const sum = make([r + 1, 2 * r, 3]);
  c.allReduce(sum, 'sum');
  out[`${t}.sum`] = list(sum);
  const max = make([r, 5 - r, 7]);
  c.allReduce(max, 'max');
  out[`${t}.max`] = list(max);
  const recv = make(new Array(2 * n).fill(0));
  c.allGather(make([10 * r + 1, 10 * r + 2]), recv);
  out[`${t}.allGather`] = list(recv);
  const send = make(Array.from({ length: 2 * n }, (_, i) => i + r));
  const mine = make([0, 0]);
  c.reduceScatter(send, mine, 'sum');
  out[`${t}.reduceScatter`] = list(mine);
  const b = make(r === 1 ? [9, 8] : [0, 0]);
  c.broadcast(b, 1);
  out[`${t}.broadcast`] = list(b);
}
c.barrier();
// Rank 1's results travel to rank 0 so one JSON covers both ranks.
const flat = Float64Array.from(Object.values(out).flat());
const all = new Float64Array(flat.length * n);
c.allGather(flat, all);
if (r === 0) {
  const keys = Object.keys(out);
  const perRank = Array.from({ length: n }, (_, q) => {
    const res: Record<string, number[]> = {};
    let off = q * flat.length;
    for (const k of keys) {
      res[k] = Array.from(all.subarray(off, off + out[k].length));
      off += out[k].length;
    }
    return res;
  });
  let error = '';
  try {
    c.allGather(Float32Array.of(1), new Float32Array(1));
  } catch (e) {
    error = (e as Error).message;
  }
  process.stdout.write(JSON.stringify({ size: n, kind: c.kind, perRank, error }) + '\n');
}
