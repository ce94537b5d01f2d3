// The absmax quantizers: scale formula and its guards, scale shapes per granularity, error bounds of
// fake-quant, transposeOut, clipRatio, unitScale, the bf16 cast, and the errors a caller can cause.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError, type ErrorCode } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import {
  QUANT_FORMATS,
  QUANT_FORMAT_NAMES,
  dequantize,
  encodeBf16Array,
  fakeQuantize,
  quantize,
  type Granularity,
  type QuantFormat,
} from '../../src/quant/index.ts';

const GRANS: Granularity[] = ['tensor', 'row', 'block32', 'tile32'];
const SCALED: QuantFormat[] = ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'];

function randn(rows: number, cols: number, seed: number, std = 1): Tensor<'f64'> {
  return new Tensor([rows, cols], 'f64', new Rng(seed).fillNormal(new Float64Array(rows * cols), std));
}
const toF32 = (x: Tensor<'f64'>) => new Tensor(x.shape, 'f32', Float32Array.from(x.data));

/** x [r, c] → xᵀ, written out here rather than taken from a backend. */
function transposed<T extends Tensor>(x: T): T {
  const [r, c] = x.dims2();
  const out = Tensor.zeros([c, r], x.dtype);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = x.data[i * c + j]!;
  return out as T;
}

/** Absmax of each scale group, written as explicit loops over the group definitions. */
function groupAbsmax(x: Tensor<'f64'>, g: Granularity): number[] {
  const [r, c] = x.dims2();
  const abs = (i: number, j: number) => Math.abs(x.data[i * c + j]!);
  if (g === 'tensor') return [x.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0)];
  const out: number[] = [];
  if (g === 'tile32') {
    for (let bi = 0; bi < r; bi += 32) {
      for (let bj = 0; bj < c; bj += 32) {
        let m = 0;
        for (let i = bi; i < Math.min(bi + 32, r); i++) for (let j = bj; j < Math.min(bj + 32, c); j++) m = Math.max(m, abs(i, j));
        out.push(m);
      }
    }
    return out;
  }
  for (let i = 0; i < r; i++) {
    if (g === 'row') {
      let m = 0;
      for (let j = 0; j < c; j++) m = Math.max(m, abs(i, j));
      out.push(m);
    } else {
      for (let b = 0; b < c; b += 32) {
        let m = 0;
        for (let j = b; j < Math.min(b + 32, c); j++) m = Math.max(m, abs(i, j));
        out.push(m);
      }
    }
  }
  return out;
}

/** The scale of element (r, j) of [*, cols] codes, from each granularity's definition. */
function scaleAt(q: { scales: Float32Array }, g: Granularity, cols: number, r: number, j: number): number {
  const nb = Math.ceil(cols / 32);
  switch (g) {
    case 'tensor':
      return q.scales[0]!;
    case 'row':
      return q.scales[r]!;
    case 'block32':
      return q.scales[r * nb + Math.floor(j / 32)]!;
    case 'tile32':
      return q.scales[Math.floor(r / 32) * nb + Math.floor(j / 32)]!;
  }
}

const fails = (code: ErrorCode, msg?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof HaloError, `not a HaloError: ${e}`);
  assert.equal(e.code, code);
  if (msg) assert.match(e.message, msg);
  return true;
};

