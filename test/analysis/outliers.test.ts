// Outlier profiles (paper Fig. 1/6): the max-|value| profiles against a direct computation, the ratio, the
// injection, and the known ordering on injected outliers: the left Hadamard flattens token-row outliers, the
// right one flattens channel outliers, and neither flattens the other kind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend as be } from '../../src/backend/reference/index.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { planHadamard } from '../../src/hadamard/index.ts';
import { hasOutliers, injectOutliers, profile, profileViews, ratio } from '../../src/analysis/outliers.ts';

function rand(rows: number, cols: number, seed: number): Tensor<'f32'> {
  return new Tensor([rows, cols], 'f32', Float32Array.from(new Rng(seed).fillNormal(new Float64Array(rows * cols))));
}

const frob = (t: { data: ArrayLike<number> }) => Math.sqrt(Array.from(t.data).reduce((s, v) => s + v * v, 0));

describe('outlier profiles', () => {
  test('per-token and per-channel maxima match a direct computation; the ratio is largest ÷ median', () => {
    const m = new Tensor([3, 2], 'f32', Float32Array.from([1, -4, 2, 0.5, -3, 1]));
    const p = profile(m);
    assert.deepEqual(Array.from(p.perToken), [4, 2, 3]);
    assert.deepEqual(Array.from(p.perChannel), [3, 4]);
    assert.equal(p.absmax, 4);
    assert.equal(p.tokenRatio, 4 / 3);
    assert.equal(ratio(Float32Array.from([0, 0, 1, 2, 10])), 10 / 2); // zero (padding) rows are not data
    assert.ok(p.int8RelError > 0 && p.int8RelError < 0.02, `${p.int8RelError}`);
  });

  test('injection scales exactly the chosen columns / rows, seeded', () => {
    const m = rand(16, 8, 2);
    const a = injectOutliers(m, 'channel', 10, 2, 7);
    const b = injectOutliers(m, 'channel', 10, 2, 7);
    assert.deepEqual(a.indices, b.indices);
    assert.equal(a.indices.length, 2);
    for (let r = 0; r < 16; r++) {
      for (let c = 0; c < 8; c++) {
        const k = a.indices.includes(c) ? 10 : 1;
        assert.equal(a.m.data[r * 8 + c], Math.fround(m.data[r * 8 + c] * k));
      }
    }
    const t = injectOutliers(m, 'token', 5, 3, 7);
    assert.equal(t.indices.length, 3);
    for (const r of t.indices) assert.equal(t.m.data[r * 8], Math.fround(m.data[r * 8] * 5));
  });

  test('known ordering on injected outliers: left-H flattens token rows, right-H flattens channels', () => {
    const ey = injectOutliers(rand(128, 64, 3), 'token', 50, 3, 1).m;
    const x = injectOutliers(rand(128, 96, 4), 'channel', 50, 3, 2).m;
    const e = profileViews(be, ey);
    const xv = profileViews(be, x);
    assert.ok(hasOutliers(e.raw, 'token', 4) && hasOutliers(xv.raw, 'channel', 4));
    assert.ok(e.leftH.tokenRatio < 2, `E_Y left-H token ratio ${e.leftH.tokenRatio}`);
    assert.ok(e.rightH.tokenRatio > 10, `E_Y right-H keeps the row outliers: ${e.rightH.tokenRatio}`);
    assert.ok(xv.rightH.channelRatio < 2, `X right-H channel ratio ${xv.rightH.channelRatio}`);
    assert.ok(xv.leftH.channelRatio > 10, `X left-H keeps the channel outliers: ${xv.leftH.channelRatio}`);
    // And the quantity that matters for INT8: the matching rotation cuts the per-tensor quantization error.
    assert.ok(e.leftH.int8RelError < 0.5 * e.raw.int8RelError);
    assert.ok(xv.rightH.int8RelError < 0.5 * xv.raw.int8RelError);
    // Orthonormal rotations keep ‖M‖_F (right over 96 = 12·8 channels; left over 128 tokens).
    const n0 = frob(x);
    const r = be.rotate(x, { plan: planHadamard(96, { block: 'auto' }), side: 'right', transpose: false });
    const l = be.rotate(x, { plan: planHadamard(128, { block: 'full' }), side: 'left', transpose: false });
    assert.ok(Math.abs(frob(r) - n0) / n0 < 1e-5 && Math.abs(frob(l) - n0) / n0 < 1e-5);
  });
});
