// The GEMM attention against the reference op (src/nn/ops/attention.ts) on seeded random shapes: odd T,
// GQA rep 1/2/4, left padding, holes, a fully padded sequence, sliding windows, tiles smaller than T (so the
// multi-tile code runs on small shapes). f64 on the reference backend must agree to rounding (1e-12); f32 to
// 1e-5 (reference backend: f64 dot products rounded to f32, like the op) and 1e-4 on the native backend
// (oneDNN accumulates in f32). The backward's reference is the op's own backward, which test/nn/attention
// checks against finite differences. (It lives in backend/: a path over any backend's GEMMs.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/backend.ts';
import { getBackend } from '../../src/backend/select.ts';
import { nativeAvailable } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import type { FloatArray } from '../../src/core/dtype.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { attentionBackward, attentionForward } from '../../src/nn/ops/attention.ts';
import { attentionGemmBackward, attentionGemmForward, expF32, type AttentionGemmOptions } from '../../src/backend/attention-gemm.ts';

interface Case {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  opts: AttentionGemmOptions;
  label: string;
}

/** Random [B, T] masks of the kinds a batch holds: left padding, a hole, all real, all padding. */
function randomMask(rng: Rng, B: number, T: number): Uint8Array {
  const m = new Uint8Array(B * T).fill(1);
  for (let b = 0; b < B; b++) {
    const kind = rng.int(4);
    if (kind === 0) m.fill(0, b * T, b * T + rng.int(T)); // left padding
    if (kind === 1) m[b * T + rng.int(T)] = 0; // a masked hole
    if (kind === 3 && T > 1) m.fill(0, b * T, (b + 1) * T); // a sequence that is all padding
  }
  return m;
}

/** Seeded cases covering every combination the brief names; the first few are fixed so each feature is hit. */
function cases(seed: number, n: number): Case[] {
  const rng = new Rng(seed);
  const fixed: Case[] = [
    { B: 1, T: 1, Hq: 2, Hkv: 1, D: 3, opts: {}, label: 'T=1' },
    { B: 2, T: 5, Hq: 4, Hkv: 2, D: 4, opts: { keyMask: Uint8Array.of(0, 0, 1, 1, 1, 1, 1, 0, 1, 1), blockT: 2 }, label: 'left pad + hole' },
    { B: 2, T: 17, Hq: 4, Hkv: 1, D: 8, opts: { window: 3, blockT: 4 }, label: 'window 3, rep 4' },
    { B: 1, T: 17, Hq: 3, Hkv: 3, D: 5, opts: { window: 1, blockT: 5 }, label: 'window 1, rep 1' },
    { B: 2, T: 17, Hq: 2, Hkv: 1, D: 16, opts: { scale: 0.3 }, label: 'custom scale, one tile' },
  ];
  const out = [...fixed];
  for (let i = 0; out.length < n; i++) {
    const T = [1, 5, 17, 33][rng.int(4)]!;
    const rep = [1, 2, 4][rng.int(3)]!;
    const Hkv = 1 + rng.int(2);
    const B = 1 + rng.int(2);
    const D = [3, 8, 16][rng.int(3)]!;
    const opts: AttentionGemmOptions = { blockT: [1, 3, 8, 64][rng.int(4)]! };
    if (rng.next() < 0.6) opts.keyMask = randomMask(rng, B, T);
    if (rng.next() < 0.4) opts.window = 1 + rng.int(T + 2);
    out.push({ B, T, Hq: Hkv * rep, Hkv, D, opts, label: `random ${i}` });
  }
  return out;
}

function randArray(rng: Rng, n: number, f64: boolean): FloatArray {
  return rng.fillNormal(f64 ? new Float64Array(n) : new Float32Array(n));
}

/**
 * max |a − e| ≤ tol · max(1, max |e|): norm-wise relative (elements near 0 are held to the tensor's scale),
 * absolute below 1 — a gradient that is exactly 0 in exact math (T = 1: dq) is rounding noise of size
 * eps·|dout|·|v| ≈ eps on these unit-normal inputs, not eps·0.
 */
