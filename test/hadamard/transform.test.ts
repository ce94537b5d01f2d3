import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FloatArray } from '../../src/core/dtype.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { sylvester } from '../../src/hadamard/matrices.ts';
import { planHadamard, type HadamardPlan, type PlanOptions } from '../../src/hadamard/plan.ts';
import { denseHadamard, fwht, leftHadamard, rightHadamard } from '../../src/hadamard/transform.ts';

const randn = (n: number, seed: number, f32 = false): FloatArray => new Rng(seed).fillNormal(f32 ? new Float32Array(n) : new Float64Array(n));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function transpose(x: FloatArray, rows: number, cols: number): FloatArray {
  const out = x instanceof Float32Array ? new Float32Array(x.length) : new Float64Array(x.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  return out;
}

/** out[r, :] = x[r, :]·M (M [n, n] row-major), or x[r, :]·Mᵀ. */
function rowTimes(x: Float64Array, rows: number, m: Float64Array, n: number, mTransposed: boolean): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[r * n + i]! * (mTransposed ? m[j * n + i]! : m[i * n + j]!);
      out[r * n + j] = s;
    }
  }
  return out;
}

const norm2 = (x: ArrayLike<number>, from: number, to: number): number => {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return s;
};

test('fwht equals the Sylvester matrix, with offset and stride', () => {
  const len = 16,
    stride = 3,
    offset = 5;
  const x = randn(offset + len * stride, 1) as Float64Array;
  const v = Array.from({ length: len }, (_, i) => x[offset + i * stride]!);
  fwht(x, offset, len, stride);
  const h = sylvester(len);
  for (let i = 0; i < len; i++) {
    let s = 0;
    for (let j = 0; j < len; j++) s += h[i * len + j]! * v[j]!;
    assert.ok(Math.abs(x[offset + i * stride]! - s) < 1e-12);
  }
});

// Small plans, checked against the dense Ĥ: right = x·Ĥᵀ, right-transpose = x·Ĥ, left = Ĥ·X, left-transpose = Ĥᵀ·X.
const DENSE: [number, PlanOptions][] = [
  [8, {}],
  [64, {}],
  [12, {}],
  [24, {}],
  [40, {}],
  [36, {}],
  [156, {}],
  [172, {}],
  [12 * 64, {}],
  [96, { block: 32 }],
  [72, { block: 12 }],
  [152, {}], // 152 = 76·2, Paley II with q = 37
];
for (const [n, opts] of DENSE) {
  test(`n=${n} ${JSON.stringify(opts)}: transforms equal dense products with Ĥ, and Ĥ is orthonormal`, () => {
    const plan = planHadamard(n, opts);
    const h = denseHadamard(plan);
    if (n <= 256) assert.ok(maxAbsDiff(rowTimes(h, n, h, n, true), denseIdentity(n)) < 1e-12, 'Ĥ·Ĥᵀ = I'); // n³ work
    const rows = 3;
    for (const transpose of [false, true]) {
      const x = randn(rows * n, n + 7) as Float64Array;
      const want = rowTimes(x, rows, h, n, !transpose);
      const got = x.slice();
      rightHadamard(got, rows, plan, transpose);
      assert.ok(maxAbsDiff(got, want) < 1e-12, `right transpose=${transpose}`);
      // left over the rows of X = xᵀ [n, rows]
      const xt = transpose2(x, rows, n);
      leftHadamard(xt, n, rows, plan, transpose);
      assert.ok(maxAbsDiff(transpose2(xt, n, rows), want) < 1e-12, `left transpose=${transpose}`);
    }
  });
}
function denseIdentity(n: number): Float64Array {
  const e = new Float64Array(n * n);
  for (let i = 0; i < n; i++) e[i * n + i] = 1;
  return e;
}
const transpose2 = (x: Float64Array, r: number, c: number) => transpose(x, r, c) as Float64Array;

