// The fused, chunked lm_head + cross-entropy against the unchunked path it replaces (headForward +
// crossEntropyForward/Backward + headWeightGrad/headInputGrad): bit for bit on the reference backend where
// the arithmetic is the same (dh always; lossSum and dW with one chunk), within the rounding that chunking
// adds otherwise (derived below), and close on the native backend. Then against a plain f64 oracle, by
// finite differences in f64, and: no [N, V] buffer is ever made, evaluation makes no dh, errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/backend.ts';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { nnKernels, type NnKernels } from '../../src/backend/nn-kernels.ts';
import type { FloatArray } from '../../src/core/dtype.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { IGNORE_INDEX } from '../../src/nn/ops/cross-entropy.ts';
import { decodeBf16Array, encodeBf16Array } from '../../src/quant/codecs/bf16.ts';
import { headLoss, type HeadLossOptions, type HeadWeight } from '../../src/models/head-loss.ts';
import { headForward, headInputGrad, headWeightGrad, type HeadPrecision } from '../../src/models/lm-head.ts';
import { assertBitsEqual, assertClose, nativeTest } from '../native/native-test.ts';
import { assertClose as assertCloseScaled, finiteDiff } from '../nn/gradcheck.ts';

const U32 = 2 ** -24; // f32 unit roundoff

interface Problem {
  N: number;
  C: number;
  V: number;
  h: Float32Array;
  w: Float32Array;
  wBits: Uint16Array;
  targets: Int32Array;
  dW0: Float32Array;
}

/** Random h, W; targets with scattered −100 rows and a block of −100 longer than any small chunk. */
function problem(N: number, C: number, V: number, seed: number, dW0Nonzero = true): Problem {
  const rng = new Rng(seed);
  const h = rng.fillNormal(new Float32Array(N * C));
  const w = rng.fillNormal(new Float32Array(V * C), 0.5);
  const targets = Int32Array.from({ length: N }, (_, n) => (rng.next() < 0.3 || (n >= 5 && n < 16) ? IGNORE_INDEX : rng.int(V)));
  const dW0 = dW0Nonzero ? rng.fillNormal(new Float32Array(V * C), 0.01) : new Float32Array(V * C);
  return { N, C, V, h, w, wBits: encodeBf16Array(w), targets, dW0 };
}

/** The unchunked path llama.ts runs today, on W as f32 values (a bf16-stored W decoded exactly). */
function unchunked(
  be: Backend,
  nn: NnKernels,
  p: HeadPrecision,
  h: Float32Array,
  w: Float32Array,
  t: Int32Array,
  N: number,
  C: number,
  V: number,
  normalizer: number,
  dW0: Float32Array,
) {
  const logits = headForward(be, p, h, w, N, C, V);
  const ce = nn.crossEntropyForward(logits, t, N, V);
  const dl = nn.crossEntropyBackward(logits, t, ce.lse, N, V, { normalizer }, logits);
  const dW = dW0.slice();
  nn.addInto(dW, headWeightGrad(be, p, dl, h, N, C, V));
  return { lossSum: ce.lossSum, count: ce.count, dh: headInputGrad(be, p, dl, w, N, C, V), dW, dl: Float32Array.from(dl) };
}

function fused(be: Backend, pr: Problem, storage: 'f32' | 'bf16', p: HeadPrecision, normalizer: number, extra: Partial<HeadLossOptions> = {}) {
  const w: HeadWeight = storage === 'bf16' ? { dtype: 'bf16', data: pr.wBits } : { dtype: 'f32', data: pr.w };
  const dW = pr.dW0.slice();
  const r = headLoss(be, nnKernels(be), pr.h, w, pr.targets, pr.N, pr.C, pr.V, { precision: p, grad: { normalizer, dW }, ...extra });
  return { ...r, dW };
}

/** B[v, c] = |dW0| + Σ_n |dl[n, v]|·|h[n, c]|: the scale every rounding in dW's sums is relative to. */
function dWBound(dl: Float32Array, h: Float32Array, dW0: Float32Array, N: number, C: number, V: number): Float64Array {
  const b = Float64Array.from(dW0, Math.abs);
  for (let n = 0; n < N; n++)
    for (let v = 0; v < V; v++) {
      const g = Math.abs(dl[n * V + v]);
      if (g !== 0) for (let c = 0; c < C; c++) b[v * C + c] += g * Math.abs(h[n * C + c]);
    }
  return b;
}

