// bf16 gradients (--grad-dtype bf16): accumulation against a plain reference (the f32 sum rounded to bf16 by
// the codec after every add), and the optimizers / clipping reading a bf16 gradient chunk by chunk exactly as
// they read an f32 gradient holding the same values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.ts';
import { decodeBf16, encodeBf16, encodeBf16Array, decodeBf16Array } from '../../src/quant/codecs/bf16.ts';
import { nativeAvailable } from '../../src/backend/native/index.ts';
import { loadAddon, type NativeNnAddon } from '../../src/backend/native/binding.ts';
import {
  addIntoBf16,
  addIntoBf16Ts,
  scaleBf16Ts,
  sumSquaresBf16Ts,
  embeddingBackwardBf16,
  forEachF32Chunk,
  GRAD_CHUNK,
  scaleGrad,
} from '../../src/optim/bf16-grad.ts';
import { AdamW, clipGradNorm, type OptimParam } from '../../src/optim/adamw.ts';
import { AdamW8bit } from '../../src/optim/adamw8bit.ts';

/** Reference accumulation: every add is an f32 sum of the stored bf16 value and the contribution, then bf16. */
function refAdd(g: Uint16Array, x: Float32Array): void {
  for (let i = 0; i < g.length; i++) g[i] = encodeBf16(Math.fround(decodeBf16(g[i]!) + x[i]!));
}

function randomGrad(rng: Rng, n: number, scale: number): Float32Array {
  const x = new Float32Array(n);
  rng.fillNormal(x);
  for (let i = 0; i < n; i++) x[i] = x[i]! * scale * Math.exp(rng.next() * 8 - 4); // magnitudes over ~7 decades
  return x;
}

describe('bf16 gradient accumulation', () => {
  test('addIntoBf16 matches the f32 sum rounded to bf16 after each add, over many adds', () => {
    const rng = new Rng(3);
    const n = 1001;
    const g = new Uint16Array(n);
    const ref = new Uint16Array(n);
    for (let k = 0; k < 12; k++) {
      const x = randomGrad(rng, n, 1e-3);
      addIntoBf16(g, x);
      refAdd(ref, x);
    }
    assert.deepEqual(g, ref);
    // Overflow past bf16's max and NaN go where the codec sends them.
    const h = encodeBf16Array(Float32Array.of(3.3e38, 1, -2));
    addIntoBf16(h, Float32Array.of(3.3e38, NaN, 0));
    assert.equal(decodeBf16(h[0]!), Infinity);
    assert.ok(Number.isNaN(decodeBf16(h[1]!)));
    assert.equal(decodeBf16(h[2]!), -2);
    assert.throws(() => addIntoBf16(new Uint16Array(3), new Float32Array(2)), /3 values but the contribution has 2/);
  });

  test('the TypeScript loop and the native kernel both match the reference, bit for bit, specials included', () => {
    const rng = new Rng(4);
    const n = 70001; // several native chunks and a tail
    const g0 = encodeBf16Array(randomGrad(rng, n, 1));
    const x = randomGrad(rng, n, 1);
    // Specials: NaN, ±inf, overflow past bf16's max, subnormals, exact cancellation, a tie to round to even.
    g0.set(encodeBf16Array(Float32Array.of(NaN, 1, -Infinity, 3.3e38, 1e-39, 2, 1, -0)), 0);
    x.set(Float32Array.of(1, NaN, 1, 3.3e38, 1e-40, -2, 2 ** -8, 0), 0);
    const ref = Uint16Array.from(g0);
    refAdd(ref, x);
    const ts = Uint16Array.from(g0);
    addIntoBf16Ts(ts, x);
    assert.deepEqual(ts, ref);
    const native = loadAddon().addon as Partial<NativeNnAddon> | undefined;
    if (nativeAvailable().ok && native?.addIntoBf16) {
      const nv = Uint16Array.from(g0);
      native.addIntoBf16(nv, x);
      assert.deepEqual(nv, ref);
    }
    // Sum of squares (f64, index order) and scaling (f64 product → f32 → bf16): loops against the reference, native against the loops.
    const finite = g0.subarray(8);
    let s = 0.5;
    for (const b of finite) s += decodeBf16(b) * decodeBf16(b);
    assert.equal(sumSquaresBf16Ts(finite, 0.5), s);
    const scaled = Uint16Array.from(finite);
    scaleBf16Ts(scaled, 0.3);
    assert.deepEqual(
      scaled,
      finite.map((b) => encodeBf16(Math.fround(decodeBf16(b) * 0.3))),
    );
    if (nativeAvailable().ok && native?.sumSquaresBf16 && native.scaleBf16) {
      assert.equal(native.sumSquaresBf16(finite, 0.5), s);
      const ns = Uint16Array.from(finite);
      native.scaleBf16(ns, 0.3);
      assert.deepEqual(ns, scaled);
    }
  });

  test('embeddingBackwardBf16 adds each token row into its id, repeated ids included', () => {
    const rng = new Rng(5);
    const V = 11,
      C = 7;
    const ids = Int32Array.of(3, 0, 3, 10, 3, 5);
    const dout = randomGrad(rng, ids.length * C, 1);
    const dW = new Uint16Array(V * C);
    embeddingBackwardBf16(dout, ids, dW, V, C);
    const ref = new Uint16Array(V * C);
    ids.forEach((id, n) => refAdd(ref.subarray(id * C, id * C + C), dout.subarray(n * C, n * C + C)));
    assert.deepEqual(dW, ref);
    assert.throws(() => embeddingBackwardBf16(dout, Int32Array.of(0, 1, 2, 3, 4, 11), dW, V, C), /token id 11 at 5/);
  });

  test('forEachF32Chunk decodes every value once, in order; an f32 gradient is passed whole', () => {
    const rng = new Rng(9);
    const bits = encodeBf16Array(randomGrad(rng, 2 * 1000 + 17, 1));
    const seen: number[] = [];
    const got = new Float32Array(bits.length);
    forEachF32Chunk(
      bits,
      (lo, hi, g) => {
        seen.push(lo, hi);
        got.set(g, lo);
      },
      1000,
    );
    assert.deepEqual(seen, [0, 1000, 1000, 2000, 2000, 2017]);
    assert.deepEqual(got, decodeBf16Array(bits));
    const f = new Float32Array(5);
    forEachF32Chunk(f, (lo, hi, g) => assert.ok(lo === 0 && hi === 5 && g === f));
  });
});