describe('scales', () => {
  test('shapes per granularity, with and without transposeOut', () => {
    for (const [r, c] of [
      [3, 1],
      [2, 31],
      [4, 32],
      [5, 33],
      [3, 70],
      [0, 5],
      [4, 0],
    ] as const) {
      const x = randn(r, c, r * 100 + c);
      for (const t of [false, true]) {
        const [R, C] = t ? [c, r] : [r, c];
        const want = { tensor: 1, row: R, block32: R * Math.ceil(C / 32), tile32: Math.ceil(R / 32) * Math.ceil(C / 32) };
        for (const g of GRANS) {
          const q = quantize(x, 'int8', g, { transposeOut: t });
          assert.deepEqual(q.q.shape, [R, C]);
          assert.equal(q.scales.length, want[g], `[${r}, ${c}] ${g} transposeOut=${t}`);
          assert.equal(q.granularity, g);
        }
      }
    }
  });

  test('scale = fround(absmax / qmax) per group, for every scaled format', () => {
    const x = randn(6, 75, 1, 3);
    x.data[10] = 40; // one outlier
    for (const f of SCALED) {
      for (const g of GRANS) {
        const q = quantize(x, f, g);
        const want = groupAbsmax(x, g).map((m) => Math.fround(m / QUANT_FORMATS[f].qmax));
        assert.deepEqual(Array.from(q.scales), want, `${f} ${g}`);
      }
    }
  });

  test('an all-zero tensor, row or block gets scale 1 and zero codes, never NaN', () => {
    for (const f of QUANT_FORMAT_NAMES) {
      const z = quantize(new Tensor([3, 40], 'f32', new Float32Array(120)), f, 'tensor');
      assert.deepEqual(Array.from(z.scales), [1]);
      assert.ok(
        Array.from(z.q.data).every((c) => c === 0),
        f,
      );
      assert.ok(dequantize(z, 'f32').data.every((v) => v === 0));
    }
    const x = randn(3, 40, 2);
    x.data.fill(0, 40, 80); // row 1 all zero
    x.data.fill(0, 0, 32); // block (0, 0) all zero
    const row = quantize(x, 'fp8e4m3', 'row');
    assert.equal(row.scales[1], 1);
    assert.notEqual(row.scales[0], 1);
    const blk = quantize(x, 'int8', 'block32');
    assert.deepEqual([blk.scales[0], blk.scales[2], blk.scales[3]], [1, 1, 1]);
    assert.notEqual(blk.scales[1], 1);
    for (const q of [row, blk]) assert.ok(dequantize(q, 'f64').data.every(Number.isFinite));
  });

  test('a scale that would underflow f32 is the smallest subnormal, never 0; one that overflows is E_NUMERIC', () => {
    const tiny = quantize(new Tensor([1, 2], 'f32', new Float32Array([2 ** -149, -(2 ** -149)])), 'int8', 'tensor');
    assert.equal(tiny.scales[0], 2 ** -149);
    assert.deepEqual(Array.from(tiny.q.data), [1, -1]);
    assert.deepEqual(Array.from(dequantize(tiny, 'f64').data), [2 ** -149, -(2 ** -149)]);
    assert.throws(() => quantize(new Tensor([1, 1], 'f64', new Float64Array([1e300])), 'int8', 'tensor'), fails('E_NUMERIC'));
  });

  test('the absmax element maps onto ±qmax exactly, even when the f32 scale rounded down', () => {
    const rng = new Rng(3);
    for (const f of SCALED) {
      const qmaxCode = QUANT_FORMATS[f].encode(QUANT_FORMATS[f].qmax);
      for (let n = 0; n < 500; n++) {
        const m = Math.fround(rng.next() * 2 ** (rng.int(40) - 20));
        const x = new Tensor([1, 3], 'f32', new Float32Array([m * 0.3, -m, m]));
        const q = quantize(x, f, 'tensor');
        assert.equal(q.q.data[2], qmaxCode, `${f} absmax ${m}`);
        assert.equal(QUANT_FORMATS[f].decode(q.q.data[1]!), -QUANT_FORMATS[f].qmax);
      }
    }
  });
});

describe('codes and errors', () => {
  test('int8: codes in [-127, 127], fake-quant error ≤ scale/2 per element', () => {
    for (const g of GRANS) {
      const x = randn(37, 100, 4, 2);
      x.data[5] = -30;
      const q = quantize(x, 'int8', g);
      assert.ok(q.q.data.every((c) => c >= -127 && c <= 127));
      const y = dequantize(q, 'f64');
      const [, c] = x.dims2();
      for (let i = 0; i < x.numel; i++) {
        const r = Math.floor(i / c),
          j = i % c;
        const s = scaleAt(q, g, c, r, j);
        assert.ok(Math.abs(x.data[i]! - y.data[i]!) <= s / 2, `${g} element ${i}: |${x.data[i]} - ${y.data[i]}| > ${s / 2}`);
      }
    }
  });

  test('float formats: relative error ≤ half an ulp of the format (absolute ≤ half the smallest subnormal)', () => {
    const spec = { fp8e4m3: [3, 2 ** -9], fp8e5m2: [2, 2 ** -16], fp6e3m2: [2, 1 / 16] } as const;
    for (const [f, [mbits, minSub]] of Object.entries(spec) as [QuantFormat, readonly [number, number]][]) {
      for (const g of GRANS) {
        const x = randn(5, 70, 5);
        const q = quantize(x, f, g);
        const y = dequantize(q, 'f64');
        for (let i = 0; i < x.numel; i++) {
          const [r, j] = [Math.floor(i / 70), i % 70];
          const s = scaleAt(q, g, 70, r, j);
          const v = x.data[i]! / s;
          const err = Math.abs(v - y.data[i]! / s);
          assert.ok(err <= Math.max(Math.abs(v) * 2 ** -(mbits + 1), minSub / 2) * (1 + 1e-12), `${f} ${g} x=${x.data[i]}`);
        }
      }
    }
  });

  test('f32 and f64 inputs holding the same values give the same codes and scales', () => {
    const x32 = toF32(randn(9, 45, 6, 5));
    const x64 = new Tensor(x32.shape, 'f64', Float64Array.from(x32.data));
    for (const f of QUANT_FORMAT_NAMES) {
      for (const g of GRANS) {
        const a = quantize(x32, f, g),
          b = quantize(x64, f, g);
        assert.deepEqual(a.q.data, b.q.data, `${f} ${g}`);
        assert.deepEqual(a.scales, b.scales);
      }
    }
  });

  test('code dtypes follow the format table', () => {
    const x = randn(2, 3, 7);
    const want = { int8: Int8Array, fp8e4m3: Uint8Array, fp8e5m2: Uint8Array, fp6e3m2: Uint8Array, bf16: Uint16Array };
    for (const f of QUANT_FORMAT_NAMES) {
      const q = quantize(x, f, 'tensor');
      assert.equal(q.q.dtype, QUANT_FORMATS[f].dtype);
      assert.ok(q.q.data instanceof want[f], f);
      assert.equal(q.format, f);
    }
    assert.ok(quantize(x, 'fp6e3m2', 'tensor').q.data.every((c) => c < 64));
  });
});

