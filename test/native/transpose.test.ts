// Native transpose: a pure copy, so bit-identical for every dtype (1, 2, 4 and 8-byte elements), odd
// shapes, and shapes large enough to take the tiled, threaded path. Random bytes make NaNs with payloads in
// the float dtypes; the reference copies through JS numbers, which may canonicalise NaN bits, so the oracle
// is a naive loop over the raw bits (an unsigned-integer view), and the reference is compared by value.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { DTYPES, type DType } from '../../src/core/dtype.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { assertBitsEqual, nativeTest, rawAddon, tiers, withTier } from './native-test.ts';

const DTYPE_LIST: DType[] = ['i8', 'fp8e4m3', 'fp6e3m2', 'bf16', 'f16', 'f32', 'i32', 'f64'];
const SHAPES: [number, number][] = [
  [1, 1],
  [1, 9],
  [9, 1],
  [7, 33],
  [33, 7],
  [64, 64],
  [65, 129],
  [300, 257],
];

function randomTensor(dtype: DType, rows: number, cols: number, seed: number): Tensor {
  const data = DTYPES[dtype].make(rows * cols);
  const bytes = new Uint8Array(data.buffer);
  const rng = new Rng(seed);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  return new Tensor([rows, cols], dtype, data);
}

/** The transpose of a's raw bits, as the same typed array kind. */
function naiveBits(a: Tensor): ArrayBufferView {
  const [r, c] = a.dims2();
  const src = a.data as ArrayBufferView;
  const bytes = DTYPES[a.dtype].bytes;
  const view = (buf: ArrayBufferView) =>
    bytes === 1
      ? new Uint8Array(buf.buffer, buf.byteOffset, r * c)
      : bytes === 2
        ? new Uint16Array(buf.buffer, buf.byteOffset, r * c)
        : bytes === 4
          ? new Uint32Array(buf.buffer, buf.byteOffset, r * c)
          : new BigUint64Array(buf.buffer, buf.byteOffset, r * c);
  const out = DTYPES[a.dtype].make(r * c) as ArrayBufferView;
  const s = view(src) as unknown as { [i: number]: number | bigint };
  const d = view(out) as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) d[j * r + i] = s[i * c + j]!;
  return out;
}

describe('native transpose vs reference', () => {
  nativeTest('every dtype and shape, every code path (bit-identical)', () => {
    let seed = 1;
    for (const tier of tiers())
      for (const dtype of DTYPE_LIST)
        for (const [r, c] of SHAPES) {
          const a = randomTensor(dtype, r, c, seed++);
          const got = withTier(tier, () => nativeBackend.transpose(a));
          assert.equal(got.dtype, dtype);
          assert.deepEqual(got.shape, [c, r]);
          assertBitsEqual(got.data as ArrayBufferView, naiveBits(a), `tier ${tier} ${dtype} ${r}×${c}`);
          const want = referenceBackend.transpose(a).data as ArrayLike<number>;
          const values = got.data as ArrayLike<number>;
          for (let i = 0; i < values.length; i++) assert.ok(Object.is(values[i], want[i]) || (Number.isNaN(values[i]) && Number.isNaN(want[i])));
        }
  });

  nativeTest('empty and non-2-D inputs', () => {
    const e = new Tensor([0, 5], 'f32', new Float32Array(0));
    assert.deepEqual(nativeBackend.transpose(e).shape, [5, 0]);
    assert.throws(
      () => nativeBackend.transpose(new Tensor([2, 2, 2], 'f32', new Float32Array(8))),
      (x) => x instanceof HaloError && x.code === 'E_SHAPE',
    );
  });

  nativeTest('the addon refuses mismatched element sizes and aliasing', () => {
    const addon = rawAddon();
    assert.throws(() => addon.transpose(new Float32Array(6), new Uint16Array(6), 2, 3), /element sizes differ/);
    const same = new Float32Array(6);
    assert.throws(() => addon.transpose(same, same, 2, 3), /same memory/);
    assert.throws(() => addon.transpose(new Float32Array(5), new Float32Array(6), 2, 3), /shorter/);
  });
});
