// RoPE: inverse frequencies (default and llama3-scaled, against values worked by hand), the rotation against
// transformers' rotate_half formula written out naively, the relative-position property, backward against
// finite differences, and the f32 tables (HF's float32 angle) against exact ones.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { ropeBackward, ropeForward, ropeInvFreq, ropeTables, type Llama3Scaling } from '../../src/nn/ops/rope.ts';
import { assertClose, dot, finiteDiff, randn } from './gradcheck.ts';

const N = 5;
const H = 3;
const D = 6;
const THETA = 10000;

/** HF apply_rotary_pos_emb for one head: emb = cat(freqs, freqs); x·cos(emb) + rotate_half(x)·sin(emb). */
function naiveRope(x: Float64Array, pos: Int32Array, theta: number): Float64Array {
  const y = new Float64Array(x.length);
  const half = D / 2;
  for (let n = 0; n < N; n++) {
    const freqs = Array.from({ length: half }, (_, i) => pos[n] * (1 / theta ** ((2 * i) / D)));
    const emb = [...freqs, ...freqs];
    for (let h = 0; h < H; h++) {
      const o = (n * H + h) * D;
      const head = Array.from(x.subarray(o, o + D));
      const rotated = [...head.slice(half).map((v) => -v), ...head.slice(0, half)];
      for (let d = 0; d < D; d++) y[o + d] = head[d] * Math.cos(emb[d]) + rotated[d] * Math.sin(emb[d]);
    }
  }
  return y;
}

