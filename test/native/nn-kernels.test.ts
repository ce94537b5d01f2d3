// Native element-wise kernels (native/src/nn_*.cc via src/backend/nn-kernels.ts) against the TypeScript ops
// they replace, on random odd shapes (vector tails) and shapes large enough to take the threaded path, on
// every code path this CPU has (AVX-512, AVX2, portable).
// Tolerances (see native/src/nn.h for why):
//   bit-identical: RoPE, RMSNorm dw, embedding, AdamW, add/addInto (same double expressions, same order);
//   |Δ| ≤ 1e-6·|ref|: RMSNorm y/rstd/dx, SwiGLU, cross-entropy lse/dlogits (a row sum reduced in another
//     order, or an exp within 2 ulp of Math.exp, can move the f32 result by an ulp, ~6e-8 relative);
//     dlogits at the target, where softmax − 1 cancels, relative to the terms (|ref| + 1/normalizer);
//   lossSum: 1e-12 relative (double sums in another order).
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { nnKernels, referenceNnKernels, type NnKernels } from '../../src/backend/nn-kernels.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { ropeTables } from '../../src/nn/ops/rope.ts';
import { assertBitsEqual, assertClose, nativeTest, rawAddon, tiers, withTier } from './native-test.ts';

const ref = referenceNnKernels;
const nat = (): NnKernels => nnKernels(nativeBackend);
const REL = { rtol: 1e-6, atol: 1e-30 };

function normal(n: number, seed: number, std = 1): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n), std);
}

/** Runs fn on every code path, naming the tier in failures. */
function eachTier(fn: (tier: string) => void): void {
  for (const t of tiers()) withTier(t, () => fn(`tier ${t}`));
}

// [rows, cols]: scalar tails (C < 8), odd tails, exact multiples, and sizes above the threading threshold.
const ROW_SHAPES: [number, number][] = [
  [1, 1],
  [3, 5],
  [7, 17],
  [37, 259],
  [2, 1024],
  [67, 1031],
];