function assertRel(actual: FloatArray, expected: FloatArray, tol: number, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.equal(actual.constructor, expected.constructor, `${what}: precision`);
  let scale = 1;
  let err = 0;
  let worst = -1;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    const e = Math.abs(actual[i]! - expected[i]!);
    if (!(e <= err)) {
      err = e;
      worst = i;
    }
  }
  assert.ok(err <= tol * scale, `${what}: max error ${err} at [${worst}] (${actual[worst]} vs ${expected[worst]}), allowed ${tol * scale}`);
  return err / scale;
}

/** Forward (out, and lse where finite) and backward of the GEMM attention against the reference op. */
function checkCase(be: Backend, c: Case, f64: boolean, tol: number, seed: number): void {
  const { B, T, Hq, Hkv, D, opts, label } = c;
  const rng = new Rng(seed);
  const q = randArray(rng, B * T * Hq * D, f64);
  const k = randArray(rng, B * T * Hkv * D, f64);
  const v = randArray(rng, B * T * Hkv * D, f64);
  const dout = randArray(rng, B * T * Hq * D, f64);
  const what = `${label} [B=${B} T=${T} Hq=${Hq} Hkv=${Hkv} D=${D}] ${be.name} ${f64 ? 'f64' : 'f32'}`;

  const ref = attentionForward(q, k, v, B, T, Hq, Hkv, D, opts);
  const got = attentionGemmForward(be, q, k, v, B, T, Hq, Hkv, D, opts);
  assertRel(got.out, ref.out, tol, `${what} out`);
  for (let i = 0; i < ref.lse.length; i++) {
    if (ref.lse[i] === -Infinity) assert.equal(got.lse[i], -Infinity, `${what} lse[${i}] must be −∞ (no visible key)`);
    else assert.ok(Math.abs(got.lse[i]! - ref.lse[i]!) <= tol * Math.max(1, Math.abs(ref.lse[i]!)), `${what} lse[${i}]: ${got.lse[i]} vs ${ref.lse[i]}`);
  }

  const rg = attentionBackward(dout, q, k, v, ref.lse, B, T, Hq, Hkv, D, opts);
  const gg = attentionGemmBackward(be, dout, q, k, v, got, B, T, Hq, Hkv, D, opts);
  assertRel(gg.dq, rg.dq, tol, `${what} dq`);
  assertRel(gg.dk, rg.dk, tol, `${what} dk`);
  assertRel(gg.dv, rg.dv, tol, `${what} dv`);
}

const CASES = cases(7, 24);

