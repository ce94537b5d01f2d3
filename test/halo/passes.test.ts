// cfg.passes (the analysis-only "quantize one pass" settings of the paper's Figure 2) against independent
// references: the quantized pass must equal the same level/format with both passes quantized (and its
// fake-quant twin), and the other pass must equal plain f64 matmuls on the unquantized operands.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend as be } from '../../src/backend/reference/index.ts';
import type { FloatTensor } from '../../src/backend/backend.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { HaloError } from '../../src/core/errors.ts';
import { describeConfig, haloConfig, type Format, type Level, type Passes } from '../../src/halo/config.ts';
import { linearBackward, linearForward, prepareWeight } from '../../src/halo/linear.ts';
import { relFrobenius } from '../../src/bench/outliers.ts';

function rand(shape: number[], seed: number): FloatTensor {
  return new Tensor(shape, 'f32', Float32Array.from(new Rng(seed).fillNormal(new Float64Array(shape[0] * shape[1]))));
}

function f64(t: FloatTensor): Tensor<'f64'> {
  return new Tensor(t.shape, 'f64', Float64Array.from(t.data));
}

function run(level: Level, format: Format, passes: Passes, x: FloatTensor, w: FloatTensor, ey: FloatTensor, emulate = false) {
  const cfg = haloConfig({ level, format, passes, emulate });
  const { y, saved } = linearForward(be, cfg, x, prepareWeight(be, cfg, w));
  const { dx, dw } = linearBackward(be, cfg, saved, ey);
  return { y: y.data, ex: dx!.data, g: dw!.data };
}

const x = rand([37, 96], 1);
const w = rand([40, 96], 2);
const ey = rand([37, 40], 3);
const exact = {
  y: be.matmulT(f64(x), f64(w)).data,
  ex: be.matmulT(f64(ey), be.transpose(f64(w))).data,
  g: be.matmulT(be.transpose(f64(ey)), be.transpose(f64(x))).data,
};

describe('passes: quantize only the forward or only the backward', () => {
  for (const level of ['halo0', 'halo1', 'halo2'] as const) {
    for (const format of ['int8', 'fp8', 'fp6'] as const) {
      test(`${level} ${format} forward only: Y as both-quantized, E_X and G exact`, () => {
        const both = run(level, format, 'both', x, w, ey);
        const fwd = run(level, format, 'forward', x, w, ey);
        assert.deepEqual(fwd.y, both.y);
        assert.ok(relFrobenius(fwd.y, exact.y) > 1e-3, 'the forward really is quantized');
        assert.ok(relFrobenius(fwd.ex, exact.ex) < 1e-5, `E_X ${relFrobenius(fwd.ex, exact.ex)}`);
        assert.ok(relFrobenius(fwd.g, exact.g) < 1e-5, `G ${relFrobenius(fwd.g, exact.g)}`);
      });
      test(`${level} ${format} backward only: Y exact, E_X and G as both-quantized and as fake-quant`, () => {
        const both = run(level, format, 'both', x, w, ey);
        const bwd = run(level, format, 'backward', x, w, ey);
        const sim = run(level, format, 'backward', x, w, ey, true);
        assert.ok(relFrobenius(bwd.y, exact.y) < 1e-5, `Y ${relFrobenius(bwd.y, exact.y)}`);
        for (const k of ['ex', 'g'] as const) {
          assert.ok(relFrobenius(bwd[k], both[k]) < 1e-5, `${k} vs both ${relFrobenius(bwd[k], both[k])}`);
          assert.ok(relFrobenius(bwd[k], sim[k]) < 1e-5, `${k} vs fake-quant ${relFrobenius(bwd[k], sim[k])}`);
          assert.ok(relFrobenius(bwd[k], exact[k]) > 1e-3, `${k} really is quantized`);
        }
      });
    }
  }

  test('the right Hadamard makes forward-only INT8 more faithful on channel outliers', () => {
    const xo = rand([64, 96], 4);
    for (const c of [5, 50]) for (let t = 0; t < 64; t++) xo.data[t * 96 + c] *= 100;
    const eyo = rand([64, 40], 5);
    const g = be.matmulT(be.transpose(f64(eyo)), be.transpose(f64(xo))).data;
    const y0 = run('halo0', 'int8', 'forward', xo, w, eyo).y;
    const y1 = run('halo1', 'int8', 'forward', xo, w, eyo).y;
    const yRef = be.matmulT(f64(xo), f64(w)).data;
    assert.ok(relFrobenius(y1, yRef) < 0.5 * relFrobenius(y0, yRef), `${relFrobenius(y1, yRef)} vs ${relFrobenius(y0, yRef)}`);
    // G of a forward-only setting sees float X and the given E_Y: exact whatever the forward did.
    assert.ok(relFrobenius(run('halo0', 'int8', 'forward', xo, w, eyo).g, g) < 1e-5);
  });

  test('describeConfig names the pass; an unknown value is a HaloError', () => {
    assert.equal(describeConfig(haloConfig({ level: 'halo1', format: 'int8', passes: 'forward' })), 'HALO1 INT8, forward only');
    assert.equal(describeConfig(haloConfig({ level: 'halo1', format: 'int8' })), 'HALO1 INT8');
    assert.throws(
      () => haloConfig({ passes: 'sideways' as Passes }),
      (e) => e instanceof HaloError && /unknown passes 'sideways'/.test(e.message),
    );
  });
});