describe('options', () => {
  test("transposeOut with 'tensor' equals transposing the codes", () => {
    const x = randn(11, 37, 8);
    for (const f of QUANT_FORMAT_NAMES) {
      const plain = quantize(x, f, 'tensor');
      const t = quantize(x, f, 'tensor', { transposeOut: true });
      assert.deepEqual(t.q.data, transposed(plain.q).data, f);
      assert.deepEqual(t.scales, plain.scales);
    }
  });

  test("transposeOut with 'tile32' equals transposing the codes; the scale grid is transposed too", () => {
    const x = randn(70, 45, 15);
    x.data[33 * 45 + 40] = 25; // an outlier in tile (1, 1) only
    for (const f of SCALED) {
      const plain = quantize(x, f, 'tile32');
      const t = quantize(x, f, 'tile32', { transposeOut: true });
      assert.deepEqual(t.q.data, transposed(plain.q).data, f);
      // plain: 3×2 tile grid of x [70, 45]; t: 2×3 grid of xᵀ [45, 70]
      assert.equal(plain.scales.length, 6);
      for (let a = 0; a < 3; a++) for (let b = 0; b < 2; b++) assert.equal(t.scales[b * 3 + a], plain.scales[a * 2 + b], `${f} tile (${a}, ${b})`);
      assert.equal(plain.scales[1 * 2 + 1], Math.fround(25 / QUANT_FORMATS[f].qmax));
    }
  });

  test("'tile32' scales are 32×32 tiles, not 1×32 rows: an outlier rescales its whole tile and nothing else", () => {
    const x = randn(64, 64, 16);
    x.data[5 * 64 + 3] = 100; // tile (0, 0)
    const q = quantize(x, 'int8', 'tile32');
    const tileMax = (bi: number, bj: number) => {
      let m = 0;
      for (let i = bi * 32; i < bi * 32 + 32; i++) for (let j = bj * 32; j < bj * 32 + 32; j++) m = Math.max(m, Math.abs(x.data[i * 64 + j]!));
      return m;
    };
    assert.deepEqual(
      Array.from(q.scales),
      [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ].map(([a, b]) => Math.fround(tileMax(a!, b!) / 127)),
    );
    // Row 31 shares the outlier's scale (same tile), row 32 does not; with 'block32' row 31 has its own.
    const y = dequantize(q, 'f64');
    const step = (r: number) => scaleAt(q, 'tile32', 64, r, 0);
    assert.equal(step(31), q.scales[0]);
    assert.equal(step(32), q.scales[2]);
    assert.notEqual(quantize(x, 'int8', 'block32').scales[31 * 2], q.scales[0]);
    assert.ok(Math.abs(y.data[31 * 64] - x.data[31 * 64]!) <= q.scales[0]! / 2);
  });

  test("transposeOut with 'row' / 'block32' quantizes the rows of xᵀ", () => {
    const x = randn(40, 9, 9);
    for (const f of SCALED) {
      for (const g of ['row', 'block32'] as const) {
        const t = quantize(x, f, g, { transposeOut: true });
        const ref = quantize(transposed(x), f, g);
        assert.deepEqual(t.q.data, ref.q.data, `${f} ${g}`);
        assert.deepEqual(t.scales, ref.scales);
        assert.deepEqual(dequantize(t, 'f64').shape, [9, 40]);
      }
    }
  });

  test('clipRatio scales absmax·ratio onto qmax and saturates what lies beyond', () => {
    const x = randn(4, 50, 10);
    const absmax = groupAbsmax(x, 'tensor')[0]!;
    for (const f of SCALED) {
      const { qmax, encode } = QUANT_FORMATS[f];
      const q = quantize(x, f, 'tensor', { clipRatio: 0.75 });
      assert.equal(q.scales[0], Math.fround((absmax * 0.75) / qmax));
      let clipped = 0;
      for (let i = 0; i < x.numel; i++) {
        if (Math.abs(x.data[i]!) > 0.75 * absmax * 1.0001) {
          clipped++;
          assert.equal(q.q.data[i], encode(Math.sign(x.data[i]!) * qmax), `${f}: ${x.data[i]} should saturate`);
        }
      }
      assert.ok(clipped > 0);
      const y = fakeQuantize(x, f, 'tensor', { clipRatio: 0.75 });
      const ymax = y.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.equal(ymax, q.scales[0]! * qmax);
    }
    // HALO's FP6 simulation: scale = absmax / 28 · 0.75
    assert.equal(quantize(x, 'fp6e3m2', 'tensor', { clipRatio: 0.75 }).scales[0], Math.fround((absmax * 0.75) / 28));
  });

  test('unitScale is a plain saturating cast with scale 1', () => {
    const x = new Tensor([1, 5], 'f64', new Float64Array([0.5, 1.5, 200, -3.7, -1000]));
    for (const g of GRANS) {
      const q = quantize(x, 'int8', g, { unitScale: true, clipRatio: 0.5 });
      assert.ok(q.scales.every((s) => s === 1));
      assert.deepEqual(Array.from(q.q.data), [0, 2, 127, -4, -127]);
    }
    const e4 = quantize(x, 'fp8e4m3', 'row', { unitScale: true });
    assert.deepEqual(Array.from(dequantize(e4, 'f64').data), [0.5, 1.5, 192, -3.75, -448]);
  });

  test('bf16 is a cast: codes are bf16 bits, every scale 1', () => {
    const x = toF32(randn(3, 40, 11, 1e3));
    for (const g of GRANS) {
      const q = quantize(x, 'bf16', g);
      assert.deepEqual(q.q.data, encodeBf16Array(x.data));
      assert.ok(q.scales.every((s) => s === 1));
    }
  });

  test('fakeQuantize = dequantize(quantize(x)) in the input dtype', () => {
    const x = toF32(randn(5, 33, 12));
    for (const f of QUANT_FORMAT_NAMES) {
      const y = fakeQuantize(x, f, 'block32');
      assert.equal(y.dtype, 'f32');
      assert.deepEqual(y.data, dequantize(quantize(x, f, 'block32'), 'f32').data);
    }
  });
});