describe('attention-gemm', () => {
  test('f64, reference backend: equals the reference op to rounding (1e-12)', () => {
    CASES.forEach((c, i) => checkCase(referenceBackend, c, true, 1e-12, 100 + i));
  });

  test('f32, reference backend: within 1e-5 of the reference op', () => {
    CASES.forEach((c, i) => checkCase(referenceBackend, c, false, 1e-5, 200 + i));
  });

  const avail = nativeAvailable();
  const skip = avail.ok ? false : `native addon not built (${avail.reason})`;
  if (skip) console.log(`attention-gemm: skipping the native-backend case: ${skip}`);
  test('f32, native backend: within 1e-4 of the reference op', { skip }, () => {
    const be = getBackend('native');
    assert.equal(be.name, 'native');
    CASES.forEach((c, i) => checkCase(be, c, false, 1e-4, 300 + i));
    // A shape with several full 64-position tiles and GQA, as in training (default blockT).
    checkCase(be, { B: 1, T: 150, Hq: 4, Hkv: 2, D: 32, opts: { keyMask: randomMask(new Rng(5), 1, 150) }, label: 'default tiles' }, false, 1e-4, 400);
  });

  test('expF32 matches Math.exp to 1e-9 relative over the range f32 scores use', () => {
    const rng = new Rng(13);
    let worst = 0;
    for (let i = 0; i < 200_000; i++) {
      const x = -103.9 + 191.8 * rng.next();
      worst = Math.max(worst, Math.abs(expF32(x) - Math.exp(x)) / Math.exp(x));
    }
    assert.ok(worst <= 1e-9, `max relative error ${worst}`);
    assert.equal(expF32(0), 1);
    assert.equal(expF32(-Infinity), 0);
    assert.equal(expF32(-104), 0);
    assert.equal(expF32(100), Math.exp(100));
    assert.ok(Number.isNaN(expF32(NaN)));
  });

  test('the tile size does not change the result beyond rounding', () => {
    const rng = new Rng(11);
    const [B, T, Hq, Hkv, D] = [2, 23, 4, 2, 8];
    const q = randArray(rng, B * T * Hq * D, true),
      k = randArray(rng, B * T * Hkv * D, true),
      v = randArray(rng, B * T * Hkv * D, true);
    const keyMask = randomMask(rng, B, T);
    const a = attentionGemmForward(referenceBackend, q, k, v, B, T, Hq, Hkv, D, { keyMask, window: 6, blockT: 1 });
    const b = attentionGemmForward(referenceBackend, q, k, v, B, T, Hq, Hkv, D, { keyMask, window: 6, blockT: 100 });
    assertRel(a.out, b.out, 1e-13, 'blockT 1 vs 100');
  });

  test('every element of caller buffers is written', () => {
    const rng = new Rng(12);
    const [B, T, Hq, Hkv, D] = [2, 9, 4, 2, 3];
    const q = randArray(rng, B * T * Hq * D, false),
      k = randArray(rng, B * T * Hkv * D, false),
      v = randArray(rng, B * T * Hkv * D, false);
    const opts = { keyMask: Uint8Array.from({ length: B * T }, (_, i) => (i < 3 ? 0 : 1)), window: 4, blockT: 4 };
    const nan = (n: number) => new Float32Array(n).fill(NaN);
    const f = attentionGemmForward(referenceBackend, q, k, v, B, T, Hq, Hkv, D, opts, { out: nan(q.length), lse: nan(B * Hq * T) });
    const g = attentionGemmBackward(referenceBackend, q, q, k, v, f, B, T, Hq, Hkv, D, opts, { dq: nan(q.length), dk: nan(k.length), dv: nan(v.length) });
    for (const [name, a] of Object.entries({ out: f.out, lse: f.lse, dq: g.dq, dk: g.dk, dv: g.dv })) {
      assert.ok(!a.some(Number.isNaN), `${name} has an unwritten (NaN) element`);
    }
    // Rows of the left-padded prefix see no key: output 0, lse −∞, zero gradient.
    for (let h = 0; h < Hq; h++) assert.equal(f.lse[h * T], -Infinity);
    assert.ok(f.out.subarray(0, Hq * D).every((x) => x === 0) && g.dq.subarray(0, Hq * D).every((x) => x === 0));
  });

  test('bad arguments are HaloErrors naming the problem', () => {
    const q = new Float32Array(1 * 2 * 3 * 4),
      kv = new Float32Array(1 * 2 * 2 * 4);
    const code = (c: string, re: RegExp) => (e: unknown) => e instanceof HaloError && e.code === c && re.test(e.message);
    assert.throws(() => attentionGemmForward(referenceBackend, q, kv, kv, 1, 2, 3, 2, 4), code('E_SHAPE', /3 query heads cannot share 2/));
    assert.throws(() => attentionGemmForward(referenceBackend, q, kv, kv, 1, 2, 4, 2, 4), code('E_SHAPE', /q has 24 elements/));
    const q4 = new Float32Array(1 * 2 * 4 * 4);
    assert.throws(() => attentionGemmForward(referenceBackend, q4, kv, kv, 1, 2, 4, 2, 4, { blockT: 0 }), code('E_ARG', /blockT/));
    assert.throws(() => attentionGemmForward(referenceBackend, q4, kv, kv, 1, 2, 4, 2, 4, { window: 0 }), code('E_ARG', /sliding window/));
    assert.throws(() => attentionGemmForward(referenceBackend, q4, new Float64Array(kv.length), kv, 1, 2, 4, 2, 4), code('E_DTYPE', /Float64Array/));
    assert.throws(
      () => attentionGemmBackward(referenceBackend, q4, q4, kv, kv, { lse: new Float32Array(3) }, 1, 2, 4, 2, 4),
      code('E_SHAPE', /lse has 3 elements/),
    );
  });
});
