// The finite scans over stored bits (src/core/finite.ts) against a plain Number.isFinite over the decoded
// values, for every float dtype a checkpoint can hold: NaN, ±Inf, the largest finite value and subnormals,
// at seeded random places; the error names the tensor, the count and the first bad value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { assertFiniteTensor, countNonFinite } from '../../src/core/finite.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { castTensor } from '../../src/io/cast.ts';

const SPECIALS = [NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e-40, -0, 65504, 1e-7];

/** Random f64 values with specials sprinkled in; the expected count and first index from Number.isFinite on the decoded tensor. */
function sample(rng: Rng, n: number): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.next() < 0.05 ? SPECIALS[rng.int(SPECIALS.length)] : rng.normal() * 10;
  return x;
}

test('countNonFinite agrees with Number.isFinite on the decoded values, for f64, f32, bf16 and f16', () => {
  const rng = new Rng(11);
  for (const n of [0, 1, 7, 1000, 4099]) {
    const f64 = new Tensor([n], 'f64', sample(rng, n));
    for (const dtype of ['f64', 'f32', 'bf16', 'f16'] as const) {
      const t = castTensor(f64, dtype);
      const decoded = castTensor(t, 'f64').data as Float64Array;
      let count = 0;
      let first = -1;
      decoded.forEach((v, i) => {
        if (!Number.isFinite(v)) {
          if (count++ === 0) first = i;
        }
      });
      assert.deepEqual(countNonFinite(t.data, dtype), { count, first }, `${dtype} n=${n}`);
    }
  }
});

test('an f32 view into a larger buffer is scanned from its own start; integer dtypes are always finite', () => {
  const buf = new ArrayBuffer(4 * 9);
  const a = new Float32Array(buf, 4, 8);
  a[5] = -Infinity;
  assert.deepEqual(countNonFinite(a, 'f32'), { count: 1, first: 5 });
  assert.deepEqual(countNonFinite(new Int8Array([127, -128]), 'i8'), { count: 0, first: -1 });
});

test('assertFiniteTensor names the tensor, the count and the first bad value', () => {
  const t = new Tensor([2, 3], 'f32', Float32Array.of(1, 2, Infinity, 4, NaN, 6));
  assert.throws(
    () => assertFiniteTensor('model.layers.0.mlp.up_proj.weight', t, 'x/model.safetensors', 'use another file'),
    (e: unknown) => {
      assert.ok(e instanceof HaloError && e.code === 'E_NUMERIC');
      assert.match(
        e.message,
        /^x\/model\.safetensors: tensor model\.layers\.0\.mlp\.up_proj\.weight has 2 non-finite values of 6 \(first: Infinity at index 2\); use another file$/,
      );
      return true;
    },
  );
  const bf = castTensor(new Tensor([2], 'f32', Float32Array.of(0, NaN)), 'bf16');
  assert.throws(() => assertFiniteTensor('w', bf, 'f', 'h'), /first: NaN at index 1/);
  assert.doesNotThrow(() => assertFiniteTensor('w', castTensor(new Tensor([1], 'f32', Float32Array.of(-3.3e38)), 'bf16'), 'f', 'h'));
});