describe('native nn kernels', () => {
  nativeTest('nnKernels picks native for the native backend, the reference otherwise', () => {
    assert.equal(nat().name, 'native');
    assert.equal(nnKernels(referenceBackend), referenceNnKernels);
    assert.equal(referenceNnKernels.name, 'reference');
  });

  nativeTest('rmsnorm forward and backward', () => {
    eachTier((tier) => {
      for (const [N, C] of ROW_SHAPES) {
        const what = `${tier} [${N}, ${C}]`;
        const x = normal(N * C, N * 31 + C, 2);
        const w = normal(C, C + 1);
        const a = nat().rmsnormForward(x, w, N, C, 1e-5);
        const b = ref.rmsnormForward(x, w, N, C, 1e-5);
        assertClose(a.y, b.y, REL, `${what} y`);
        assertClose(a.rstd, b.rstd, REL, `${what} rstd`);
        const dy = normal(N * C, N + C * 7);
        const dw0 = normal(C, 99);
        const dwA = dw0.slice(),
          dwB = dw0.slice();
        const dxA = nat().rmsnormBackward(dy, x, w, b.rstd, N, C, dwA);
        const dxB = ref.rmsnormBackward(dy, x, w, b.rstd, N, C, dwB);
        assertClose(dxA, dxB, REL, `${what} dx`);
        assertBitsEqual(dwA, dwB, `${what} dw (accumulated)`);
        // dx written over dy, frozen weight
        const dyCopy = dy.slice();
        const same = nat().rmsnormBackward(dyCopy, x, w, b.rstd, N, C, null, dyCopy);
        assert.equal(same, dyCopy);
        assertClose(dyCopy, dxB, REL, `${what} dx in place`);
      }
    });
  });

  nativeTest('fused add + rmsnorm and rmsnorm backward + add: bit-identical to the native ops they fuse, every alias', () => {
    eachTier((tier) => {
      for (const [N, C] of ROW_SHAPES) {
        const what = `${tier} [${N}, ${C}]`;
        const a = normal(N * C, N * 13 + C, 2);
        const b = normal(N * C, N * 17 + C);
        const w = normal(C, C + 3);
        // unfused: x = add(a, b); rmsnorm(x)
        const xU = nat().add(a, b);
        const u = nat().rmsnormForward(xU, w, N, C, 1e-5);
        const f = nat().addRmsnormForward(a, b, w, N, C, 1e-5);
        assertBitsEqual(f.x, xU, `${what} x`);
        assertBitsEqual(f.y, u.y, `${what} y`);
        assertBitsEqual(f.rstd, u.rstd, `${what} rstd`);
        const r = ref.addRmsnormForward(a, b, w, N, C, 1e-5);
        assertBitsEqual(r.x, xU, `${what} x vs reference`);
        assertClose(f.y, r.y, REL, `${what} y vs reference`);
        // x written over b (as the decoder block does)
        const bIn = b.slice();
        const g = nat().addRmsnormForward(a, bIn, w, N, C, 1e-5, { x: bIn });
        assert.equal(g.x, bIn);
        assertBitsEqual(bIn, xU, `${what} x over b`);
        assertBitsEqual(g.y, u.y, `${what} y with x over b`);

        const dy = normal(N * C, N + C * 5);
        const res = normal(N * C, N * 3 + C);
        const dw0 = normal(C, 7);
        const dwU = dw0.slice(),
          dwF = dw0.slice(),
          dwR = dw0.slice();
        const dxU = nat().rmsnormBackward(dy, xU, w, u.rstd, N, C, dwU);
        nat().addInto(dxU, res);
        const dxF = nat().rmsnormBackwardAdd(dy, xU, w, u.rstd, N, C, dwF, res);
        assertBitsEqual(dxF, dxU, `${what} dx`);
        assertBitsEqual(dwF, dwU, `${what} dw`);
        const dxR = ref.rmsnormBackwardAdd(dy, xU, w, u.rstd, N, C, dwR, res);
        assertClose(dxF, dxR, REL, `${what} dx vs reference`);
        assertBitsEqual(dwF, dwR, `${what} dw vs reference`);
        // dx over dy, and over res; frozen weight
        const dyIn = dy.slice();
        assert.equal(nat().rmsnormBackwardAdd(dyIn, xU, w, u.rstd, N, C, null, res, dyIn), dyIn);
        assertBitsEqual(dyIn, dxU, `${what} dx over dy`);
        const resIn = res.slice();
        assert.equal(nat().rmsnormBackwardAdd(dy, xU, w, u.rstd, N, C, null, resIn, resIn), resIn);
        assertBitsEqual(resIn, dxU, `${what} dx over res`);
      }
    });
  });

  nativeTest('rope forward and backward (bit-identical), in place too', () => {
    eachTier((tier) => {
      for (const [N, H, D] of [
        [1, 1, 2],
        [5, 3, 6],
        [9, 4, 34],
        [33, 7, 64],
        [70, 16, 64],
      ] as const) {
        const what = `${tier} N=${N} H=${H} D=${D}`;
        const pos = Int32Array.from({ length: N }, (_, i) => (i * 37) % 1000);
        const { cos, sin } = ropeTables(pos, D, 10000, null, 'f32');
        const x = normal(N * H * D, N * H + D);
        assertBitsEqual(nat().ropeForward(x, cos, sin, N, H, D), ref.ropeForward(x, cos, sin, N, H, D), `${what} forward`);
        assertBitsEqual(nat().ropeBackward(x, cos, sin, N, H, D), ref.ropeBackward(x, cos, sin, N, H, D), `${what} backward`);
        const inPlace = x.slice();
        nat().ropeForward(inPlace, cos, sin, N, H, D, inPlace);
        assertBitsEqual(inPlace, ref.ropeForward(x, cos, sin, N, H, D), `${what} in place`);
      }
    });
  });

  nativeTest('swiglu forward and backward, including extreme gates', () => {
    eachTier((tier) => {
      for (const n of [1, 7, 16, 1001, 40_003]) {
        const what = `${tier} n=${n}`;
        const gate = normal(n, n, 4);
        // saturated sigmoid, overflow of exp(−g), zeros
        const specials = [0, -0, 30, -30, 88, -88, 200, -200, 1e30, -1e30];
        for (let i = 0; i < Math.min(n, specials.length); i++) gate[i] = specials[i]!;
        const up = normal(n, n + 1);
        const dh = normal(n, n + 2);
        assertClose(nat().swigluForward(gate, up), ref.swigluForward(gate, up), REL, `${what} h`);
        const a = nat().swigluBackward(dh, gate, up);
        const b = ref.swigluBackward(dh, gate, up);
        assertClose(a.dgate, b.dgate, REL, `${what} dgate`);
        assertClose(a.dup, b.dup, REL, `${what} dup`);
        // both gradients written over dh's buffer (dgate) and a fresh one
        const dhCopy = dh.slice();
        nat().swigluBackward(dhCopy, gate, up, { dgate: dhCopy });
        assertClose(dhCopy, b.dgate, REL, `${what} dgate over dh`);
      }
    });
  });

  nativeTest('cross-entropy forward and backward with ignored and masked rows', () => {
    eachTier((tier) => {
      for (const [N, V] of [
        [1, 1],
        [3, 7],
        [13, 250],
        [40, 1000],
        [9, 32003],
      ] as const) {
        const what = `${tier} [${N}, ${V}]`;
        const rng = new Rng(N * V);
        const logits = normal(N * V, N + V, 3);
        const targets = Int32Array.from({ length: N }, () => rng.int(V));
        if (N > 2) targets[1] = -100;
        const mask = N > 2 ? Uint8Array.from({ length: N }, (_, i) => (i === 2 ? 0 : 1)) : null;
        const opts = { mask };
        const a = nat().crossEntropyForward(logits, targets, N, V, opts);
        const b = ref.crossEntropyForward(logits, targets, N, V, opts);
        assert.equal(a.count, b.count, `${what} count`);
        assert.ok(Math.abs(a.lossSum - b.lossSum) <= 1e-12 * Math.abs(b.lossSum) + 1e-300, `${what} lossSum ${a.lossSum} vs ${b.lossSum}`);
        assertClose(a.lse, b.lse, REL, `${what} lse`);
        for (const normalizer of [undefined, 1000]) {
          const ga = nat().crossEntropyBackward(logits, targets, b.lse, N, V, { ...opts, normalizer });
          const gb = ref.crossEntropyBackward(logits, targets, b.lse, N, V, { ...opts, normalizer });
          const inv = 1 / (normalizer ?? b.count);
          const bound = Float64Array.from(gb, (v, i) => Math.abs(v) + (i % V === targets[Math.floor(i / V)] ? inv : 0));
          assertClose(ga, gb, { rtol: 1e-6, atol: 1e-30, bound }, `${what} dlogits (normalizer ${normalizer})`);
        }
        // dlogits written over the logits (what the model does)
        const over = logits.slice();
        nat().crossEntropyBackward(over, targets, b.lse, N, V, opts, over);
        const gb = ref.crossEntropyBackward(logits, targets, b.lse, N, V, opts);
        const inv = 1 / b.count;
        assertClose(over, gb, { rtol: 1e-6, atol: 1e-30, bound: Float64Array.from(gb, (v) => Math.abs(v) + inv) }, `${what} dlogits in place`);
      }
    });
  });

  nativeTest('cross-entropy: large logits stay finite, NaN logits are an E_NUMERIC error', () => {
    const N = 4,
      V = 50;
    const logits = normal(N * V, 5, 1);
    logits[3] = 1e4;
    logits[V + 7] = -1e4;
    const targets = Int32Array.from([0, 1, 2, 3]);
    const a = nat().crossEntropyForward(logits, targets, N, V);
    const b = ref.crossEntropyForward(logits, targets, N, V);
    assert.ok(Number.isFinite(a.loss));
    assertClose(a.lse, b.lse, REL, 'lse with large logits');
    logits[2 * V + 5] = NaN;
    assert.throws(
      () => nat().crossEntropyForward(logits, targets, N, V),
      (e: unknown) => e instanceof HaloError && e.code === 'E_NUMERIC',
    );
  });

  nativeTest('embedding forward and backward (repeated ids accumulate in order)', () => {
    eachTier((tier) => {
      for (const [N, V, C] of [
        [1, 1, 1],
        [9, 5, 3],
        [31, 17, 33],
        [100, 50, 1024],
        [257, 1000, 129],
      ] as const) {
        const what = `${tier} N=${N} V=${V} C=${C}`;
        const rng = new Rng(N + V + C);
        const ids = Int32Array.from({ length: N }, () => rng.int(Math.min(V, 7))); // many repeats
        const wte = normal(V * C, V * C);
        assertBitsEqual(nat().embeddingForward(ids, wte, V, C), ref.embeddingForward(ids, wte, V, C), `${what} forward`);
        const dout = normal(N * C, N * C);
        const g0 = normal(V * C, 3, 0.1);
        const ga = g0.slice(),
          gb = g0.slice();
        nat().embeddingBackward(dout, ids, ga, V, C);
        ref.embeddingBackward(dout, ids, gb, V, C);
        assertBitsEqual(ga, gb, `${what} backward`);
      }
    });
  });

  nativeTest('adamw update over several steps, with and without weight decay (bit-identical)', () => {
    eachTier((tier) => {
      for (const n of [1, 13, 4099, 70_001]) {
        for (const weightDecay of [0, 0.1]) {
          const what = `${tier} n=${n} wd=${weightDecay}`;
          const pa = normal(n, n),
            pb = pa.slice();
          const ma = new Float32Array(n),
            mb = new Float32Array(n),
            va = new Float32Array(n),
            vb = new Float32Array(n);
          for (let t = 1; t <= 3; t++) {
            const grad = normal(n, n + t, t === 2 ? 1e-3 : 1);
            const h = { lr: 1e-3 * t, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay };
            nat().adamwUpdate(pa, grad, ma, va, t, h);
            ref.adamwUpdate(pb, grad, mb, vb, t, h);
          }
          assertBitsEqual(pa, pb, `${what} param`);
          assertBitsEqual(ma, mb, `${what} m`);
          assertBitsEqual(va, vb, `${what} v`);
        }
      }
    });
  });

  nativeTest('add and addInto (bit-identical), out aliasing an input', () => {
    eachTier((tier) => {
      for (const n of [1, 15, 17, 50_001]) {
        const a = normal(n, n),
          b = normal(n, n + 1, 1e-3);
        assertBitsEqual(nat().add(a, b), ref.add(a, b), `${tier} n=${n} add`);
        const into = a.slice();
        nat().add(into, b, into);
        assertBitsEqual(into, ref.add(a, b), `${tier} n=${n} add into a`);
        const d1 = a.slice(),
          d2 = a.slice();
        nat().addInto(d1, b);
        ref.addInto(d2, b);
        assertBitsEqual(d1, d2, `${tier} n=${n} addInto`);
      }
    });
  });

  nativeTest('f64 arrays run the reference ops (gradient checks keep working)', () => {
    const N = 3,
      C = 5;
    const x = Float64Array.from(normal(N * C, 1));
    const w = Float64Array.from(normal(C, 2));
    const a = nat().rmsnormForward(x, w, N, C, 1e-6);
    const b = ref.rmsnormForward(x, w, N, C, 1e-6);
    assert.ok(a.y instanceof Float64Array);
    assert.deepEqual(a.y, b.y);
    const s = nat().swigluForward(x, x);
    assert.ok(s instanceof Float64Array);
    assert.deepEqual(s, ref.swigluForward(x, x));
  });

  nativeTest('argument errors match the reference (codes), and the addon guards memory itself', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof HaloError ? e.code : 'other';
      }
      return 'none';
    };
    const logits = normal(6, 1);
    const bad = Int32Array.from([0, 3]);
    assert.equal(
      code(() => nat().crossEntropyForward(logits, bad, 2, 3)),
      code(() => ref.crossEntropyForward(logits, bad, 2, 3)),
    );
    assert.equal(
      code(() => nat().crossEntropyForward(logits, bad, 2, 3)),
      'E_ARG',
    );
    assert.equal(
      code(() => nat().embeddingForward(Int32Array.from([5]), normal(6, 2), 3, 2)),
      'E_ARG',
    );
    assert.equal(
      code(() => nat().rmsnormForward(normal(5, 1), normal(2, 2), 2, 2, 1e-5)),
      'E_SHAPE',
    );
    assert.equal(
      code(() => nat().ropeForward(normal(6, 1), normal(3, 2), normal(3, 2), 2, 1, 3)),
      'E_SHAPE',
    );
    assert.equal(
      code(() => nat().rmsnormForward(normal(4, 1), new Float64Array(2), 2, 2, 1e-5)),
      'E_DTYPE',
    );
    assert.equal(
      code(() =>
        nat().adamwUpdate(normal(4, 1), normal(3, 1), new Float32Array(4), new Float32Array(4), 1, {
          lr: 1e-3,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: 0,
        }),
      ),
      'E_SHAPE',
    );
    // Called directly, past the TypeScript checks, the addon still refuses to read or write out of bounds.
    const lib = rawAddon() as unknown as {
      embeddingForward(ids: Int32Array, wte: Float32Array, V: number, C: number, out: Float32Array): void;
      crossEntropyBackward(l: Float32Array, t: Int32Array, lse: Float32Array, N: number, V: number, ig: number, m: null, inv: number, g: Float32Array): void;
      rmsnormForward(x: Float32Array, w: Float32Array, N: number, C: number, eps: number, y: Float32Array, rstd: Float32Array): void;
    };
    assert.throws(() => lib.embeddingForward(Int32Array.from([3]), new Float32Array(6), 3, 2, new Float32Array(2)), /outside the vocabulary/);
    assert.throws(() => lib.crossEntropyBackward(logits, bad, new Float32Array(2), 2, 3, -100, null, 1, new Float32Array(6)), /outside \[0, 3\)/);
    assert.throws(() => lib.rmsnormForward(new Float32Array(3), new Float32Array(2), 2, 2, 1e-5, new Float32Array(4), new Float32Array(2)), /needs 4/);
  });
});
