// The native attention kernel (native/src/nn_attention.cc, through nnKernels' wrapper in
// src/backend/native/attention.ts) against the reference op (src/nn/ops/attention.ts) on every kernel tier:
// odd T (not a multiple of the query tile: 64 positions for rep 1, 32 for rep 2, 9 for rep 7), head_dim 8, 64,
// 80, 128, 256, GQA rep 1/2/7, left padding, holes, fully padded sequences (rows with no visible key), sliding
// windows, a custom scale, and shapes whose backward splits a (b, head) into query chunks. The kernel
// multiplies in f32 where the reference sums in f64: outputs agree to 1e-5 of each tensor's scale (measured
// ~5e-7). The reference's own backward is checked against finite differences in test/nn/attention.test.ts.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { nnKernels } from '../../src/backend/nn-kernels.ts';
import { HaloError } from '../../src/core/errors.ts';
import type { FloatArray } from '../../src/core/dtype.ts';
import { Rng } from '../../src/core/rng.ts';
import { attentionBackward, attentionForward, type AttentionOptions } from '../../src/nn/ops/attention.ts';
import { nativeTest, rawAddon, tiers, withTier } from './native-test.ts';

interface Case {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  opts: AttentionOptions;
  label: string;
}

const TOL = 1e-5;

/** [B, T] masks: sequence b gets left padding of pad[b] keys (T: all padding), plus an optional hole. */
function padMask(B: number, T: number, pad: number[], hole?: number): Uint8Array {
  const m = new Uint8Array(B * T).fill(1);
  for (let b = 0; b < B; b++) m.fill(0, b * T, b * T + Math.min(T, pad[b] ?? 0));
  if (hole !== undefined) m[hole] = 0;
  return m;
}

function cases(): Case[] {
  const fixed: Case[] = [
    { B: 2, T: 37, Hq: 4, Hkv: 2, D: 8, opts: { keyMask: padMask(2, 37, [5, 0], 40) }, label: 'D=8, rep 2, left padding + hole' },
    { B: 1, T: 131, Hq: 3, Hkv: 3, D: 64, opts: {}, label: 'D=64, rep 1, 3 tiles' },
    { B: 2, T: 40, Hq: 14, Hkv: 2, D: 80, opts: { window: 9, keyMask: padMask(2, 40, [0, 13]) }, label: 'D=80, rep 7, window 9, padding' },
    { B: 1, T: 131, Hq: 2, Hkv: 1, D: 128, opts: { window: 50 }, label: 'D=128, rep 2, window across tiles, chunked backward' },
    { B: 2, T: 23, Hq: 7, Hkv: 1, D: 256, opts: { keyMask: padMask(2, 23, [23, 4]) }, label: 'D=256, rep 7, a fully padded sequence' },
    { B: 3, T: 1, Hq: 2, Hkv: 1, D: 8, opts: {}, label: 'T=1' },
    { B: 1, T: 70, Hq: 4, Hkv: 2, D: 64, opts: { window: 1, keyMask: padMask(1, 70, [3]) }, label: 'window 1' },
    { B: 2, T: 33, Hq: 2, Hkv: 2, D: 80, opts: { scale: 0.3, window: 200 }, label: 'custom scale, window > T' },
  ];
  const rng = new Rng(17);
  for (let i = 0; i < 8; i++) {
    const B = 1 + rng.int(2),
      T = [5, 33, 70, 131][rng.int(4)]!,
      rep = [1, 2, 7][rng.int(3)]!,
      Hkv = 1 + rng.int(2);
    const opts: AttentionOptions = {};
    if (rng.next() < 0.6) opts.keyMask = padMask(B, T, [rng.int(T + 1), rng.int(T)], rng.next() < 0.5 ? rng.int(B * T) : undefined);
    if (rng.next() < 0.4) opts.window = 1 + rng.int(T + 2);
    fixed.push({ B, T, Hq: Hkv * rep, Hkv, D: [8, 64, 80][rng.int(3)]!, opts, label: `random ${i}` });
  }
  return fixed;
}

