// Native fused rotate + absmax + quantize (+ transpose) and dequantize against the reference
// (src/quant/quantize.ts applied to src/hadamard/transform.ts). Tolerance: ZERO — codes and scales must be
// bit-identical for every format × granularity × layout × rotation × option, on every code path, including
// exact rounding ties, subnormal inputs, zeros and saturation; dequantized values too.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, FloatTensor, Rotation } from '../../src/backend/backend.ts';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { FORMAT_CODES, GRANULARITY_CODES, QUANT_STRATEGY, SIDE_CODES } from '../../src/backend/native/binding.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { planHadamard } from '../../src/hadamard/index.ts';
import { DTYPES } from '../../src/core/dtype.ts';
import {
  GRANULARITIES,
  QUANT_FORMAT_NAMES,
  decodeTable,
  formatTraits,
  scaleCount,
  type Granularity,
  type QuantFormat,
  type Quantized,
} from '../../src/quant/index.ts';
import { assertBitsEqual, nativeTest, randomF32, rawAddon, tiers, withTier } from './native-test.ts';

type Opts = { transposeOut?: boolean; unitScale?: boolean; clipRatio?: number };
type RQ = (x: FloatTensor, rot: Rotation | null, f: QuantFormat, g: Granularity, o?: Opts) => Quantized;
const nat = nativeBackend.rotateQuantize as RQ;
const ref = referenceBackend.rotateQuantize as RQ;

function assertSameQuant(got: Quantized, want: Quantized, what: string): void {
  assert.equal(got.format, want.format, what);
  assert.equal(got.granularity, want.granularity, what);
  assert.equal(got.q.dtype, want.q.dtype, what);
  assert.deepEqual(got.q.shape, want.q.shape, what);
  assertBitsEqual(got.scales, want.scales, `${what}: scales`);
  assertBitsEqual(got.q.data as ArrayBufferView, want.q.data as ArrayBufferView, `${what}: codes`);
}