const chunksOf = (count: number, chunk: number) => Math.ceil(count / Math.min(chunk, count));

describe('headLoss on the reference backend equals the unchunked head', () => {
  const be = referenceBackend;
  const nn = nnKernels(be);
  const pr = problem(37, 19, 101, 1);
  const count = pr.targets.filter((t) => t !== IGNORE_INDEX).length;
  const normalizer = 53; // the step's counted tokens: more than this micro-batch's
  for (const [storage, p] of [
    ['f32', 'f32'],
    ['f32', 'bf16'],
    ['bf16', 'bf16'],
  ] as const) {
    // A bf16-stored W is exactly its decoded f32 values in the unchunked path (rounding them again is the identity).
    const wVals = storage === 'bf16' ? decodeBf16Array(pr.wBits) : pr.w;
    const ref = unchunked(be, nn, p, pr.h, wVals, pr.targets, pr.N, pr.C, pr.V, normalizer, pr.dW0);
    const hVals = p === 'bf16' ? decodeBf16Array(encodeBf16Array(pr.h)) : pr.h;
    const bound = dWBound(ref.dl, hVals, pr.dW0, pr.N, pr.C, pr.V);
    for (const chunk of [1, 3, 1000, undefined]) {
      test(`W ${storage}, ${p} GEMMs, chunk ${chunk ?? 'default'}`, () => {
        const r = fused(be, pr, storage, p, normalizer, { chunkTokens: chunk, weightGradSliceRows: chunk === 3 ? 7 : undefined });
        assert.equal(r.count, count);
        assert.equal(ref.count, count);
        assertBitsEqual(r.dh!, ref.dh, 'dh (every row through the same dot products)');
        const k = chunksOf(count, chunk ?? Infinity);
        if (k === 1) {
          assert.equal(r.lossSum, ref.lossSum, 'one chunk: the same f64 sum in the same order');
          assertBitsEqual(r.dW, ref.dW, 'one chunk: dW');
        } else {
          // k chunk sums of positive terms added: f64 rounding of at most count·2⁻⁵³ relative.
          assert.ok(Math.abs(r.lossSum - ref.lossSum) <= count * 2 ** -53 * ref.lossSum, `lossSum ${r.lossSum} vs ${ref.lossSum}`);
          assert.notDeepEqual(r.dW, ref.dW, 'chunking rounds dW differently (else this test checks nothing)');
          // Each chunk's partial rounded to f32 and added in f32 (k+1 roundings of at most u·B), against the
          // unchunked sum's 2: |diff| ≤ (k+3)·u·B.
          assertClose(r.dW, ref.dW, { rtol: (k + 3) * U32, bound }, `dW over ${k} chunks`);
        }
      });
    }
  }

  test('dW accumulates into what is there (tied lm_head: the embedding gradient), and a frozen head still gives dh', () => {
    const zero = problem(37, 19, 101, 1, false);
    const a = fused(be, zero, 'f32', 'f32', normalizer, { chunkTokens: 1000 });
    const b = fused(be, pr, 'f32', 'f32', normalizer, { chunkTokens: 1000 });
    const sum = pr.dW0.map((x, i) => x + a.dW[i]);
    assertBitsEqual(b.dW, sum, 'dW0 + dW');
    const frozen = headLoss(be, nn, pr.h, { dtype: 'f32', data: pr.w }, pr.targets, pr.N, pr.C, pr.V, {
      precision: 'f32',
      chunkTokens: 3,
      grad: { normalizer, dW: null },
    });
    assertBitsEqual(frozen.dh!, b.dh!, 'dh without dW');
  });

  test('rows without a target get dh = 0; no counted row at all: loss 0, dh 0, dW untouched', () => {
    const r = fused(be, pr, 'f32', 'f32', normalizer, { chunkTokens: 3 });
    for (let n = 0; n < pr.N; n++) {
      const row = r.dh!.subarray(n * pr.C, (n + 1) * pr.C);
      if (pr.targets[n] === IGNORE_INDEX)
        assert.ok(
          row.every((x) => x === 0),
          `row ${n}`,
        );
      else
        assert.ok(
          row.some((x) => x !== 0),
          `row ${n}`,
        );
    }
    const none = { ...pr, targets: new Int32Array(pr.N).fill(IGNORE_INDEX) };
    const z = fused(be, none, 'f32', 'f32', normalizer);
    assert.deepEqual([z.lossSum, z.count], [0, 0]);
    assert.ok(z.dh!.every((x) => x === 0));
    assertBitsEqual(z.dW, pr.dW0, 'dW untouched');
  });
});