function rand(rng: Rng, n: number): Float32Array {
  return rng.fillNormal(new Float32Array(n));
}

/** max |a − e| ≤ tol · max(1, max |e|): relative to the tensor's scale (gradients near 0 are sums that cancel). */
function assertRel(actual: FloatArray, expected: FloatArray, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1,
    err = 0,
    worst = -1;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    const e = Math.abs(actual[i]! - expected[i]!);
    if (!(e <= err)) [err, worst] = [e, i];
  }
  assert.ok(err <= tol * scale, `${what}: max error ${err} at [${worst}] (${actual[worst]} vs ${expected[worst]}), allowed ${tol * scale}`);
}

describe('native attention kernel', () => {
  nativeTest('the addon has the kernel, so nnKernels(native) runs it for f32 (not the attention-gemm fallback)', () => {
    assert.equal(nnKernels(nativeBackend).name, 'native');
    const lib = rawAddon() as unknown as Record<string, unknown>;
    assert.equal(typeof lib.attentionForward, 'function');
    assert.equal(typeof lib.attentionBackward, 'function');
  });

  nativeTest('forward (out, lse) and backward (dq, dk, dv) match the reference op on every tier', () => {
    const nn = nnKernels(nativeBackend);
    cases().forEach((c, n) => {
      const { B, T, Hq, Hkv, D, opts, label } = c;
      const rng = new Rng(100 + n);
      const q = rand(rng, B * T * Hq * D),
        k = rand(rng, B * T * Hkv * D),
        v = rand(rng, B * T * Hkv * D),
        dout = rand(rng, B * T * Hq * D);
      const ref = attentionForward(q, k, v, B, T, Hq, Hkv, D, opts);
      const rg = attentionBackward(dout, q, k, v, ref.lse, B, T, Hq, Hkv, D, opts);
      for (const tier of tiers()) {
        const what = `${label} [B=${B} T=${T} Hq=${Hq} Hkv=${Hkv} D=${D}] tier ${tier}`;
        withTier(tier, () => {
          const got = nn.attentionForward(q, k, v, B, T, Hq, Hkv, D, opts);
          assertRel(got.out, ref.out, TOL, `${what} out`);
          for (let i = 0; i < ref.lse.length; i++) {
            if (ref.lse[i] === -Infinity) assert.equal(got.lse[i], -Infinity, `${what} lse[${i}] must be −∞ (no visible key)`);
            else
              assert.ok(Math.abs(got.lse[i]! - ref.lse[i]!) <= TOL * Math.max(1, Math.abs(ref.lse[i]!)), `${what} lse[${i}]: ${got.lse[i]} vs ${ref.lse[i]}`);
          }
          const g = nn.attentionBackward(dout, q, k, v, got.lse, B, T, Hq, Hkv, D, opts);
          assertRel(g.dq, rg.dq, TOL, `${what} dq`);
          assertRel(g.dk, rg.dk, TOL, `${what} dk`);
          assertRel(g.dv, rg.dv, TOL, `${what} dv`);
        });
      }
    });
  });

  nativeTest('every element of caller buffers is written; rows with no visible key give 0, lse −∞, zero gradient', () => {
    const nn = nnKernels(nativeBackend);
    const [B, T, Hq, Hkv, D] = [2, 45, 4, 2, 8];
    const rng = new Rng(12);
    const q = rand(rng, B * T * Hq * D),
      k = rand(rng, B * T * Hkv * D),
      v = rand(rng, B * T * Hkv * D);
    // An Int32Array mask (converted by the wrapper) with 3 padded keys at the start of each sequence.
    const keyMask = Int32Array.from({ length: B * T }, (_, i) => (i % T < 3 ? 0 : 1));
    const opts = { keyMask, window: 7 };
    const nan = (n: number) => new Float32Array(n).fill(NaN);
    for (const tier of tiers()) {
      withTier(tier, () => {
        const f = nn.attentionForward(q, k, v, B, T, Hq, Hkv, D, opts, { out: nan(q.length), lse: nan(B * Hq * T) });
        const g = nn.attentionBackward(q, q, k, v, f.lse, B, T, Hq, Hkv, D, opts, { dq: nan(q.length), dk: nan(k.length), dv: nan(v.length) });
        for (const [name, a] of Object.entries({ out: f.out, lse: f.lse, dq: g.dq, dk: g.dk, dv: g.dv })) {
          assert.ok(!a.some(Number.isNaN), `tier ${tier}: ${name} has an unwritten (NaN) element`);
        }
        for (let b = 0; b < B; b++) {
          for (let t = 0; t < 3; t++) {
            for (let h = 0; h < Hq; h++) assert.equal(f.lse[(b * Hq + h) * T + t], -Infinity, `tier ${tier}: lse[b=${b}, h=${h}, t=${t}]`);
            const row = (b * T + t) * Hq * D;
            assert.ok(
              f.out.subarray(row, row + Hq * D).every((x) => x === 0),
              `tier ${tier}: out of a query with no visible key`,
            );
            assert.ok(
              g.dq.subarray(row, row + Hq * D).every((x) => x === 0),
              `tier ${tier}: dq of a query with no visible key`,
            );
            const krow = (b * T + t) * Hkv * D;
            assert.ok(
              g.dk.subarray(krow, krow + Hkv * D).every((x) => x === 0),
              `tier ${tier}: dk of a padded key`,
            );
          }
        }
      });
    }
  });

  nativeTest('f64 inputs (gradient checks) take the GEMM-tile path and equal the reference op to rounding', () => {
    const nn = nnKernels(nativeBackend);
    const [B, T, Hq, Hkv, D] = [1, 9, 4, 2, 8];
    const rng = new Rng(3);
    const f64 = (n: number) => rng.fillNormal(new Float64Array(n));
    const q = f64(B * T * Hq * D),
      k = f64(B * T * Hkv * D),
      v = f64(B * T * Hkv * D);
    const opts = { keyMask: padMask(B, T, [2]), window: 4 };
    const got = nn.attentionForward(q, k, v, B, T, Hq, Hkv, D, opts);
    assert.ok(got.out instanceof Float64Array);
    assertRel(got.out, attentionForward(q, k, v, B, T, Hq, Hkv, D, opts).out, 1e-12, 'f64 out');
  });

  nativeTest("bad arguments are the reference op's HaloErrors", () => {
    const nn = nnKernels(nativeBackend);
    const q = new Float32Array(1 * 2 * 3 * 4),
      kv = new Float32Array(1 * 2 * 2 * 4),
      q4 = new Float32Array(1 * 2 * 4 * 4);
    const code = (c: string, re: RegExp) => (e: unknown) => e instanceof HaloError && e.code === c && re.test(e.message);
    assert.throws(() => nn.attentionForward(q, kv, kv, 1, 2, 3, 2, 4), code('E_SHAPE', /3 query heads cannot share 2/));
    assert.throws(() => nn.attentionForward(q, kv, kv, 1, 2, 4, 2, 4), code('E_SHAPE', /attentionForward: q has 24 elements/));
    assert.throws(() => nn.attentionForward(q4, kv, kv, 1, 2, 4, 2, 4, { window: 0 }), code('E_ARG', /sliding window/));
    assert.throws(() => nn.attentionForward(q4, kv, kv, 1, 2, 4, 2, 4, { keyMask: new Uint8Array(3) }), code('E_SHAPE', /keyMask has 3 elements/));
    assert.throws(() => nn.attentionForward(q4, new Float64Array(kv.length), kv, 1, 2, 4, 2, 4), code('E_DTYPE', /Float64Array/));
    assert.throws(() => nn.attentionBackward(q4, q4, kv, kv, new Float32Array(3), 1, 2, 4, 2, 4), code('E_SHAPE', /lse has 3 elements/));
  });
});