describe('rope', () => {
  test('default inverse frequencies are 1/theta^(2i/D)', () => {
    assertClose(ropeInvFreq(8, 10000, null, 'f64'), [1, 0.1, 0.01, 0.001], 1e-15, 'inv_freq');
    const f32 = ropeInvFreq(128, 500000, null, 'f32');
    for (let i = 0; i < 64; i++) {
      const exact = 1 / 500000 ** ((2 * i) / 128);
      assert.equal(f32[i], Math.fround(f32[i]), 'f32 mode yields f32 values');
      assert.ok(Math.abs(f32[i] - exact) <= 4e-7 * exact, `inv_freq[${i}] ${f32[i]} vs ${exact}`);
    }
  });

  test('llama3 scaling matches values worked by hand', () => {
    // D = 8, theta = 1e4 → inv_freq = [1, 0.1, 0.01, 0.001], wavelengths 2π·[1, 10, 100, 1000].
    // ctx 1024, low 1, high 4 → band edges 1024 (low-frequency wavelength) and 256 (high-frequency).
    //   i = 0, 1: 6.28, 62.8 < 256          → unchanged
    //   i = 2:    628.3 between 256 and 1024 → s = (1024/628.3 − 1)/3 = 0.2099155…, (1−s)·0.01/8 + s·0.01
    //   i = 3:    6283 > 1024                → 0.001 / 8
    const scaling: Llama3Scaling = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1024 };
    const s = (1024 / ((2 * Math.PI) / 0.01) - 1) / 3;
    const expected = [1, 0.1, ((1 - s) * 0.01) / 8 + s * 0.01, 0.001 / 8];
    assert.ok(Math.abs(expected[2] - 0.003086760967) < 1e-12);
    const f64 = ropeInvFreq(8, 10000, scaling, 'f64');
    assertClose(f64, expected, 1e-15, 'llama3 inv_freq f64');
    const f32 = ropeInvFreq(8, 10000, scaling, 'f32');
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(f32[i] - expected[i]) <= 5e-7 * expected[i], `f32 inv_freq[${i}]`);
    // Band edges close to the wavelengths: ctx 4000, low 1, high 8 → edges 4000 and 500; 6283 is just past
    // the low-frequency edge (divided), 628.3 just inside the high one (interpolated with s = (4000/628.3 − 1)/7).
    const near: Llama3Scaling = { factor: 16, low_freq_factor: 1, high_freq_factor: 8, original_max_position_embeddings: 4000 };
    const s2 = (4000 / ((2 * Math.PI) / 0.01) - 1) / 7;
    assertClose(ropeInvFreq(8, 10000, near, 'f64'), [1, 0.1, ((1 - s2) * 0.01) / 16 + s2 * 0.01, 0.001 / 16], 1e-15, 'llama3 near the edges');
    assert.throws(() => ropeInvFreq(8, 10000, { ...scaling, high_freq_factor: 1 }, 'f64'), HaloError);
    assert.throws(() => ropeInvFreq(7, 10000), /head_dim 7 must be even/);
  });

  test('forward matches the rotate_half formula (f64, 1e-14) and the f32 path to 1e-6', () => {
    const rng = new Rng(6);
    const x = randn(rng, N * H * D);
    const pos = Int32Array.of(0, 1, 4, 2, 37); // any order: positions are per token
    const { cos, sin } = ropeTables(pos, D, THETA, null, 'f64');
    assertClose(ropeForward(x, cos, sin, N, H, D), naiveRope(x, pos, THETA), 1e-14, 'rope f64');
    const t32 = ropeTables(pos, D, THETA, null, 'f32');
    const y32 = ropeForward(Float32Array.from(x), t32.cos, t32.sin, N, H, D);
    assert.ok(y32 instanceof Float32Array);
    assertClose(y32, naiveRope(x, pos, THETA), 1e-5, 'rope f32');
    // Position 0 is the identity; in place (out = x) gives the same result.
    const inPlace = Float64Array.from(x);
    ropeForward(inPlace, cos, sin, N, H, D, inPlace);
    assertClose(inPlace, naiveRope(x, pos, THETA), 1e-14, 'rope in place');
    for (let d = 0; d < H * D; d++) assert.equal(inPlace[d], x[d]);
  });

  test('scores depend only on relative position: rope(q, m)·rope(k, n) = rope(q, m+7)·rope(k, n+7)', () => {
    const rng = new Rng(7);
    const q = randn(rng, D);
    const k = randn(rng, D);
    const score = (m: number, n: number): number => {
      const t = ropeTables(Int32Array.of(m, n), D, THETA, null, 'f64');
      const both = new Float64Array(2 * D);
      both.set(q, 0);
      both.set(k, D);
      const y = ropeForward(both, t.cos, t.sin, 2, 1, D);
      return dot(y.subarray(0, D), y.subarray(D));
    };
    for (const [m, n] of [
      [3, 1],
      [9, 0],
      [4, 4],
    ])
      assert.ok(Math.abs(score(m, n) - score(m + 7, n + 7)) < 1e-12, `${m}, ${n}`);
    assert.ok(Math.abs(score(3, 1) - score(1, 3)) > 1e-3, 'not symmetric: direction matters');
  });

  test('backward matches finite differences (f64, tol 1e-6) and inverts the forward', () => {
    const rng = new Rng(8);
    const x = randn(rng, N * H * D);
    const r = randn(rng, N * H * D);
    const { cos, sin } = ropeTables(Int32Array.of(2, 0, 5, 11, 3), D, THETA, null, 'f64');
    const fd = finiteDiff(x, () => dot(r, ropeForward(x, cos, sin, N, H, D)));
    assertClose(ropeBackward(r, cos, sin, N, H, D), fd, 1e-6, 'dx');
    assertClose(ropeBackward(ropeForward(x, cos, sin, N, H, D), cos, sin, N, H, D), x, 1e-14, 'R⁻¹R = I');
  });

  test('f32 tables use the float32 angle: within |pos|·2⁻²³·2 of the exact values', () => {
    const pos = Int32Array.of(0, 1, 1000, 8191, 131071);
    const a = ropeTables(pos, 64, 500000, null, 'f32');
    const b = ropeTables(pos, 64, 500000, null, 'f64');
    let maxErrAt131k = 0;
    for (let n = 0; n < pos.length; n++) {
      for (let i = 0; i < 32; i++) {
        const err = Math.abs(a.cos[n * 32 + i] - b.cos[n * 32 + i]);
        assert.ok(err <= pos[n] * 2 ** -22 + 1e-7, `cos[${pos[n]}, ${i}] off by ${err}`);
        if (n === pos.length - 1) maxErrAt131k = Math.max(maxErrAt131k, err);
      }
    }
    // The coarse f32 angle is real (and is what an HF forward uses): far above f32 rounding of cos itself.
    assert.ok(maxErrAt131k > 1e-4, `expected visible f32 angle error at position 131071, got ${maxErrAt131k}`);
  });

  test('tables of the wrong precision or size are refused', () => {
    const t = ropeTables(Int32Array.of(0, 1), D, THETA, null, 'f32');
    assert.throws(
      () => ropeForward(new Float64Array(2 * H * D), t.cos, t.sin, 2, H, D),
      (e: unknown) => e instanceof HaloError && e.code === 'E_DTYPE',
    );
    assert.throws(() => ropeForward(new Float32Array(3 * H * D), t.cos, t.sin, 3, H, D), /cos has 6 elements but \[N, D\/2\] needs 9/);
  });
});