describe('headLoss on the native backend', () => {
  const pr = problem(45, 33, 1037, 2);
  const normalizer = 40;
  for (const [storage, p] of [
    ['f32', 'f32'],
    ['f32', 'bf16'],
    ['bf16', 'bf16'],
  ] as const) {
    for (const chunk of [1, 3, 1000]) {
      nativeTest(`W ${storage}, ${p} GEMMs, chunk ${chunk}: equals the unchunked native path`, () => {
        const be = nativeBackend;
        const wVals = storage === 'bf16' ? decodeBf16Array(pr.wBits) : pr.w;
        const ref = unchunked(be, nnKernels(be), p, pr.h, wVals, pr.targets, pr.N, pr.C, pr.V, normalizer, pr.dW0);
        const r = fused(be, pr, storage, p, normalizer, { chunkTokens: chunk, weightGradSliceRows: chunk === 3 ? 100 : undefined });
        assert.equal(r.count, ref.count);
        // oneDNN may block a GEMM of another row count differently (f32 sums over C in another order), and the
        // native loss sums across threads: a few f32 ulps in the logits, ~1e-7 relative in the loss.
        assert.ok(Math.abs(r.lossSum - ref.lossSum) <= 1e-6 * ref.lossSum, `lossSum ${r.lossSum} vs ${ref.lossSum}`);
        const hVals = p === 'bf16' ? decodeBf16Array(encodeBf16Array(pr.h)) : pr.h;
        const k = chunksOf(ref.count, chunk);
        // dW: the same (k+3)·u·B rounding as on the reference backend, plus oneDNN's own f32 sums, which may be
        // blocked differently for another shape or layout (measured: within the (k+3)·u·B; 8·u·B more allowed),
        // and the logits' ulps carried through softmax (relative to B as well). In bf16 a logit's ulp can flip
        // a dlogit's rounding to bf16 (2⁻⁸ relative of that one term), hence the larger allowance.
        const bound = dWBound(ref.dl, hVals, pr.dW0, pr.N, pr.C, pr.V);
        assertClose(r.dW, ref.dW, { rtol: p === 'bf16' ? 2 ** -8 : (k + 11) * U32, bound }, 'dW');
        // dh: relative to Σ_v |dl[n, v]|·|W[v, c]|, the same reasoning with sums over V (measured: equal in f32,
        // 21·u in bf16, where dh reads dl's transposed codes instead of the codes the unchunked path makes).
        const dhBound = new Float64Array(pr.N * pr.C);
        for (let n = 0; n < pr.N; n++)
          for (let v = 0; v < pr.V; v++) {
            const g = Math.abs(ref.dl[n * pr.V + v]);
            for (let c = 0; c < pr.C; c++) dhBound[n * pr.C + c] += g * Math.abs(wVals[v * pr.C + c]);
          }
        assertClose(r.dh!, ref.dh, { rtol: p === 'bf16' ? 2 ** -8 : 64 * U32, bound: dhBound }, 'dh');
      });
    }
  }

  nativeTest('native and reference backends agree', () => {
    const a = fused(nativeBackend, pr, 'f32', 'f32', normalizer, { chunkTokens: 4 });
    const b = fused(referenceBackend, pr, 'f32', 'f32', normalizer, { chunkTokens: 4 });
    assert.ok(Math.abs(a.lossSum - b.lossSum) <= 1e-6 * b.lossSum);
    assertCloseScaled(a.dh!, b.dh!, 1e-5, 'dh');
    assertCloseScaled(a.dW, b.dW, 1e-5, 'dW');
  });
});

/** logits, loss, dh, dW of the head in plain f64 loops (the textbook formulas). */
function oracle(h: ArrayLike<number>, w: ArrayLike<number>, t: Int32Array, N: number, C: number, V: number, normalizer: number) {
  let lossSum = 0;
  const dh = new Float64Array(N * C);
  const dW = new Float64Array(V * C);
  const z = new Float64Array(V);
  for (let n = 0; n < N; n++) {
    if (t[n] === IGNORE_INDEX) continue;
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += h[n * C + c] * w[v * C + c];
      z[v] = s;
    }
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, x) => s + Math.exp(x - max), 0));
    lossSum += lse - z[t[n]];
    for (let v = 0; v < V; v++) {
      const g = (Math.exp(z[v] - lse) - (v === t[n] ? 1 : 0)) / normalizer;
      for (let c = 0; c < C; c++) {
        dh[n * C + c] += g * w[v * C + c];
        dW[v * C + c] += g * h[n * C + c];
      }
    }
  }
  return { lossSum, dh, dW };
}