// Larger plans: round trip, norm preservation, f32 against f64.
const ROUND_TRIP: [number, PlanOptions][] = [
  ...[8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map((n) => [n, {}] as [number, PlanOptions]),
  [12 * 64, {}],
  [28 * 512, {}],
  [172 * 64, {}],
  [156 * 8, {}],
  [140 * 64, {}],
  [4864, { block: 256 }],
  [4864, {}],
  [5120, {}],
];
for (const [n, opts] of ROUND_TRIP) {
  test(`n=${n} ${JSON.stringify(opts)}: round trip restores x, norms are preserved, f32 tracks f64`, () => {
    const plan = planHadamard(n, opts);
    const rows = 2;
    const x64 = randn(rows * n, n) as Float64Array;
    const y = x64.slice();
    rightHadamard(y, rows, plan, false);
    for (let r = 0; r < rows; r++) {
      const a = norm2(x64, r * n, (r + 1) * n),
        b = norm2(y, r * n, (r + 1) * n);
      assert.ok(Math.abs(a - b) < 1e-10 * a, `row ${r} norm`);
    }
    const z = y.slice();
    rightHadamard(z, rows, plan, true);
    assert.ok(maxAbsDiff(z, x64) < 1e-12, 'f64 round trip');

    const x32 = Float32Array.from(x64);
    const y32 = x32.slice();
    rightHadamard(y32, rows, plan, false);
    assert.ok(maxAbsDiff(y32, y) < 1e-5, 'f32 vs f64');
    rightHadamard(y32, rows, plan, true);
    assert.ok(maxAbsDiff(y32, x32) < 1e-5, 'f32 round trip');
  });
}

test('leftHadamard equals transpose ∘ rightHadamard ∘ transpose bit for bit (f32 and f64)', () => {
  const cases: [number, number, PlanOptions][] = [
    [768, 37, {}],
    [172 * 4, 5, {}],
    [4096, 9, {}],
    [96, 300, { block: 32 }],
    [36 * 2, 70, { block: 12 }],
    [12, 1, {}],
  ];
  for (const [rows, cols, opts] of cases) {
    const plan = planHadamard(rows, opts);
    for (const f32 of [false, true]) {
      for (const tr of [false, true]) {
        const x = randn(rows * cols, rows + cols, f32);
        const viaRight = transpose(x, rows, cols);
        rightHadamard(viaRight, cols, plan, tr);
        const left = x.slice();
        leftHadamard(left, rows, cols, plan, tr);
        assert.deepEqual(left, transpose(viaRight, cols, rows), `rows=${rows} cols=${cols} f32=${f32} transpose=${tr}`);
      }
    }
  }
});

test('transpose matters when H_K is not symmetric, and only then', () => {
  // Paley I (12, 172 via Williamson, 40 via doubling of Paley I) is not symmetric; Paley II (52) and Sylvester are.
  for (const [n, symmetricK] of [
    [12 * 16, false],
    [172 * 2, false],
    [40, false],
    [52 * 4, true],
    [256, true],
  ] as const) {
    const plan: HadamardPlan = planHadamard(n);
    const K = plan.K,
      h = plan.hadK;
    let symmetric = true;
    if (h) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) if (h[i * K + j] !== h[j * K + i]) symmetric = false;
    assert.equal(symmetric, symmetricK, `H_${K} symmetric`);
    const a = randn(n, 3) as Float64Array,
      b = a.slice();
    rightHadamard(a, 1, plan, false);
    rightHadamard(b, 1, plan, true);
    if (symmetricK) assert.deepEqual(a, b, `n=${n}`);
    else assert.ok(maxAbsDiff(a, b) > 0.1, `n=${n}`);
  }
});

test('shape mismatches throw E_SHAPE', () => {
  const plan = planHadamard(64);
  const isShape = (e: unknown) => e instanceof HaloError && e.code === 'E_SHAPE';
  assert.throws(() => rightHadamard(new Float32Array(100), 2, plan, false), isShape);
  assert.throws(() => leftHadamard(new Float32Array(64 * 3), 32, 6, plan, false), isShape);
  assert.throws(() => leftHadamard(new Float32Array(64 * 3), 64, 2, plan, false), isShape);
});
