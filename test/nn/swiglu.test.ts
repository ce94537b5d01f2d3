// SwiGLU: forward against silu written as g·eᵍ/(1+eᵍ), backward against finite differences, and finite
// results for saturated gates.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.ts';
import { swigluBackward, swigluForward } from '../../src/nn/ops/swiglu.ts';
import { assertClose, dot, finiteDiff, randn } from './gradcheck.ts';

const N = 5 * 7;

describe('swiglu', () => {
  test('forward is silu(gate)·up (f64 1e-15, f32 1e-6)', () => {
    const rng = new Rng(20);
    const gate = randn(rng, N, 3);
    const up = randn(rng, N);
    const want = gate.map((g, i) => ((g * Math.exp(g)) / (1 + Math.exp(g))) * up[i]);
    assertClose(swigluForward(gate, up), want, 1e-15, 'h');
    const h32 = swigluForward(Float32Array.from(gate), Float32Array.from(up));
    assert.ok(h32 instanceof Float32Array);
    assertClose(h32, want, 1e-6, 'h f32');
  });

  test('backward dgate, dup match finite differences (f64, tol 1e-6); written, also in place over dh', () => {
    const rng = new Rng(21);
    const gate = randn(rng, N, 3);
    const up = randn(rng, N);
    const r = randn(rng, N);
    const loss = (): number => dot(r, swigluForward(gate, up));
    const fdg = finiteDiff(gate, loss);
    const fdu = finiteDiff(up, loss);
    const { dgate, dup } = swigluBackward(r, gate, up, { dgate: new Float64Array(N).fill(5) });
    assertClose(dgate, fdg, 1e-6, 'dgate');
    assertClose(dup, fdu, 1e-6, 'dup');
    const inPlace = Float64Array.from(r);
    swigluBackward(inPlace, gate, up, { dgate: inPlace });
    assertClose(inPlace, dgate, 0, 'dgate written over dh');
  });

  test('saturated gates (±1000) stay finite: silu → 0 or g, gradients → 0 or up', () => {
    const gate = Float32Array.of(-1000, 1000, 0);
    const up = Float32Array.of(2, 3, 4);
    const h = swigluForward(gate, up);
    assert.deepEqual(
      Array.from(h, (x) => x + 0),
      [0, 3000, 0],
    );
    const { dgate, dup } = swigluBackward(Float32Array.of(1, 1, 1), gate, up);
    assert.deepEqual(
      Array.from(dgate, (x) => x + 0),
      [0, 3, 2],
    ); // at g = 0: σ = ½, so dgate = up·½
    assert.deepEqual(
      Array.from(dup, (x) => x + 0),
      [0, 1000, 0],
    );
  });
});