describe('headLoss against f64', () => {
  test('f32 on both backends: close to the f64 oracle', () => {
    const pr = problem(29, 23, 211, 3, false);
    const o = oracle(pr.h, pr.w, pr.targets, pr.N, pr.C, pr.V, 17);
    for (const be of [referenceBackend, ...nativeBackendIf()]) {
      const r = fused(be, pr, 'f32', 'f32', 17, { chunkTokens: 5 });
      assert.ok(Math.abs(r.lossSum - o.lossSum) <= 1e-6 * o.lossSum, `${be.name}: lossSum ${r.lossSum} vs ${o.lossSum}`);
      // f32 logits (C-term sums, ~1e-7 relative) through softmax: 1e-5 of the largest gradient entry.
      assertCloseScaled(r.dh!, o.dh, 1e-5, `${be.name}: dh`);
      assertCloseScaled(r.dW, o.dW, 1e-5, `${be.name}: dW`);
    }
  });

  test('finite differences in f64 (reference backend): dh and dW, with dW accumulating onto a nonzero buffer', () => {
    const [N, C, V] = [7, 5, 11];
    const rng = new Rng(4);
    const h = rng.fillNormal(new Float64Array(N * C));
    const w = rng.fillNormal(new Float64Array(V * C));
    const targets = Int32Array.of(3, IGNORE_INDEX, 0, 10, IGNORE_INDEX, IGNORE_INDEX, 7);
    const normalizer = 3.5;
    const be = referenceBackend;
    const nn = nnKernels(be);
    const loss = () => headLoss(be, nn, h, { dtype: 'f64', data: w }, targets, N, C, V, { precision: 'f32', chunkTokens: 2 }).lossSum / normalizer;
    const dW0 = rng.fillNormal(new Float64Array(V * C));
    const dW = dW0.slice();
    const r = headLoss(be, nn, h, { dtype: 'f64', data: w }, targets, N, C, V, { precision: 'f32', chunkTokens: 2, grad: { normalizer, dW } });
    assert.ok(r.dh instanceof Float64Array);
    assertCloseScaled(r.dh, finiteDiff(h, loss), 1e-7, 'dh vs finite differences');
    assertCloseScaled(
      dW.map((x, i) => x - dW0[i]),
      finiteDiff(w, loss),
      1e-7,
      'dW vs finite differences',
    );
    const o = oracle(h, w, targets, N, C, V, normalizer);
    assert.ok(Math.abs(r.lossSum - o.lossSum) <= 1e-13 * o.lossSum);
  });
});

function nativeBackendIf(): Backend[] {
  try {
    return nnKernels(nativeBackend).name === 'native' ? [nativeBackend] : [];
  } catch {
    return [];
  }
}

/** A backend that records the element count of every tensor its calls return. */
function recording(be: Backend): { be: Backend; sizes: Map<string, number[]> } {
  const sizes = new Map<string, number[]>();
  const note = (op: string, n: number) => sizes.set(op, [...(sizes.get(op) ?? []), n]);
  return {
    sizes,
    be: {
      ...be,
      matmul: (a, b, opts) => {
        const y = be.matmul(a, b, opts);
        note('matmul', y.numel);
        return y;
      },
      matmulT: (a, b, alpha) => {
        const y = be.matmulT(a, b, alpha);
        note('matmulT', y.numel);
        return y;
      },
      transpose: (a) => {
        const y = be.transpose(a);
        note('transpose', y.numel);
        return y;
      },
      rotateQuantize: (x, rot, f, g, o) => {
        const y = be.rotateQuantize(x, rot, f, g, o);
        note('rotateQuantize', y.q.numel);
        return y;
      },
    },
  };
}

