// The reference GEMM (the oracle of the native one) against the definition read straight from the stored
// operands: out[m,n] = α·Σ_k A(m,k)·B(k,n) with A(m,k) at a[m·K + k] or, given transposed, a[k·M + m], and
// B(k,n) at b[k·N + n] or, given transposed, b[n·K + k]; every dtype pair, odd shapes, exact int sums.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend as be } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { decodeTable } from '../../src/quant/index.ts';

type Dt = 'f32' | 'f64' | 'i8' | 'bf16' | 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2';

function random(dtype: Dt, shape: [number, number], rng: Rng): Tensor {
  const n = shape[0] * shape[1];
  switch (dtype) {
    case 'f32':
      return new Tensor(shape, 'f32', rng.fillNormal(new Float32Array(n)));
    case 'f64':
      return new Tensor(shape, 'f64', rng.fillNormal(new Float64Array(n)));
    case 'i8':
      return new Tensor(
        shape,
        'i8',
        Int8Array.from({ length: n }, () => rng.int(256) - 128),
      );
    case 'bf16':
      return new Tensor(
        shape,
        'bf16',
        Uint16Array.from({ length: n }, () => 0x3f00 + rng.int(0x200)),
      );
    default: {
      const table = decodeTable(dtype);
      const codes = new Uint8Array(n);
      for (let i = 0; i < n; i++)
        do codes[i] = rng.int(table.length);
        while (!Number.isFinite(table[codes[i]!]!));
      return new Tensor(shape, dtype, codes);
    }
  }
}

function value(t: Tensor, i: number): number {
  const v = (t.data as ArrayLike<number>)[i]!;
  return t.dtype === 'f32' || t.dtype === 'f64' || t.dtype === 'i8' ? v : decodeTable(t.dtype as 'bf16')[v]!;
}

describe('reference matmul: every layout is the definition on the stored operands', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [7, 1, 4],
    [1, 6, 9],
    [5, 4, 1],
  ];
  for (const dtype of ['f32', 'f64', 'i8', 'bf16', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'] as Dt[]) {
    test(dtype, () => {
      const rng = new Rng(11);
      for (const [m, n, k] of shapes)
        for (const aT of [false, true])
          for (const bT of [false, true]) {
            const a = random(dtype, aT ? [k, m] : [m, k], rng);
            const b = random(dtype, bT ? [n, k] : [k, n], rng);
            const alpha = 0.375;
            const got = be.matmul(a, b, { aT, bT, alpha });
            assert.deepEqual(got.shape, [m, n]);
            assert.equal(got.dtype, dtype === 'f64' ? 'f64' : 'f32');
            for (let i = 0; i < m; i++)
              for (let j = 0; j < n; j++) {
                let s = 0;
                for (let p = 0; p < k; p++) s += value(a, aT ? p * m + i : i * k + p) * value(b, bT ? j * k + p : p * n + j);
                const want = dtype === 'f64' ? alpha * s : Math.fround(alpha * s);
                assert.equal(got.data[i * n + j], want, `${dtype} aT=${aT} bT=${bT} ${m}×${n}×${k} [${i}, ${j}]`);
              }
          }
    });
  }

  test('matmulT is matmul with B given transposed; α is applied once to the exact integer sum', () => {
    const a = new Tensor([1, 3], 'i8', Int8Array.of(-128, -128, 127));
    const b = new Tensor([2, 3], 'i8', Int8Array.of(-128, -128, 127, 1, 2, 3));
    assert.deepEqual(be.matmulT(a, b, 0.1).data, be.matmul(a, b, { bT: true, alpha: 0.1 }).data);
    assert.equal(be.matmulT(a, b, 0.1).data[0], Math.fround(0.1 * (2 * 128 * 128 + 127 * 127)));
  });

  test('errors: contraction dimensions (naming the layout) and dtypes', () => {
    const a = new Tensor([2, 3], 'f32', new Float32Array(6));
    assert.throws(
      () => be.matmul(a, new Tensor([2, 4], 'f32', new Float32Array(8))),
      (e) => e instanceof HaloError && e.code === 'E_SHAPE' && /A·B with A \[2, 3\] and B \[2, 4\]/.test(e.message),
    );
    assert.throws(
      () => be.matmul(a, new Tensor([3, 4], 'f32', new Float32Array(12)), { aT: true }),
      (e) => e instanceof HaloError && e.code === 'E_SHAPE' && /Aᵀ·B/.test(e.message),
    );
    assert.doesNotThrow(() => be.matmul(a, new Tensor([2, 4], 'f32', new Float32Array(8)), { aT: true }));
    assert.throws(
      () => be.matmul(a, new Tensor([3, 4], 'i8', new Int8Array(12))),
      (e) => e instanceof HaloError && e.code === 'E_DTYPE',
    );
  });
});