describe('optimizers and clipping read bf16 gradients', () => {
  // Over a chunk boundary (GRAD_CHUNK values), with a last block shorter than the others.
  const n = GRAD_CHUNK + 3 * 2048 + 100;

  function pair(seed: number): { bf: OptimParam[]; f32: OptimParam[] } {
    const rng = new Rng(seed);
    const w = randomGrad(rng, n, 0.02);
    const small = randomGrad(rng, 64, 1);
    const bits = encodeBf16Array(randomGrad(rng, n, 1e-2));
    return {
      bf: [
        { name: 'w', param: Float32Array.from(w), grad: Uint16Array.from(bits) },
        { name: 'norm', param: Float32Array.from(small), grad: new Float32Array(64).fill(0.1), weightDecay: 0 },
      ],
      f32: [
        { name: 'w', param: Float32Array.from(w), grad: decodeBf16Array(bits) },
        { name: 'norm', param: Float32Array.from(small), grad: new Float32Array(64).fill(0.1), weightDecay: 0 },
      ],
    };
  }

  test('AdamW and AdamW8bit: bf16 gradients give the same weights as f32 gradients of the same values', () => {
    for (const make of [
      (p: OptimParam[]) => new AdamW(p, { lr: 1e-3, weightDecay: 0.01 }),
      (p: OptimParam[]) => new AdamW8bit(p, { lr: 1e-3, weightDecay: 0.01 }),
      (p: OptimParam[]) => new AdamW8bit(p, { lr: 1e-3, kind: 'adamw-fp8', block: 100 }),
    ]) {
      const { bf, f32 } = pair(11);
      const a = make(bf);
      const b = make(f32);
      for (let t = 0; t < 3; t++) {
        a.step();
        b.step();
      }
      assert.deepEqual(bf[0]!.param, f32[0]!.param);
      assert.deepEqual(bf[1]!.param, f32[1]!.param);
      assert.deepEqual(a.state(), b.state());
      a.zeroGrad();
      assert.ok((bf[0]!.grad as Uint16Array).every((x) => x === 0));
    }
  });

  test('clipGradNorm: the same norm as over the f32 values; the scaled bf16 gradient is the f32 product rounded', () => {
    const { bf, f32 } = pair(13);
    const before = Uint16Array.from(bf[0]!.grad as Uint16Array);
    const a = clipGradNorm(
      bf.map((p) => p.grad),
      0.5,
    );
    const b = clipGradNorm(
      f32.map((p) => p.grad),
      0.5,
    );
    assert.equal(a.norm, b.norm);
    assert.equal(a.scale, b.scale);
    assert.ok(a.scale < 1);
    const ref = before.map((x) => encodeBf16(Math.fround(decodeBf16(x) * a.scale)));
    assert.deepEqual(bf[0]!.grad, ref);
    const g = encodeBf16Array(Float32Array.of(1, -3));
    scaleGrad(g, 0.5);
    assert.deepEqual(decodeBf16Array(g), Float32Array.of(0.5, -1.5));
  });
});
