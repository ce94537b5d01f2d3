// Native GEMMs (oneDNN) against the reference matmulT on seeded random operands, odd shapes included, in every
// operand layout (matmul's aT/bT: oneDNN strides instead of transposed copies).
// Tolerances, per operand type:
//   i8     bit-identical: exact int32 accumulation, then fround(α·acc) in f64 as the reference does.
//   f32    |diff| ≤ 1e-5·|α|·Σ_k|a_ik·b_jk|: f32 accumulation vs the reference's f64 sum (error ≲ K·2^-24
//          relative to Σ|ab| in the worst case, ~√K·2^-24 typically; K ≤ 1000 here).
//   bf16, fp8, fp6   the same bound: operands decode exactly to bf16, products are exact in f32, only the
//          f32 accumulation differs from the reference (which is the f64 product of the decoded operands).
// i8 and the bf16 family run on every GEMM path this CPU has: oneDNN's s8 / bf16 kernels (VNNI, AVX-512) and
// the exact fallbacks a CPU without them uses (int8 as f32 K-chunks, bf16 widened to f32; forced by tier < 2).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { decodeTable, encodeBf16Array } from '../../src/quant/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import type { GemmOptions } from '../../src/backend/backend.ts';
import { assertBitsEqual, assertClose, nativeTest, randomF32, rawAddon, tiers, withTier } from './native-test.ts';

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 33],
  [7, 1, 127],
  [33, 127, 7],
  [127, 33, 1],
  [7, 33, 127],
  [64, 96, 256],
  [130, 65, 300],
  [2, 3, 1000],
];
const ALPHAS = [1, 0.37, 3.25e-4];

/** Σ_k |a_ik·b_jk|·|α| for the error bound. */
function absProduct(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, alpha: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += Math.abs(a[i * k + p]! * b[j * k + p]!);
      out[i * n + j] = s * Math.abs(alpha);
    }
  return out;
}

function randomCodes(n: number, seed: number, dtype: 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2'): Uint8Array {
  const rng = new Rng(seed);
  const table = decodeTable(dtype);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let c: number;
    do c = rng.int(table.length);
    while (!Number.isFinite(table[c]!));
    out[i] = c;
  }
  return out;
}

