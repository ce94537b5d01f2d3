// Causal GQA attention: forward against a naive full-matrix softmax (with repeat_kv, padding and a sliding
// window), backward dq/dk/dv against finite differences, causality, padding, and the KV-cache decode path
// agreeing with the full forward.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { attentionBackward, attentionDecode, attentionForward, type AttentionOptions } from '../../src/nn/ops/attention.ts';
import { createKvCache, kvCacheAppend } from '../../src/nn/ops/kv-cache.ts';
import { assertClose, dot, finiteDiff, randn } from './gradcheck.ts';

interface Shape {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
}
const S1: Shape = { B: 2, T: 5, Hq: 3, Hkv: 1, D: 4 };
const S2: Shape = { B: 2, T: 6, Hq: 4, Hkv: 2, D: 3 };

function inputs(s: Shape, seed: number): { q: Float64Array; k: Float64Array; v: Float64Array } {
  const rng = new Rng(seed);
  return { q: randn(rng, s.B * s.T * s.Hq * s.D), k: randn(rng, s.B * s.T * s.Hkv * s.D), v: randn(rng, s.B * s.T * s.Hkv * s.D) };
}

/** Full T×T score matrix per (b, h) with −∞ where masked, softmax, times v — no shortcuts. */
function naive(q: Float64Array, k: Float64Array, v: Float64Array, s: Shape, opts: AttentionOptions = {}): Float64Array {
  const { B, T, Hq, Hkv, D } = s;
  const out = new Float64Array(B * T * Hq * D);
  const at = (a: Float64Array, b: number, t: number, h: number, H: number): Float64Array =>
    a.subarray(((b * T + t) * H + h) * D, ((b * T + t) * H + h + 1) * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / (Hq / Hkv)); // repeat_kv: query head h reads key head h // n_rep
      for (let t = 0; t < T; t++) {
        const scores = Array.from({ length: T }, (_, j) => {
          const visible = j <= t && (!opts.keyMask || opts.keyMask[b * T + j] !== 0) && (!opts.window || t - j < opts.window);
          return visible ? dot(at(q, b, t, h, Hq), at(k, b, j, g, Hkv)) / Math.sqrt(D) : -Infinity;
        });
        const m = Math.max(...scores);
        if (m === -Infinity) continue; // no visible key: output stays 0
        const e = scores.map((x) => Math.exp(x - m));
        const z = e.reduce((a, x) => a + x, 0);
        const o = at(out, b, t, h, Hq);
        for (let j = 0; j < T; j++) for (let d = 0; d < D; d++) o[d] += (e[j] / z) * at(v, b, j, g, Hkv)[d];
      }
    }
  }
  return out;
}

function forward(x: { q: Float64Array; k: Float64Array; v: Float64Array }, s: Shape, opts: AttentionOptions = {}) {
  return attentionForward(x.q, x.k, x.v, s.B, s.T, s.Hq, s.Hkv, s.D, opts);
}

// [B, T] masks: sequence 0 is left-padded by two tokens, sequence 1 has a masked hole in the middle.
const PAD_MASK = Uint8Array.of(0, 0, 1, 1, 1, /**/ 1, 1, 0, 1, 1); // B = 2, T = 5
const PAD_MASK6 = Uint8Array.of(0, 0, 1, 1, 1, 1, /**/ 1, 1, 1, 0, 1, 1); // B = 2, T = 6

