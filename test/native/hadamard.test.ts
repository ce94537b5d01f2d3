// Native Hadamard rotations against src/hadamard/transform.ts. The native kernels perform the reference's
// operations in the reference's order (butterfly strides 1, 2, 4, …; chunk mix accumulated from 0 in order
// l = 0..K−1; scale by fround(1/√block) last), each rounded once to f32, so the expected tolerance is ZERO:
// results must be bit-identical, on every code path this CPU has (AVX-512, AVX2, portable).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Rotation, Side } from '../../src/backend/backend.ts';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { planHadamard, type PlanOptions } from '../../src/hadamard/index.ts';
import { assertBitsEqual, assertClose, nativeTest, randomF32, tiers, withTier } from './native-test.ts';

// n with its plan options: powers of two (short ones take the scalar path), K·2^p with small and large K,
// block-diagonal plans, K > 1 with chunks shorter than a vector.
const PLANS: [number, PlanOptions][] = [
  [1, {}],
  [2, {}],
  [8, {}],
  [16, {}],
  [32, {}],
  [64, {}],
  [256, {}],
  [2048, {}],
  [12, {}],
  [20, {}],
  [28 * 16, {}],
  [12 * 64, {}],
  [172 * 4, {}],
  [36 * 32, {}],
  [76 * 64, {}],
  [96, { block: 32 }],
  [72, { block: 12 }],
  [4096, { block: 128 }],
  [48, { block: 16 }],
];
const OTHER_DIMS = [1, 7, 33];

function rot(n: number, opts: PlanOptions, side: Side, transpose: boolean): Rotation {
  return { plan: planHadamard(n, opts), side, transpose };
}

describe('native rotate vs reference (bit-identical)', () => {
  for (const side of ['right', 'left'] as const) {
    nativeTest(`${side} rotations, transpose on and off, every code path`, () => {
      let seed = 1;
      for (const tier of tiers())
        for (const [n, opts] of PLANS)
          for (const other of OTHER_DIMS)
            for (const transpose of [false, true]) {
              const r = rot(n, opts, side, transpose);
              const shape = side === 'right' ? [other, n] : [n, other];
              const x = randomF32(shape, seed++);
              const before = x.data.slice();
              const got = withTier(tier, () => nativeBackend.rotate(x, r));
              const want = referenceBackend.rotate(x, r);
              assert.deepEqual(got.shape, shape);
              assertBitsEqual(got.data, want.data, `tier ${tier} ${side} n=${n} block=${r.plan.block} K=${r.plan.K} other=${other} T=${transpose}`);
              assertBitsEqual(x.data, before, 'input must not change');
            }
    });
  }

  nativeTest('left panels with column counts that are not multiples of 16', () => {
    for (const cols of [15, 17, 31, 40, 100])
      for (const tier of tiers()) {
        const r = rot(12 * 8, {}, 'left', false);
        const x = randomF32([96, cols], cols);
        assertBitsEqual(withTier(tier, () => nativeBackend.rotate(x, r)).data, referenceBackend.rotate(x, r).data, `cols=${cols} tier ${tier}`);
      }
  });

  nativeTest('large shapes use the threaded path and still match', () => {
    for (const [n, opts] of [
      [4096, {}],
      [28 * 512, {}],
    ] as [number, PlanOptions][]) {
      const x = randomF32([64, n], n);
      for (const side of ['right'] as const) {
        const r = rot(n, opts, side, false);
        assertBitsEqual(nativeBackend.rotate(x, r).data, referenceBackend.rotate(x, r).data, `right n=${n}`);
      }
      const xl = randomF32([n, 40], n + 1);
      const rl = rot(n, opts, 'left', true);
      assertBitsEqual(nativeBackend.rotate(xl, rl).data, referenceBackend.rotate(xl, rl).data, `left n=${n}`);
    }
  });

  nativeTest('a rotation followed by its transpose is the identity (to f32 rounding)', () => {
    const x = randomF32([9, 12 * 32], 5);
    const r = rot(12 * 32, {}, 'right', false);
    const back = nativeBackend.rotate(nativeBackend.rotate(x, r), { ...r, transpose: true });
    assertClose(back.data, x.data, { rtol: 1e-5, atol: 1e-6 }, 'round trip');
  });

  nativeTest('f64 input goes to the reference', () => {
    const x = new Tensor(
      [3, 8],
      'f64',
      Float64Array.from({ length: 24 }, (_, i) => Math.sin(i)),
    );
    const r = rot(8, {}, 'right', false);
    const got = nativeBackend.rotate(x, r);
    assert.equal(got.dtype, 'f64');
    assert.deepEqual(got.data, referenceBackend.rotate(x, r).data);
  });

  nativeTest('bad plans and shapes throw the reference error codes', () => {
    const x = randomF32([4, 16], 1);
    assert.throws(
      () => nativeBackend.rotate(x, rot(32, {}, 'right', false)),
      (e) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
    assert.throws(
      () => nativeBackend.rotate(x, rot(16, {}, 'left', false)),
      (e) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
    const bad = { ...planHadamard(16), pow2: 8 };
    assert.throws(
      () => nativeBackend.rotate(x, { plan: bad, side: 'right', transpose: false }),
      (e) => e instanceof HaloError && e.code === 'E_ARG',
    );
  });
});