/** Inputs whose quotients x/scale land exactly on rounding ties (the first element pins scale = 1). */
function tieInput(format: QuantFormat, rows: number, cols: number, seed: number): Tensor<'f32'> {
  const rng = new Rng(seed);
  const data = new Float32Array(rows * cols);
  if (format === 'int8') {
    for (let i = 0; i < data.length; i++) data[i] = rng.int(254) - 127 + 0.5 * (rng.int(2) ? 1 : -1);
    data[0] = 127;
  } else {
    const table = decodeTable(formatTraits(format).dtype as 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2' | 'bf16');
    const values = Array.from(new Set(Array.from(table).filter((v) => Number.isFinite(v) && v >= 0))).sort((a, b) => a - b);
    const limit = format === 'bf16' ? 200 : values.length - 1;
    for (let i = 0; i < data.length; i++) {
      const j = rng.int(limit);
      const kind = rng.int(3); // midpoint (a tie), a representable value, or just above a midpoint
      const mid = (values[j]! + values[j + 1]!) / 2;
      const v = kind === 0 ? mid : kind === 1 ? values[j]! : mid * (1 + 2 ** -20);
      data[i] = rng.int(2) ? v : -v;
    }
    data[0] = format === 'bf16' ? 1 : formatTraits(format).qmax;
  }
  return new Tensor([rows, cols], 'f32', data);
}

/**
 * Inputs x = fround(t·s) and its f32 neighbours, t a rounding tie of the format and s the (non-trivial) scale
 * the tensor will get: the quotients x/s sit exactly on, or within an ulp of, ties — the cases where an f32
 * quotient could round onto a tie the exact quotient misses. Per-tensor scale, so element 0 holds the absmax.
 */
function nearTieInput(format: QuantFormat, n: number, seed: number): Tensor<'f32'> {
  const rng = new Rng(seed);
  const qmax = formatTraits(format).qmax;
  const absmax = Math.fround(0.37 + rng.next() * 1000);
  const s = Math.fround(absmax / qmax);
  let ties: number[];
  if (format === 'int8') ties = Array.from({ length: 254 }, (_, k) => k - 126.5);
  else {
    const table = decodeTable(formatTraits(format).dtype as 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2');
    const v = Array.from(new Set(Array.from(table).filter((x) => Number.isFinite(x) && x >= 0))).sort((a, b) => a - b);
    ties = v.slice(1).map((x, i) => (x + v[i]!) / 2);
  }
  const f = new Float32Array(1),
    u = new Uint32Array(f.buffer);
  const data = new Float32Array(n);
  for (let i = 1; i < n; i++) {
    f[0] = ties[rng.int(ties.length)]! * s * (rng.int(2) ? 1 : -1);
    if (Math.abs(f[0]) >= absmax) f[0] = 0;
    u[0] = u[0]! + rng.int(3) - 1; // the rounded product, or one ulp either side
    data[i] = f[0];
  }
  data[0] = absmax;
  return new Tensor([1, n], 'f32', data);
}

function specialInput(rows: number, cols: number, seed: number): Tensor<'f32'> {
  const x = randomF32([rows, cols], seed);
  const rng = new Rng(seed + 1);
  for (let i = 0; i < x.data.length; i++) {
    const k = rng.int(10);
    if (k === 0) x.data[i] = 0;
    else if (k === 1) x.data[i] = -0;
    else if (k === 2)
      x.data[i] = (rng.next() - 0.5) * 1e-40; // f32 subnormals
    else if (k === 3) x.data[i] *= 1000; // outliers
  }
  if (rows > 2) x.data.fill(0, cols, 2 * cols); // an all-zero row
  return x;
}

const ROTATIONS: [string, (rows: number, cols: number) => Rotation | null][] = [
  ['none', () => null],
  ['right', (_r, c) => ({ plan: planHadamard(c), side: 'right', transpose: false })],
  ['right-T', (_r, c) => ({ plan: planHadamard(c), side: 'right', transpose: true })],
  ['left', (r) => ({ plan: planHadamard(r), side: 'left', transpose: false })],
  ['left-T', (r) => ({ plan: planHadamard(r), side: 'left', transpose: true })],
];

// Shapes whose dims all have Hadamard plans (1, 12·2^p, 2^p, block-diagonal fallbacks).
const SHAPES: [number, number][] = [
  [1, 1],
  [8, 96],
  [96, 24],
  [40, 48],
  [64, 64],
];

function checkGrid(tier: number, formats: readonly QuantFormat[], shapes: [number, number][]): void {
  let seed = 1;
  for (const [rows, cols] of shapes)
    for (const [rname, mkRot] of ROTATIONS) {
      const r = mkRot(rows, cols);
      for (const format of formats)
        for (const granularity of GRANULARITIES)
          for (const transposeOut of [false, true])
            for (const unitScale of [false, true]) {
              const inputs = [randomF32([rows, cols], seed++), specialInput(rows, cols, seed++), tieInput(format, rows, cols, seed++)];
              for (const [i, x] of inputs.entries()) {
                const o: Opts = { transposeOut, unitScale };
                const what = `tier ${tier} ${rows}×${cols} rot=${rname} ${format} ${granularity} T=${transposeOut} unit=${unitScale} input#${i}`;
                assertSameQuant(
                  withTier(tier, () => nat(x, r, format, granularity, o)),
                  ref(x, r, format, granularity, o),
                  what,
                );
              }
            }
    }
}

describe('native rotateQuantize vs reference (bit-identical codes and scales)', () => {
  nativeTest('every format × granularity × layout × rotation × unitScale, AVX-512 path', () => {
    checkGrid(tiers()[0]!, QUANT_FORMAT_NAMES, SHAPES);
  });

  nativeTest('the same grid on the lower code paths (AVX2, portable)', () => {
    for (const tier of tiers().slice(1))
      checkGrid(tier, QUANT_FORMAT_NAMES, [
        [8, 96],
        [40, 48],
      ]);
  });

  nativeTest('quotients on and next to rounding ties, non-trivial scales, every code path', () => {
    let seed = 1000;
    for (const tier of tiers())
      for (const format of ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'] as const)
        for (let rep = 0; rep < 20; rep++) {
          const x = nearTieInput(format, 4099, seed++);
          assertSameQuant(
            withTier(tier, () => nat(x, null, format, 'tensor')),
            ref(x, null, format, 'tensor'),
            `tier ${tier} ${format} seed ${seed}`,
          );
        }
  });

  nativeTest('scales so small their reciprocal overflows: zeros stay 0 and tiny values match, every code path', () => {
    // Per-tensor absmax 1e-39 gives a scale below 2^-100; a whole vector of zeros has no tiny lane of its own.
    const data = new Float32Array(48);
    for (let i = 0; i < 16; i++) data[i] = (i % 2 ? -1 : 1) * 1e-39 * (1 + i / 16);
    const x = new Tensor([3, 16], 'f32', data) as FloatTensor;
    for (const tier of tiers())
      for (const format of ['int8', 'fp8e4m3'] as const)
        for (const granularity of ['tensor', 'row'] as const) {
          const got = withTier(tier, () => nat(x, null, format, granularity));
          assertSameQuant(got, ref(x, null, format, granularity), `tier ${tier} ${format} ${granularity}`);
          assert.ok(
            Array.from(got.q.data as Int8Array)
              .slice(16)
              .every((c) => c === 0),
            `tier ${tier} ${format} ${granularity}: zeros`,
          );
        }
  });

  nativeTest("clipRatio (HALO's FP6 0.75) saturates exactly like the reference", () => {
    for (const format of QUANT_FORMAT_NAMES)
      for (const granularity of GRANULARITIES) {
        const x = specialInput(33, 96, 3);
        const r: Rotation = { plan: planHadamard(96), side: 'right', transpose: false };
        const o = { clipRatio: 0.75, transposeOut: true };
        assertSameQuant(nat(x, r, format, granularity, o), ref(x, r, format, granularity, o), `${format} ${granularity}`);
      }
  });

  nativeTest('large tensors (threaded tiles, HALO shapes): both strategies of the two-pass path agree', () => {
    const addon = rawAddon();
    const x = randomF32([256, 28 * 64], 11);
    for (let i = 0; i < x.data.length; i += 97) x.data[i]! *= 50;
    const plan = planHadamard(28 * 64);
    const planL = planHadamard(256);
    for (const side of ['right', 'left'] as const)
      for (const format of ['int8', 'fp8e4m3', 'fp6e3m2'] as const)
        for (const granularity of GRANULARITIES)
          for (const transposeOut of [false, true]) {
            const p = side === 'right' ? plan : planL;
            const r: Rotation = { plan: p, side, transpose: false };
            const want = ref(x, r, format, granularity, { transposeOut });
            for (const strategy of [QUANT_STRATEGY.recompute, QUANT_STRATEGY.scratch]) {
              const codes = DTYPES[formatTraits(format).dtype].make(x.numel) as Int8Array | Uint8Array;
              const [R, C] = transposeOut ? [x.shape[1]!, x.shape[0]!] : [x.shape[0]!, x.shape[1]!];
              const scales = new Float32Array(scaleCount(granularity, R, C));
              const st = addon.quantize(
                x.data,
                256,
                28 * 64,
                SIDE_CODES[side],
                p.n,
                p.block,
                p.K,
                p.pow2,
                p.hadK,
                false,
                FORMAT_CODES[format],
                GRANULARITY_CODES[granularity],
                transposeOut,
                false,
                1,
                codes,
                scales,
                strategy,
              );
              assert.equal(st, 0);
              const what = `${side} ${format} ${granularity} T=${transposeOut} strategy ${strategy}`;
              assertBitsEqual(scales, want.scales, `${what}: scales`);
              assertBitsEqual(codes, want.q.data as ArrayBufferView, `${what}: codes`);
            }
          }
  });

  nativeTest("empty tensors give the reference's shapes and unit scales", () => {
    for (const [rows, cols] of [
      [0, 5],
      [5, 0],
      [0, 0],
    ] as const)
      for (const granularity of GRANULARITIES)
        for (const transposeOut of [false, true]) {
          const x = new Tensor([rows, cols], 'f32', new Float32Array(0));
          assertSameQuant(
            nat(x, null, 'int8', granularity, { transposeOut }),
            ref(x, null, 'int8', granularity, { transposeOut }),
            `${rows}×${cols} ${granularity}`,
          );
        }
  });

  nativeTest('non-finite inputs throw E_NUMERIC, as in the reference', () => {
    for (const bad of [NaN, Infinity, -Infinity])
      for (const format of QUANT_FORMAT_NAMES)
        for (const unitScale of [false, true]) {
          const x = randomF32([5, 16], 1);
          x.data[7] = bad;
          for (const be of [nat, ref]) {
            assert.throws(
              () => be(x, null, format, 'tensor', { unitScale }),
              (e) => e instanceof HaloError && e.code === 'E_NUMERIC',
              `${bad} ${format}`,
            );
          }
          const r: Rotation = { plan: planHadamard(16), side: 'right', transpose: false };
          assert.throws(
            () => nat(x, r, format, 'row'),
            (e) => e instanceof HaloError && e.code === 'E_NUMERIC',
          );
        }
  });

  nativeTest('argument errors match the reference codes', () => {
    const x = randomF32([4, 8], 1);
    const check = (f: () => unknown, code: string) => assert.throws(f, (e) => e instanceof HaloError && e.code === code);
    check(() => nat(x, null, 'int4' as QuantFormat, 'tensor'), 'E_ARG');
    check(() => nat(x, null, 'int8', 'col' as Granularity), 'E_ARG');
    check(() => nat(x, null, 'int8', 'tensor', { clipRatio: 0 }), 'E_ARG');
    check(() => nat(x, { plan: planHadamard(16), side: 'right', transpose: false }, 'int8', 'tensor'), 'E_SHAPE');
  });

  nativeTest('f64 input goes to the reference', () => {
    const x = new Tensor([3, 8], 'f64', new Rng(3).fillNormal(new Float64Array(24)));
    assertSameQuant(nat(x, null, 'fp8e4m3', 'row'), ref(x, null, 'fp8e4m3', 'row'), 'f64');
  });
});

describe('native dequantize vs reference (bit-identical)', () => {
  nativeTest('every code of every format, every granularity and layout', () => {
    for (const format of QUANT_FORMAT_NAMES) {
      const dtype = formatTraits(format).dtype;
      const ncodes = format === 'bf16' ? 65536 : format === 'fp6e3m2' ? 64 : 256;
      const cols = 48;
      const rows = Math.ceil(ncodes / cols);
      const codes = DTYPES[dtype].make(rows * cols) as Int8Array | Uint8Array | Uint16Array;
      for (let i = 0; i < codes.length; i++) codes[i] = (i % ncodes) - (format === 'int8' ? 128 : 0);
      for (const granularity of GRANULARITIES) {
        const scales = new Rng(5).fillNormal(new Float32Array(scaleCount(granularity, rows, cols)));
        if (granularity !== 'tensor') scales[1] = 1;
        const q: Quantized = { format, granularity, q: new Tensor([rows, cols], dtype, codes) as Quantized['q'], scales };
        const got = nativeBackend.dequantize(q, 'f32');
        const want = referenceBackend.dequantize(q, 'f32');
        assertBitsEqual(got.data, want.data, `${format} ${granularity}`);
      }
    }
  });

  nativeTest('round trip of quantized random data, and f64 output via the reference', () => {
    const x = randomF32([33, 96], 9);
    const q = nat(x, { plan: planHadamard(96), side: 'right', transpose: false }, 'int8', 'row', { transposeOut: true });
    assertBitsEqual(nativeBackend.dequantize(q, 'f32').data, referenceBackend.dequantize(q, 'f32').data, 'f32');
    assert.deepEqual(nativeBackend.dequantize(q, 'f64').data, referenceBackend.dequantize(q, 'f64').data);
  });

  nativeTest('mismatched codes or scales throw the reference codes', () => {
    const q = nat(randomF32([4, 8], 1), null, 'int8', 'row');
    assert.throws(
      () => nativeBackend.dequantize({ ...q, format: 'fp8e4m3' }, 'f32'),
      (e) => e instanceof HaloError && e.code === 'E_DTYPE',
    );
    assert.throws(
      () => nativeBackend.dequantize({ ...q, scales: new Float32Array(3) }, 'f32'),
      (e) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
  });
});

// Keep the unused-import checker quiet about the Backend type used only in casts above.
export type { Backend };