describe('attention', () => {
  test('forward matches the naive formula (f64, 1e-13): MHA-like, GQA, padding, sliding window', () => {
    const cases: [Shape, AttentionOptions][] = [
      [S1, {}],
      [S2, {}],
      [S1, { keyMask: PAD_MASK }],
      [S2, { keyMask: PAD_MASK6, window: 3 }],
      [{ B: 1, T: 4, Hq: 2, Hkv: 2, D: 5 }, {}],
    ];
    for (const [s, opts] of cases) {
      const x = inputs(s, 10);
      const { out, lse } = forward(x, s, opts);
      assertClose(out, naive(x.q, x.k, x.v, s, opts), 1e-13, `out ${JSON.stringify(s)} ${JSON.stringify({ ...opts, keyMask: !!opts.keyMask })}`);
      assert.equal(lse.length, s.B * s.Hq * s.T);
    }
    // Row t = 0 of the first sequence sees one key: lse is its score; padded rows with no key get −∞.
    const x = inputs(S1, 10);
    const { lse } = forward(x, S1);
    assert.ok(Math.abs(lse[0] - dot(x.q.subarray(0, 4), x.k.subarray(0, 4)) / 2) < 1e-14);
    const padded = forward(x, S1, { keyMask: PAD_MASK });
    assert.equal(padded.lse[0], -Infinity);
    assert.equal(padded.lse[1], -Infinity);
    assert.ok(Number.isFinite(padded.lse[2]));
  });

  test('f32 forward agrees with f64 to 1e-6', () => {
    const x = inputs(S2, 11);
    const ref = forward(x, S2).out;
    const y = attentionForward(Float32Array.from(x.q), Float32Array.from(x.k), Float32Array.from(x.v), S2.B, S2.T, S2.Hq, S2.Hkv, S2.D).out;
    assert.ok(y instanceof Float32Array);
    assertClose(y, ref, 1e-6, 'f32');
  });

  test('backward dq, dk, dv match finite differences (f64, tol 1e-6), with GQA, padding and window', () => {
    const cases: [Shape, AttentionOptions][] = [
      [S1, {}],
      [S1, { keyMask: PAD_MASK }],
      [S2, { keyMask: PAD_MASK6, window: 2 }],
    ];
    for (const [s, opts] of cases) {
      const x = inputs(s, 12);
      const r = randn(new Rng(13), s.B * s.T * s.Hq * s.D);
      const loss = (): number => dot(r, forward(x, s, opts).out);
      const fd = { q: finiteDiff(x.q, loss), k: finiteDiff(x.k, loss), v: finiteDiff(x.v, loss) };
      const { lse } = forward(x, s, opts);
      const stale = { dq: new Float64Array(x.q.length).fill(9), dk: new Float64Array(x.k.length).fill(9), dv: new Float64Array(x.v.length).fill(9) };
      const g = attentionBackward(r, x.q, x.k, x.v, lse, s.B, s.T, s.Hq, s.Hkv, s.D, opts, stale);
      const what = `${JSON.stringify(s)} mask=${!!opts.keyMask} window=${opts.window ?? null}`;
      assertClose(g.dq, fd.q, 1e-6, `dq ${what}`);
      assertClose(g.dk, fd.k, 1e-6, `dk ${what}`);
      assertClose(g.dv, fd.v, 1e-6, `dv ${what}`);
      assert.equal(g.dq, stale.dq, 'given buffers are used (and overwritten: stale 9s would fail the checks above)');
    }
  });

  test('causal: changing token 3 leaves outputs at positions 0–2 bit-identical', () => {
    const x = inputs(S1, 14);
    const before = forward(x, S1).out;
    const { T, Hq, Hkv, D } = S1;
    for (const [a, H] of [
      [x.q, Hq],
      [x.k, Hkv],
      [x.v, Hkv],
    ] as const) {
      for (let d = 0; d < H * D; d++) a[(0 * T + 3) * H * D + d] += 1.5; // sequence 0, position 3
    }
    const after = forward(x, S1).out;
    const row = Hq * D;
    for (let i = 0; i < 3 * row; i++) assert.equal(after[i], before[i], `position ${Math.floor(i / row)} changed`);
    let changed = 0;
    for (let i = 3 * row; i < 5 * row; i++) if (after[i] !== before[i]) changed++;
    assert.ok(changed > 0, 'positions 3–4 must see the change');
    for (let i = T * row; i < 2 * T * row; i++) assert.equal(after[i], before[i], 'the other sequence is untouched');
  });

  test('padding: masked keys are ignored, and a left-padded sequence equals the unpadded one', () => {
    const s: Shape = { B: 1, T: 5, Hq: 3, Hkv: 1, D: 4 };
    const x = inputs(s, 15);
    const mask = Uint8Array.of(0, 0, 1, 1, 1);
    const before = forward(x, s, { keyMask: mask }).out;
    x.k.fill(7, 0, 2 * 4); // keys/values of the two padding positions
    x.v.fill(-3, 0, 2 * 4);
    assertClose(forward(x, s, { keyMask: mask }).out, before, 0, 'padding keys have no effect');
    // The three real tokens alone (T = 3, no mask) give the same outputs as positions 2–4 above.
    const s3: Shape = { ...s, T: 3 };
    const tail = { q: x.q.slice(2 * 12), k: x.k.slice(2 * 4), v: x.v.slice(2 * 4) };
    assertClose(before.subarray(2 * 12), forward(tail, s3).out, 1e-15, 'left padding is invisible');
    for (let i = 0; i < 2 * 12; i++) assert.equal(before[i], 0, 'query rows with no visible key give 0');
  });

  test('KV-cache decode equals the full forward: prefill 2, then 1, 2 and 1 new tokens', () => {
    const s = S2;
    const { B, T, Hq, Hkv, D } = s;
    for (const opts of [{}, { window: 3 }] as AttentionOptions[]) {
      const x = inputs(s, 16);
      const full = forward(x, s, opts).out;
      const capacity = T + 2; // spare room: the mask is [B, capacity], tail positions unused
      const cache = createKvCache(B, capacity, Hkv, D, 'f64');
      const mask = opts.window ? null : new Uint8Array(B * capacity).fill(1);
      let t0 = 0;
      for (const Tn of [2, 1, 2, 1]) {
        const slice = (a: Float64Array, H: number): Float64Array => {
          const r = new Float64Array(B * Tn * H * D);
          for (let b = 0; b < B; b++) r.set(a.subarray((b * T + t0) * H * D, (b * T + t0 + Tn) * H * D), b * Tn * H * D);
          return r;
        };
        kvCacheAppend(cache, slice(x.k, Hkv), slice(x.v, Hkv), Tn);
        const y = attentionDecode(slice(x.q, Hq), cache, Tn, Hq, { ...opts, keyMask: mask });
        for (let b = 0; b < B; b++) {
          const want = full.subarray((b * T + t0) * Hq * D, (b * T + t0 + Tn) * Hq * D);
          assertClose(y.subarray(b * Tn * Hq * D, (b + 1) * Tn * Hq * D), want, 1e-14, `decode b=${b} t0=${t0} window=${opts.window ?? null}`);
        }
        t0 += Tn;
      }
      assert.equal(cache.length, T);
      assert.throws(
        () => kvCacheAppend(cache, new Float64Array(B * 3 * Hkv * D), new Float64Array(B * 3 * Hkv * D), 3),
        /holds 8 positions and has 6; 3 more do not fit/,
      );
    }
  });

  test('decode honours a [B, capacity] padding mask like the full forward', () => {
    const s: Shape = { B: 2, T: 6, Hq: 4, Hkv: 2, D: 3 };
    const x = inputs(s, 17);
    const full = forward(x, s, { keyMask: PAD_MASK6 }).out;
    const cache = createKvCache(s.B, s.T, s.Hkv, s.D, 'f64');
    kvCacheAppend(cache, x.k, x.v, s.T);
    // Decoding all 6 positions at once from a full cache is the same computation, read through the cache.
    assertClose(attentionDecode(x.q, cache, s.T, s.Hq, { keyMask: PAD_MASK6 }), full, 1e-15, 'decode with mask');
  });

  test('errors: heads that do not divide, wrong mask size, queries beyond the cache', () => {
    const q = new Float32Array(1 * 2 * 3 * 4);
    const kv = new Float32Array(1 * 2 * 2 * 4);
    assert.throws(
      () => attentionForward(q, kv, kv, 1, 2, 3, 2, 4),
      (e: unknown) => e instanceof HaloError && /multiple of num_key_value_heads/.test(e.message),
    );
    const k1 = new Float32Array(1 * 2 * 1 * 4);
    assert.throws(() => attentionForward(q, k1, k1, 1, 2, 3, 1, 4, { keyMask: new Uint8Array(3) }), /keyMask has 3 elements but \[B, T\] needs 2/);
    const cache = createKvCache(1, 4, 1, 4);
    assert.throws(() => attentionDecode(new Float32Array(3 * 4), cache, 1, 3), /cache holds only 0 positions/);
  });
});