function decoded(t: Tensor): Float64Array {
  if (t.dtype === 'i8' || t.dtype === 'f32') return Float64Array.from(t.data as Int8Array | Float32Array);
  const table = decodeTable(t.dtype as 'bf16' | 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2');
  return Float64Array.from(t.data as Uint8Array | Uint16Array, (c) => table[c]!);
}

function operands(dtype: string, m: number, n: number, k: number, seed: number): [Tensor, Tensor] {
  switch (dtype) {
    case 'f32':
      return [randomF32([m, k], seed), randomF32([n, k], seed + 1)];
    case 'bf16':
      return [
        new Tensor([m, k], 'bf16', encodeBf16Array(randomF32([m, k], seed).data)),
        new Tensor([n, k], 'bf16', encodeBf16Array(randomF32([n, k], seed + 1).data)),
      ];
    case 'i8': {
      const rng = new Rng(seed);
      const gen = (len: number) => Int8Array.from({ length: len }, () => rng.int(256) - 128); // full range, -128 too
      return [new Tensor([m, k], 'i8', gen(m * k)), new Tensor([n, k], 'i8', gen(n * k))];
    }
    default: {
      const d = dtype as 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2';
      return [new Tensor([m, k], d, randomCodes(m * k, seed, d)), new Tensor([n, k], d, randomCodes(n * k, seed + 1, d))];
    }
  }
}

describe('native matmulT vs reference', () => {
  nativeTest('i8·i8 is bit-identical (exact int32, α applied once in f64), on every GEMM path', () => {
    // K = 2500: more than one 1024-chunk of the no-VNNI path, with a ragged last chunk.
    for (const tier of tiers()) {
      withTier(tier, () => {
        let seed = 100;
        for (const [m, n, k] of [...SHAPES, [5, 9, 2500]])
          for (const alpha of ALPHAS) {
            const [a, b] = operands('i8', m, n, k, seed++);
            const got = nativeBackend.matmulT(a, b, alpha);
            const want = referenceBackend.matmulT(a, b, alpha);
            assert.deepEqual(got.shape, [m, n]);
            assert.equal(got.dtype, 'f32');
            assertBitsEqual(got.data, want.data, `tier ${tier} i8 ${m}×${n}×${k} α=${alpha}`);
          }
      });
    }
  });

  for (const dtype of ['f32', 'bf16', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2']) {
    nativeTest(`${dtype}·${dtype} within 1e-5·Σ|ab| of the f64 product${dtype === 'f32' ? '' : ', on every GEMM path'}`, () => {
      for (const tier of dtype === 'f32' ? [tiers()[0]!] : tiers()) {
        withTier(tier, () => {
          let seed = 200;
          for (const [m, n, k] of SHAPES)
            for (const alpha of ALPHAS) {
              const [a, b] = operands(dtype, m, n, k, seed++);
              const got = nativeBackend.matmulT(a, b, alpha);
              const want = referenceBackend.matmulT(a, b, alpha);
              assert.equal(got.dtype, 'f32');
              const bound = absProduct(decoded(a), decoded(b), m, n, k, alpha);
              assertClose(got.data, want.data, { rtol: 1e-5, atol: 1e-30, bound }, `tier ${tier} ${dtype} ${m}×${n}×${k} α=${alpha}`);
            }
        });
      }
    });
  }

  nativeTest('small products run on one thread with the same bits as on all threads; both paths match the reference', () => {
    // gemm.cc runs small s8 and α = 1 float products on the calling thread (decode steps). Their results must
    // not depend on which side of the bound a shape falls, or generation and training would change with it.
    const lib = rawAddon();
    const previous = lib.setSerialGemmWork(0);
    try {
      let seed = 300;
      for (const [m, n, k] of [...SHAPES, [1, 8192, 256], [37, 256, 256], [100, 256, 768], [256, 256, 256]] as [number, number, number][]) {
        for (const [dtype, alpha] of [
          ['f32', 1],
          ['bf16', 1],
          ['i8', 0.37],
        ] as const) {
          const [a, b] = operands(dtype, m, n, k, seed++);
          lib.setSerialGemmWork(0);
          const threaded = nativeBackend.matmulT(a, b, alpha);
          lib.setSerialGemmWork(Number.MAX_SAFE_INTEGER);
          const serial = nativeBackend.matmulT(a, b, alpha);
          assertBitsEqual(serial.data, threaded.data, `${dtype} ${m}×${n}×${k}: one thread vs all`);
          const want = referenceBackend.matmulT(a, b, alpha);
          const bound = absProduct(decoded(a), decoded(b), m, n, k, alpha);
          assertClose(threaded.data, want.data, { rtol: 1e-5, atol: 1e-30, bound }, `${dtype} ${m}×${n}×${k} on all threads`);
        }
      }
    } finally {
      lib.setSerialGemmWork(previous);
    }
  });

  nativeTest('large s8 accumulations stay exact (|acc| up to 128²·K), on every GEMM path', () => {
    const k = 4096;
    const a = new Tensor([2, k], 'i8', new Int8Array(2 * k).fill(-128));
    const b = new Tensor(
      [3, k],
      'i8',
      Int8Array.from({ length: 3 * k }, (_, i) => (i < k ? -128 : i < 2 * k ? 127 : -1)),
    );
    // Alternating ±127/−128: the pattern whose u8·s8 pair sums overflow int16 in non-VNNI int8 kernels.
    const c = new Tensor(
      [1, k],
      'i8',
      Int8Array.from({ length: k }, (_, i) => (i % 2 ? 127 : -128)),
    );
    const d = new Tensor(
      [1, k],
      'i8',
      Int8Array.from({ length: k }, (_, i) => (i % 2 ? 127 : -128)),
    );
    for (const tier of tiers()) {
      withTier(tier, () => {
        assertBitsEqual(nativeBackend.matmulT(a, b, 1).data, referenceBackend.matmulT(a, b, 1).data, `tier ${tier} extreme i8`);
        assert.equal(nativeBackend.matmulT(a, b, 1).data[0], 128 * 128 * k);
        assert.equal(nativeBackend.matmulT(c, d, 1).data[0], (k / 2) * (127 * 127 + 128 * 128), `tier ${tier} alternating extremes`);
      });
    }
  });

  nativeTest('empty dimensions: M or N = 0 gives an empty result, K = 0 gives zeros', () => {
    for (const [m, n, k] of [
      [0, 3, 4],
      [3, 0, 4],
      [3, 4, 0],
    ] as const) {
      for (const dtype of ['f32', 'bf16', 'i8', 'fp8e4m3']) {
        const [a, b] = operands(dtype, m, n, k, 7);
        const got = nativeBackend.matmulT(a, b, 2);
        assert.deepEqual(got.shape, [m, n]);
        assert.ok(
          got.data.every((v) => v === 0),
          `${dtype} ${m}×${n}×${k}`,
        );
      }
    }
  });

  nativeTest('f64 operands go to the reference (f64 result, identical values)', () => {
    const a = new Tensor([3, 5], 'f64', new Rng(1).fillNormal(new Float64Array(15)));
    const b = new Tensor([4, 5], 'f64', new Rng(2).fillNormal(new Float64Array(20)));
    const got = nativeBackend.matmulT(a, b, 0.5);
    assert.equal(got.dtype, 'f64');
    assert.deepEqual(got.data, referenceBackend.matmulT(a, b, 0.5).data);
  });

  nativeTest('shape and dtype errors match the reference codes', () => {
    const a = randomF32([3, 5], 1);
    assert.throws(
      () => nativeBackend.matmulT(a, randomF32([4, 6], 2)),
      (e) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
    const b = new Tensor([4, 5], 'bf16', new Uint16Array(20));
    assert.throws(
      () => nativeBackend.matmulT(a, b),
      (e) => e instanceof HaloError && e.code === 'E_DTYPE',
    );
    assert.throws(
      () => nativeBackend.matmulT(randomF32([5], 1), a),
      (e) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
  });

  nativeTest('the addon checks array lengths itself (no out-of-bounds access on a bad call)', () => {
    const addon = rawAddon();
    assert.throws(() => addon.matmulT(0, new Float32Array(5), new Float32Array(6), 2, 3, 3, 1, new Float32Array(6)), /A \(f32\) has 5 elements, needs 6/);
    assert.throws(() => addon.matmulT(2, new Float32Array(6), new Int8Array(9), 2, 3, 3, 1, new Float32Array(6)), /must be a Int8Array/);
    assert.throws(() => addon.matmulT(0, new Float32Array(6), new Float32Array(9), 2, 3, 3, 1, new Float32Array(5)), /out has 5 elements/);
  });

  nativeTest('oneDNN picks a JIT implementation for every operand type; below tier 2 the fallbacks say so', () => {
    const addon = rawAddon();
    for (const t of [0, 1, 2]) assert.match(addon.gemmImpl(t, 256, 256, 256), /jit|brg|gemm/);
    withTier(1, () => {
      assert.match(addon.gemmImpl(2, 256, 256, 2048), /^f32 on exact int8 K-chunks/);
      assert.match(addon.gemmImpl(1, 256, 256, 256), /^f32 on widened bf16/);
    });
  });
});

const LAYOUTS: { aT: boolean; bT: boolean }[] = [
  { aT: false, bT: true },
  { aT: false, bT: false },
  { aT: true, bT: false },
  { aT: true, bT: true },
];
const layoutName = (l: { aT: boolean; bT: boolean }) => `${l.aT ? 'Aᵀ' : 'A'}·${l.bT ? 'Bᵀ' : 'B'}`;

/** a [M,K] and b [N,K] stored as the layout says: a as [K,M] when aT, b as [K,N] unless bT. */
function stored(a: Tensor, b: Tensor, l: { aT: boolean; bT: boolean }): [Tensor, Tensor] {
  return [l.aT ? referenceBackend.transpose(a) : a, l.bT ? b : referenceBackend.transpose(b)];
}

describe('native matmul with operand layouts vs reference matmulT of the plain operands', () => {
  nativeTest('i8·i8 is bit-identical in every layout, on every GEMM path', () => {
    for (const tier of tiers()) {
      withTier(tier, () => {
        let seed = 500;
        for (const l of LAYOUTS)
          for (const [m, n, k] of [...SHAPES, [5, 9, 2500]])
            for (const alpha of ALPHAS) {
              const [a, b] = operands('i8', m, n, k, seed++);
              const [as, bs] = stored(a, b, l);
              const got = nativeBackend.matmul(as, bs, { ...l, alpha });
              assert.deepEqual(got.shape, [m, n]);
              assertBitsEqual(got.data, referenceBackend.matmulT(a, b, alpha).data, `tier ${tier} i8 ${layoutName(l)} ${m}×${n}×${k} α=${alpha}`);
              assertBitsEqual(referenceBackend.matmul(as, bs, { ...l, alpha }).data, got.data, `reference i8 ${layoutName(l)} ${m}×${n}×${k}`);
            }
      });
    }
  });

  for (const dtype of ['f32', 'bf16', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2']) {
    nativeTest(`${dtype}·${dtype} within 1e-5·Σ|ab| of the f64 product in every layout, on every GEMM path`, () => {
      for (const tier of tiers()) {
        withTier(tier, () => {
          let seed = 600;
          for (const l of LAYOUTS)
            for (const [m, n, k] of SHAPES)
              for (const alpha of ALPHAS) {
                const [a, b] = operands(dtype, m, n, k, seed++);
                const [as, bs] = stored(a, b, l);
                const got = nativeBackend.matmul(as, bs, { ...l, alpha });
                const want = referenceBackend.matmulT(a, b, alpha);
                assert.deepEqual(got.shape, [m, n]);
                const bound = absProduct(decoded(a), decoded(b), m, n, k, alpha);
                assertClose(got.data, want.data, { rtol: 1e-5, atol: 1e-30, bound }, `tier ${tier} ${dtype} ${layoutName(l)} ${m}×${n}×${k} α=${alpha}`);
                // The reference sums the same products in the same order whatever the layout.
                assertBitsEqual(referenceBackend.matmul(as, bs, { ...l, alpha }).data, want.data, `reference ${dtype} ${layoutName(l)} ${m}×${n}×${k}`);
              }
        });
      }
    });
  }

  nativeTest('small products in every layout: one thread gives the bits of all threads', () => {
    const lib = rawAddon();
    const previous = lib.setSerialGemmWork(0);
    try {
      let seed = 700;
      for (const l of LAYOUTS)
        for (const [m, n, k] of [
          [7, 33, 127],
          [1, 8192, 256],
          [37, 256, 256],
          [100, 256, 768],
          [256, 256, 256],
        ] as [number, number, number][]) {
          for (const [dtype, alpha] of [
            ['f32', 1],
            ['bf16', 1],
            ['i8', 0.37],
          ] as const) {
            const [a, b] = operands(dtype, m, n, k, seed++);
            const [as, bs] = stored(a, b, l);
            lib.setSerialGemmWork(0);
            const threaded = nativeBackend.matmul(as, bs, { ...l, alpha });
            lib.setSerialGemmWork(Number.MAX_SAFE_INTEGER);
            const serial = nativeBackend.matmul(as, bs, { ...l, alpha });
            assertBitsEqual(serial.data, threaded.data, `${dtype} ${layoutName(l)} ${m}×${n}×${k}: one thread vs all`);
          }
        }
    } finally {
      lib.setSerialGemmWork(previous);
    }
  });

  nativeTest('extreme s8 values stay exact in every layout (|acc| up to 128²·K; ±127/−128 pairs), on every GEMM path', () => {
    const k = 4096;
    const a = new Tensor(
      [2, k],
      'i8',
      Int8Array.from({ length: 2 * k }, (_, i) => (i < k ? -128 : i % 2 ? 127 : -128)),
    );
    const b = new Tensor(
      [3, k],
      'i8',
      Int8Array.from({ length: 3 * k }, (_, i) => (i < k ? -128 : i < 2 * k ? (i % 2 ? 127 : -128) : -1)),
    );
    const want = referenceBackend.matmulT(a, b, 1).data;
    assert.equal(want[0], 128 * 128 * k);
    for (const tier of tiers()) {
      withTier(tier, () => {
        for (const l of LAYOUTS) {
          const [as, bs] = stored(a, b, l);
          assertBitsEqual(nativeBackend.matmul(as, bs, { ...l, alpha: 1 }).data, want, `tier ${tier} ${layoutName(l)} extreme i8`);
        }
      });
    }
  });

  nativeTest('f64 operands in any layout go to the reference; M, N or K = 0 in any layout', () => {
    const a = new Tensor([5, 3], 'f64', new Rng(1).fillNormal(new Float64Array(15)));
    const b = new Tensor([5, 4], 'f64', new Rng(2).fillNormal(new Float64Array(20)));
    const got = nativeBackend.matmul(a, b, { aT: true, alpha: 0.5 });
    assert.equal(got.dtype, 'f64');
    assert.deepEqual(got.data, referenceBackend.matmul(a, b, { aT: true, alpha: 0.5 }).data);
    for (const l of LAYOUTS)
      for (const [m, n, k] of [
        [0, 3, 4],
        [3, 0, 4],
        [3, 4, 0],
      ] as const) {
        const [as, bs] = stored(...operands('i8', m, n, k, 9), l);
        const out = nativeBackend.matmul(as, bs, { ...l, alpha: 2 });
        assert.deepEqual(out.shape, [m, n]);
        assert.ok(
          out.data.every((v) => v === 0),
          `${layoutName(l)} ${m}×${n}×${k}`,
        );
      }
  });

  nativeTest('layout shape errors match the reference codes; the addon checks lengths', () => {
    const a = randomF32([3, 5], 1);
    const bad: [Tensor, GemmOptions][] = [
      [randomF32([6, 4], 2), {}],
      [randomF32([4, 5], 2), {}],
      [randomF32([4, 3], 2), { bT: true }],
      [randomF32([5, 4], 2), { aT: true }],
    ];
    for (const [b, o] of bad) {
      for (const be of [nativeBackend, referenceBackend]) {
        assert.throws(
          () => be.matmul(a, b, o),
          (e) => e instanceof HaloError && e.code === 'E_SHAPE' && /contraction dimensions/.test(e.message),
          `${be.name} ${JSON.stringify(o)}`,
        );
      }
    }
    assert.throws(
      () => nativeBackend.matmul(a, new Tensor([5, 4], 'bf16', new Uint16Array(20))),
      (e) => e instanceof HaloError && e.code === 'E_DTYPE',
    );
    const addon = rawAddon();
    assert.throws(
      () => addon.matmul(0, new Float32Array(5), new Float32Array(6), 2, 3, 3, true, false, 1, new Float32Array(6)),
      /A \(f32\) has 5 elements, needs 6/,
    );
    assert.throws(() => addon.matmul(0, new Float32Array(6), new Float32Array(9), 2, 3, 3, false, true, 1, new Float32Array(5)), /out has 5 elements/);
  });

  nativeTest('oneDNN names an implementation for every layout (never the reference one)', () => {
    const addon = rawAddon();
    for (const t of [0, 1, 2])
      for (const l of LAYOUTS) assert.match(addon.gemmImpl(t, 256, 256, 256, l.aT, !l.bT), /jit|brg|gemm/, `type ${t} ${layoutName(l)}`);
  });
});