describe('errors', () => {
  test('non-finite input is E_NUMERIC naming how many', () => {
    const x = randn(3, 4, 13);
    x.data[1] = NaN;
    x.data[5] = Infinity;
    x.data[11] = -Infinity;
    for (const f of QUANT_FORMAT_NAMES) {
      assert.throws(() => quantize(x, f, 'tensor'), fails('E_NUMERIC', /\b3 non-finite/));
      assert.throws(() => quantize(x, f, 'row', { unitScale: true }), fails('E_NUMERIC', /\b3 non-finite/));
    }
  });

  test('bad shapes, dtypes, formats, granularities and clip ratios', () => {
    const x = randn(2, 2, 14);
    assert.throws(() => quantize(x.reshape([4]) as Tensor<'f64'>, 'int8', 'tensor'), fails('E_SHAPE'));
    assert.throws(() => quantize(new Tensor([1, 1], 'i8', new Int8Array(1)) as never, 'int8', 'tensor'), fails('E_DTYPE'));
    assert.throws(() => quantize(x, 'fp4' as QuantFormat, 'tensor'), fails('E_ARG', /fp4/));
    assert.throws(() => quantize(x, 'int8', 'col' as Granularity), fails('E_ARG', /col/));
    for (const clipRatio of [0, -1, NaN, Infinity]) assert.throws(() => quantize(x, 'int8', 'tensor', { clipRatio }), fails('E_ARG'));
    const q = quantize(x, 'int8', 'row');
    assert.throws(() => dequantize({ ...q, scales: new Float32Array(1) }, 'f32'), fails('E_SHAPE'));
    assert.throws(() => dequantize({ ...q, format: 'fp8e4m3' }, 'f32'), fails('E_DTYPE'));
  });
});