describe('memory and evaluation', () => {
  test('no tensor of N·V elements: the largest is a chunk of logits or W itself', () => {
    const [N, C, V, chunk] = [400, 24, 501, 8];
    const rng = new Rng(5);
    const h = rng.fillNormal(new Float32Array(N * C));
    const w = rng.fillNormal(new Float32Array(V * C));
    const targets = Int32Array.from({ length: N }, () => rng.int(V)); // every row counted
    for (const p of ['f32', 'bf16'] as const) {
      const rec = recording(referenceBackend);
      const r = headLoss(rec.be, nnKernels(referenceBackend), h, { dtype: 'f32', data: w }, targets, N, C, V, {
        precision: p,
        chunkTokens: chunk,
        grad: { normalizer: N, dW: new Float32Array(V * C) },
      });
      assert.equal(r.count, N);
      const all = [...rec.sizes.values()].flat();
      assert.equal(Math.max(...all), Math.max(chunk * V, V * C), `${p}: largest tensor`);
      assert.ok(Math.max(...all) < (N * V) / 10);
    }
  });

  test('evaluation (no grad): the same loss, no dh, no backward GEMMs or transposes', () => {
    const pr = problem(37, 19, 101, 6);
    const rec = recording(referenceBackend);
    const ev = headLoss(rec.be, nnKernels(referenceBackend), pr.h, { dtype: 'f32', data: pr.w }, pr.targets, pr.N, pr.C, pr.V, {
      precision: 'f32',
      chunkTokens: 4,
    });
    const tr = fused(referenceBackend, pr, 'f32', 'f32', 10, { chunkTokens: 4 });
    assert.equal(ev.dh, null);
    assert.equal(ev.lossSum, tr.lossSum);
    assert.equal(ev.count, tr.count);
    assert.equal(rec.sizes.get('transpose'), undefined);
    assert.equal(rec.sizes.get('matmul'), undefined);
    assert.equal(rec.sizes.get('matmulT')!.length, Math.ceil(ev.count / 4), 'one logits GEMM per chunk');
  });
});

describe('headLoss errors', () => {
  const pr = problem(9, 4, 13, 7);
  const be = referenceBackend;
  const nn = nnKernels(be);
  const w: HeadWeight = { dtype: 'f32', data: pr.w };
  const run = (o: Partial<HeadLossOptions> = {}, args: { h?: FloatArray; w?: HeadWeight; t?: Int32Array } = {}) =>
    headLoss(be, nn, args.h ?? pr.h, args.w ?? w, args.t ?? pr.targets, pr.N, pr.C, pr.V, { precision: 'f32', ...o });
  const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof HaloError && e.code === c && (!re || re.test(e.message));

  for (const be2 of [referenceBackend, ...nativeBackendIf()]) {
    test(`${be2.name}: a non-finite logit in a counted row is E_NUMERIC; in an uncounted row it is never computed`, () => {
      const t = Int32Array.from(pr.targets);
      t[0] = 2;
      t[1] = IGNORE_INDEX;
      const h = Float32Array.from(pr.h);
      h[1 * pr.C] = NaN;
      assert.ok(Number.isFinite(headLoss(be2, nnKernels(be2), h, w, t, pr.N, pr.C, pr.V, { precision: 'f32', chunkTokens: 2 }).lossSum));
      h[0] = Infinity;
      assert.throws(() => headLoss(be2, nnKernels(be2), h, w, t, pr.N, pr.C, pr.V, { precision: 'f32', chunkTokens: 2 }), code('E_NUMERIC'));
    });
  }

  test('bad arguments name what is wrong', () => {
    const t = Int32Array.from(pr.targets);
    t[4] = pr.V;
    assert.throws(() => run({}, { t }), code('E_ARG', /target 13 at row 4/));
    assert.throws(() => run({ chunkTokens: 0 }), code('E_ARG', /chunkTokens/));
    assert.throws(() => run({ grad: { normalizer: 0, dW: null } }), code('E_ARG', /normalizer/));
    assert.throws(() => run({ grad: { normalizer: 1, dW: new Float32Array(5) } }), code('E_SHAPE', /dW/));
    assert.throws(() => run({ grad: { normalizer: 1, dW: new Float64Array(pr.V * pr.C) } }), code('E_DTYPE', /dW/));
    assert.throws(() => run({}, { h: new Float64Array(pr.N * pr.C) }), code('E_DTYPE', /f64/));
    assert.throws(() => run({}, { w: { dtype: 'bf16', data: pr.w as unknown as Uint16Array } }), code('E_DTYPE', /Uint16Array/));
    assert.throws(
      () => run({ precision: 'bf16' }, { h: new Float64Array(pr.N * pr.C), w: { dtype: 'f64', data: new Float64Array(pr.V * pr.C) } }),
      code('E_ARG', /bf16/),
    );
    assert.throws(() => run({ precision: 'fp8' as HeadPrecision }), code('E_ARG', /precision/));
    assert.throws(() => run({}, { h: new Float32Array(3) }), code('E_SHAPE', /h has 3/));
  });
});
