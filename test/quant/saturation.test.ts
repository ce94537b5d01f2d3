// Numeric guards of the quantizers: scales are never NaN, ±inf or 0 for any finite input (hostile magnitudes,
// subnormals, all-zero groups, rotations), non-finite inputs are E_NUMERIC, on the reference and the native
// backend; and countAtMax (the per-layer saturation counter) agrees with a float64 count from the threshold
// between the format's two largest magnitudes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, FloatTensor, Rotation } from '../../src/backend/backend.ts';
import { nativeAvailable, nativeBackend } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { planHadamard } from '../../src/hadamard/index.ts';
import { formatTraits, GRANULARITIES, quantize, scaleIndex, type QuantFormat } from '../../src/quant/index.ts';
import { countAtMax } from '../../src/quant/saturation.ts';

const FLT_MAX = 3.4028234663852886e38;
const backends: [string, Backend][] = [['reference', referenceBackend]];
if (nativeAvailable().ok) backends.push(['native', nativeBackend]);

/** Hostile f32 matrices [4, 64]: huge, tiny, subnormal, zero groups, mixed signs, one outlier. */
function hostileInputs(): [string, Float32Array][] {
  const rng = new Rng(5);
  const n = 4 * 64;
  const fill = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  return [
    ['all zero', new Float32Array(n)],
    ['FLT_MAX everywhere', fill(() => FLT_MAX)],
    ['±FLT_MAX alternating', fill((i) => (i % 2 ? FLT_MAX : -FLT_MAX))],
    ['smallest subnormal', fill(() => 2 ** -149)],
    ['subnormals and zeros', fill((i) => (i % 3 === 0 ? 0 : (i % 7) * 2 ** -149))],
    ['one FLT_MAX outlier among 1e-30', fill((i) => (i === 17 ? FLT_MAX : 1e-30 * rng.normal()))],
    ['zero rows and a 1e38 row', fill((i) => (i < 64 ? 1e38 * rng.normal() : 0))],
    ['normal', fill(() => rng.normal())],
  ];
}

describe('quantizer scales are never NaN, inf or 0', () => {
  for (const [bname, be] of backends) {
    test(`${bname}: every format × granularity × clip ratio × rotation on hostile inputs`, () => {
      let ran = 0;
      let rejected = 0;
      const plan = planHadamard(64, { block: 'full' });
      for (const [what, data] of hostileInputs()) {
        for (const format of ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'] as QuantFormat[]) {
          for (const g of GRANULARITIES) {
            for (const clipRatio of [1, 0.75]) {
              for (const rot of [null, { plan, side: 'right', transpose: false } as Rotation]) {
                const x = new Tensor([4, 64], 'f32', data.slice()) as FloatTensor;
                const label = `${what} ${format} ${g} clip ${clipRatio}${rot ? ' rotated' : ''}`;
                let q;
                try {
                  q = be.rotateQuantize(x, rot, format, g, { clipRatio } as { transposeOut?: boolean });
                } catch (e) {
                  // Only a rotation of FLT_MAX values can overflow f32; that must be E_NUMERIC, never a bad scale.
                  assert.ok(e instanceof HaloError && e.code === 'E_NUMERIC', `${label}: ${(e as Error).message}`);
                  assert.ok(rot !== null && /FLT_MAX|1e38/.test(what), `${label}: rejected unexpectedly: ${(e as Error).message}`);
                  rejected++;
                  continue;
                }
                ran++;
                for (const s of q.scales) assert.ok(Number.isFinite(s) && s > 0, `${label}: scale ${s}`);
              }
            }
          }
        }
      }
      assert.ok(ran > 300 && rejected > 0, `ran ${ran}, rejected ${rejected}`);
    });
    test(`${bname}: NaN and ±inf inputs are E_NUMERIC`, () => {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const data = new Float32Array(64).fill(1);
        data[9] = bad;
        for (const format of ['int8', 'fp8e4m3', 'fp6e3m2'] as QuantFormat[]) {
          assert.throws(
            () => be.rotateQuantize(new Tensor([2, 32], 'f32', data) as FloatTensor, null, format, 'tensor'),
            (e: unknown) => e instanceof HaloError && e.code === 'E_NUMERIC',
          );
        }
      }
    });
  }
  test('an f64 value beyond the f32 range is E_NUMERIC, not an infinite scale', () => {
    const x = new Tensor([1, 4], 'f64', Float64Array.of(1, 2, 1e300, 3));
    assert.throws(
      () => quantize(x, 'int8', 'tensor'),
      (e: unknown) => e instanceof HaloError && e.code === 'E_NUMERIC',
    );
  });
});

describe('countAtMax', () => {
  /** |x/scale| beyond which the format rounds to ±qmax: halfway between its two largest magnitudes. */
  function threshold(format: QuantFormat): { t: number; tieUp: boolean } {
    const tr = formatTraits(format);
    if (format === 'int8') return { t: 126.5, tieUp: false }; // 126.5 rounds to even 126
    const mags = new Set<number>();
    for (let c = 0; c < 256; c++) {
      const v = Math.abs(tr.decode(c));
      if (Number.isFinite(v) && v <= tr.qmax) mags.add(v);
    }
    const sorted = [...mags].sort((a, b) => b - a);
    return { t: (sorted[0]! + sorted[1]!) / 2, tieUp: true }; // every max here has an even mantissa
  }

  for (const format of ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'] as QuantFormat[]) {
    for (const g of GRANULARITIES) {
      test(`${format} ${g}: equals a float64 count of |x/scale| past the rounding threshold`, () => {
        const rng = new Rng(11);
        const [R, C] = [6, 80];
        const data = new Float32Array(R * C);
        for (let i = 0; i < data.length; i++) data[i] = rng.normal() * (rng.next() < 0.05 ? 1000 : 1);
        const x = new Tensor([R, C], 'f32', data);
        const { t, tieUp } = threshold(format);
        for (const opts of [{}, { clipRatio: 0.5 }, { unitScale: true }]) {
          const q = quantize(x, format, g, opts);
          let want = 0;
          for (let i = 0; i < R; i++) {
            for (let j = 0; j < C; j++) {
              const r = Math.abs(data[i * C + j]! / q.scales[scaleIndex(g, C, i, j)]!);
              assert.notEqual(r, t, 'a rounding tie; pick another seed');
              if (r > t || (tieUp && r === t)) want++;
            }
          }
          const got = countAtMax(q);
          assert.equal(got, want, `${JSON.stringify(opts)}`);
          const clips = 'clipRatio' in opts || ('unitScale' in opts && formatTraits(format).qmax < 1000); // outliers reach ~3000
          if (clips) assert.ok(got > 0, `${JSON.stringify(opts)}: clipping must saturate something`);
        }
      });
    }
  }
  test('bf16 (a cast): counts values that overflow to ±inf', () => {
    const x = new Tensor([1, 5], 'f64', Float64Array.of(1, -3.4e38, 3.3e38, 1e39, -1e39));
    assert.equal(countAtMax(quantize(x, 'bf16', 'tensor')), 3); // -3.4e38 rounds past bf16's max, and the two 1e39
  });
});
