// The HALO linear layer against independent references: plain f64 matmuls (quantization off), finite
// differences (backward), its own fake-quant twin (quantized GEMMs), and the outlier behaviour of spec §5.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend as be } from '../../src/backend/reference/index.ts';
import { nativeAvailable, nativeBackend } from '../../src/backend/native/index.ts';
import type { Backend, FloatTensor } from '../../src/backend/backend.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { haloConfig, LEVELS, type Format, type Level } from '../../src/halo/config.ts';
import {
  canSumRotatedInputGrads,
  finishInputGrad,
  linearBackward,
  linearForward,
  prepareInput,
  prepareWeight,
  preparedWeightBytes,
  savedActivationBytes,
} from '../../src/halo/linear.ts';
import { quantize } from '../../src/quant/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { relFrobenius } from '../../src/bench/outliers.ts';
import { runLinearBench } from '../../src/bench/linear.ts';

function rand(shape: number[], seed: number, dtype: 'f32' | 'f64' = 'f32'): FloatTensor {
  const n = shape[0] * shape[1];
  const data = new Rng(seed).fillNormal(new Float64Array(n));
  return dtype === 'f64' ? new Tensor(shape, 'f64', data) : new Tensor(shape, 'f32', Float32Array.from(data));
}

function f64(t: FloatTensor): Tensor<'f64'> {
  return new Tensor(t.shape, 'f64', Float64Array.from(t.data));
}

/** Y = X Wᵀ, E_X = E_Y W, G = E_Yᵀ X in f64, from the plain reference matmul. */
function exact(x: FloatTensor, w: FloatTensor, ey: FloatTensor) {
  const [X, W, E] = [f64(x), f64(w), f64(ey)];
  return {
    y: be.matmulT(X, W).data,
    ex: be.matmulT(E, be.transpose(W)).data,
    g: be.matmulT(be.transpose(E), be.transpose(X)).data,
  };
}

function run(level: Level, format: Format, x: FloatTensor, w: FloatTensor, ey: FloatTensor, extra: object = {}) {
  const cfg = haloConfig({ level, format, ...extra });
  const { y, saved } = linearForward(be, cfg, x, prepareWeight(be, cfg, w));
  const { dx, dw } = linearBackward(be, cfg, saved, ey);
  return { y: y.data, ex: dx!.data, g: dw!.data, saved };
}

// Shapes chosen to hit every Hadamard path: in = 96 = 12·8 (Paley K=12), 64 (pow2), 304 = 19·16 (no
// Hadamard of order 304 → block-diagonal); tokens 20 (K=20), 37 (unsupported → padded to 40 for HALO-2).
const SHAPES = [
  { tokens: 20, inF: 96, outF: 40 },
  { tokens: 37, inF: 64, outF: 24 },
  { tokens: 16, inF: 304, outF: 8 },
];

describe('HALO linear with quantization off reproduces the three matmuls', () => {
  for (const s of SHAPES) {
    for (const level of LEVELS) {
      test(`${level} fp32, tokens ${s.tokens}, ${s.outF}×${s.inF}`, () => {
        const x = rand([s.tokens, s.inF], 1);
        const w = rand([s.outF, s.inF], 2);
        const ey = rand([s.tokens, s.outF], 3);
        const ref = exact(x, w, ey);
        const got = run(level, 'fp32', x, w, ey);
        assert.ok(relFrobenius(got.y, ref.y) <= 1e-5, `Y rel err ${relFrobenius(got.y, ref.y)}`);
        assert.ok(relFrobenius(got.ex, ref.ex) <= 1e-5, `E_X rel err ${relFrobenius(got.ex, ref.ex)}`);
        assert.ok(relFrobenius(got.g, ref.g) <= 1e-5, `G rel err ${relFrobenius(got.g, ref.g)}`);
      });
    }
  }
  test('in f64 the rotations cancel to 1e-12', () => {
    const x = rand([37, 96], 4, 'f64');
    const w = rand([40, 96], 5, 'f64');
    const ey = rand([37, 40], 6, 'f64');
    const ref = exact(x, w, ey);
    const got = run('halo2', 'fp32', x, w, ey);
    for (const k of ['y', 'ex', 'g'] as const) assert.ok(relFrobenius(got[k], ref[k]) < 1e-12, `${k}: ${relFrobenius(got[k], ref[k])}`);
  });
});

describe('HALO linear backward matches finite differences (f64)', () => {
  for (const level of ['none', 'halo1', 'halo2'] as const) {
    test(`${level}: dL/dX and dL/dW of L = Σ R ⊙ Y`, () => {
      const [b, inF, outF] = [6, 12, 5];
      const x = rand([b, inF], 7, 'f64');
      const w = rand([outF, inF], 8, 'f64');
      const r = rand([b, outF], 9, 'f64'); // L = Σ R⊙Y, so E_Y = R
      const cfg = haloConfig({ level, format: 'fp32' });
      const loss = (xx: FloatTensor, ww: FloatTensor) => {
        const y = linearForward(be, cfg, xx, prepareWeight(be, cfg, ww)).y.data;
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i] * r.data[i];
        return s;
      };
      const { saved } = linearForward(be, cfg, x, prepareWeight(be, cfg, w));
      const { dx, dw } = linearBackward(be, cfg, saved, r);
      const h = 1e-5;
      for (const [t, grad] of [
        [x, dx!],
        [w, dw!],
      ] as const) {
        for (let i = 0; i < t.data.length; i++) {
          const old = t.data[i];
          t.data[i] = old + h;
          const lp = loss(x, w);
          t.data[i] = old - h;
          const lm = loss(x, w);
          t.data[i] = old;
          const fd = (lp - lm) / (2 * h);
          assert.ok(Math.abs(fd - grad.data[i]) <= 1e-7 * (1 + Math.abs(fd)), `index ${i}: fd ${fd} vs ${grad.data[i]}`);
        }
      }
    });
  }
});

describe('quantized GEMMs equal their fake-quant twin', () => {
  for (const format of ['int8', 'fp8', 'fp8e5m2', 'fp6', 'bf16'] as const) {
    for (const level of ['halo0', 'halo1', 'halo2', 'ideal'] as const) {
      for (const granularity of ['tensor', 'row'] as const) {
        test(`${level} ${format} ${granularity}`, () => {
          const x = rand([20, 96], 10);
          const w = rand([40, 96], 11);
          const ey = rand([20, 40], 12);
          const real = run(level, format, x, w, ey, { granularity });
          const sim = run(level, format, x, w, ey, { granularity, emulate: true });
          for (const k of ['y', 'ex', 'g'] as const) {
            const e = relFrobenius(real[k], sim[k]);
            assert.ok(e <= 2e-6, `${k}: real vs emulated rel diff ${e}`);
          }
        });
      }
    }
  }
});

describe('linears sharing one input sum their input gradients before the undo rotations', () => {
  test('finishInputGrad(rotatedDx) is the dx linearBackward returns, bit for bit; the rotated sum is within f32 rounding of the sum of dx', () => {
    for (const { tokens, inF, outF } of SHAPES) {
      for (const level of ['halo1', 'halo2'] as const) {
        const cfg = haloConfig({ level, format: 'int8' });
        assert.ok(canSumRotatedInputGrads(cfg));
        const x = rand([tokens, inF], 1);
        const ws = [rand([outF, inF], 2), rand([outF + 8, inF], 3)];
        const eys = [rand([tokens, outF], 4), rand([tokens, outF + 8], 5)];
        const shared = prepareInput(be, cfg, x, prepareWeight(be, cfg, ws[0]!));
        const saved = ws.map((w) => linearForward(be, cfg, shared, prepareWeight(be, cfg, w)).saved);
        const plain = saved.map((sv, i) => linearBackward(be, cfg, sv, eys[i]!).dx!.data);
        const rotated = saved.map((sv, i) => linearBackward(be, cfg, sv, eys[i]!, { dx: true, dw: false, rotatedDx: true }).dx!);
        const what = `${level} ${tokens}×${inF}`;
        assert.deepEqual(finishInputGrad(be, cfg, saved[0]!, rotated[0]!).data, plain[0], what);
        const sum = new Float32Array(rotated[0]!.data.length);
        for (const r of rotated) for (let i = 0; i < sum.length; i++) sum[i] += r.data[i]!;
        const got = finishInputGrad(be, cfg, saved[0]!, new Tensor(rotated[0]!.shape, 'f32', sum)).data;
        const want = plain[0]!.map((v, i) => v + plain[1]![i]!);
        assert.ok(
          relFrobenius(Float64Array.from(got), Float64Array.from(want)) < 1e-6,
          `${what}: ${relFrobenius(Float64Array.from(got), Float64Array.from(want))}`,
        );
      }
    }
  });

  test('only where the backward rotates and does not re-quantize E_X', () => {
    assert.equal(canSumRotatedInputGrads(haloConfig({ level: 'none', format: 'fp32' })), false);
    assert.equal(canSumRotatedInputGrads(haloConfig({ level: 'halo0', format: 'int8' })), false);
    assert.equal(canSumRotatedInputGrads(haloConfig({ level: 'jetfire', format: 'int8' })), false);
    assert.equal(canSumRotatedInputGrads(haloConfig({ level: 'halo2', format: 'fp8' })), true);
    const cfg = haloConfig({ level: 'jetfire', format: 'int8' });
    const { saved } = linearForward(be, cfg, rand([32, 64], 1), prepareWeight(be, cfg, rand([32, 64], 2)));
    assert.throws(() => linearBackward(be, cfg, saved, rand([32, 32], 3), { dx: true, dw: false, rotatedDx: true }), /re-quantizes E_X/);
  });
});

describe('what the forward saves', () => {
  test('HALO levels save 8-bit activations + one scale, never the float X', () => {
    const x = rand([32, 64], 13);
    const w = rand([16, 64], 14);
    for (const level of ['halo0', 'halo1', 'halo2'] as const) {
      const { saved } = run(level, 'int8', x, w, rand([32, 16], 15));
      assert.equal(saved.x.kind, 'quant');
      assert.equal(savedActivationBytes(saved), 32 * 64 + 4);
    }
    const full = run('none', 'fp32', x, w, rand([32, 16], 15));
    assert.equal(savedActivationBytes(full.saved), 32 * 64 * 4);
  });
});

describe('errors name the problem', () => {
  test('input features must match the weight', () => {
    const cfg = haloConfig({ level: 'halo2', format: 'int8' });
    const pw = prepareWeight(be, cfg, rand([8, 64], 1));
    assert.throws(
      () => linearForward(be, cfg, rand([4, 32], 2), pw),
      (e: unknown) => e instanceof HaloError && e.code === 'E_SHAPE' && /32 features.*64/.test(e.message),
    );
  });
  test('output gradient must match the forward', () => {
    const cfg = haloConfig({ level: 'halo1', format: 'int8' });
    const { saved } = linearForward(be, cfg, rand([4, 64], 2), prepareWeight(be, cfg, rand([8, 64], 1)));
    assert.throws(
      () => linearBackward(be, cfg, saved, rand([4, 9], 3)),
      (e: unknown) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
  });
  test('unknown level and format', () => {
    assert.throws(() => haloConfig({ level: 'halo3' as Level }), /unknown HALO level 'halo3'/);
    assert.throws(() => haloConfig({ format: 'int4' as Format }), /unknown format 'int4'/);
  });
});

describe('outliers: the rotations do what spec §5 says', () => {
  test('INT8: right H fixes X channel outliers (Y), only the left H fixes E_Y token outliers (E_X)', () => {
    const rows = runLinearBench(be, {
      inFeatures: 256,
      outFeatures: 256,
      tokens: 128,
      levels: ['halo0', 'halo1', 'halo2'],
      formats: ['int8'],
      reps: 1,
      seed: 1234,
    });
    const [h0, h1, h2] = rows;
    assert.ok(h2.relErrEX <= 0.5 * h0.relErrEX, `E_X: HALO-2 ${h2.relErrEX} vs HALO-0 ${h0.relErrEX}`);
    assert.ok(h1.relErrEX > 0.5 * h0.relErrEX, `HALO-1 alone should not fix token outliers: ${h1.relErrEX} vs ${h0.relErrEX}`);
    assert.ok(h1.relErrY <= 0.5 * h0.relErrY && h2.relErrY <= 0.5 * h0.relErrY, `Y: ${h0.relErrY} ${h1.relErrY} ${h2.relErrY}`);
  });
});

describe('one layout of every operand: the GEMMs read transposes in place', () => {
  /** The reference backend, counting transposed copies (be.transpose and quantizations with transposeOut). */
  function counting(): { be: Backend; copies: string[] } {
    const copies: string[] = [];
    const spy: Backend = {
      ...be,
      transpose(a) {
        copies.push(`transpose ${a.shape.join('x')}`);
        return be.transpose(a);
      },
      rotateQuantize(x, rot, format, granularity, opts) {
        if (opts?.transposeOut) copies.push(`transposeOut ${x.shape.join('x')}`);
        return be.rotateQuantize(x, rot, format, granularity, opts);
      },
    };
    return { be: spy, copies };
  }

  test('one scale per tensor: no transposed copy anywhere; the weight is its [out, in] codes once', () => {
    for (const level of ['none', 'halo0', 'halo1', 'halo2'] as const) {
      for (const format of level === 'none' ? (['fp32'] as const) : (['int8', 'fp8', 'bf16'] as const)) {
        const c = counting();
        const cfg = haloConfig({ level, format });
        const pw = prepareWeight(c.be, cfg, rand([40, 96], 1));
        assert.deepEqual(Object.keys(pw).sort(), ['backPlan', 'inFeatures', 'outFeatures', 'plan', 'w']);
        const { saved } = linearForward(c.be, cfg, rand([20, 96], 2), pw);
        linearBackward(c.be, cfg, saved, rand([20, 40], 3));
        assert.deepEqual(c.copies, [], `${level} ${format}`);
      }
    }
    const int8 = prepareWeight(be, haloConfig({ level: 'halo2', format: 'int8' }), rand([40, 96], 1));
    assert.equal(preparedWeightBytes(int8), 40 * 96 + 4, 'one byte per weight and one scale');
    assert.equal(preparedWeightBytes(prepareWeight(be, haloConfig({ level: 'none', format: 'fp32' }), rand([40, 96], 1))), 40 * 96 * 4);
  });

  test('per-row scales: only E_Yᵀ is quantized transposed (per output channel, as before); W and X are never copied', () => {
    for (const granularity of ['row', 'block32'] as const) {
      const c = counting();
      const cfg = haloConfig({ level: 'halo2', format: 'int8', granularity });
      const { saved } = linearForward(c.be, cfg, rand([20, 96], 2), prepareWeight(c.be, cfg, rand([40, 96], 1)));
      linearBackward(c.be, cfg, saved, rand([20, 40], 3));
      assert.deepEqual(c.copies, ['transposeOut 20x40'], granularity);
    }
  });

  test('per-row scales keep their meaning: G = deq((E_Yᵀ)_Q, per output channel)·deq(X_Q, per token), bit for bit', () => {
    const x = rand([20, 96], 4);
    const w = rand([40, 96], 5);
    const ey = rand([20, 40], 6);
    for (const [format, qf] of [
      ['int8', 'int8'],
      ['fp8', 'fp8e4m3'],
    ] as const) {
      for (const granularity of ['row', 'block32'] as const) {
        const got = run('halo0', format, x, w, ey, { granularity });
        const eyT = be.dequantize(quantize(be.transpose(ey), qf, granularity), 'f32');
        const xq = be.dequantize(quantize(x, qf, granularity), 'f32');
        assert.deepEqual(got.g, be.matmulT(eyT, be.transpose(xq)).data, `${format} ${granularity}`);
      }
    }
  });

  test('cfg.passes: the backward multiplies with its own weight operand (wBack), one layout too', () => {
    const cfg = haloConfig({ level: 'halo2', format: 'int8', passes: 'forward' });
    const pw = prepareWeight(be, cfg, rand([40, 96], 1));
    assert.equal(pw.w.kind, 'quant');
    assert.equal(pw.wBack?.kind, 'float');
    assert.equal(preparedWeightBytes(pw), 40 * 96 + 4 + 40 * 96 * 4);
  });

  test('native = reference bit for bit for INT8 per-tensor (exact integer GEMMs in every layout)', {
    skip: nativeAvailable().ok ? false : 'native addon not built',
  }, () => {
    const x = rand([37, 96], 7);
    const w = rand([40, 96], 8);
    const ey = rand([37, 40], 9);
    for (const level of ['halo0', 'halo1', 'halo2'] as const) {
      const cfg = haloConfig({ level, format: 'int8' });
      const go = (b: Backend) => {
        const { y, saved } = linearForward(b, cfg, x, prepareWeight(b, cfg, w));
        const { dx, dw } = linearBackward(b, cfg, saved, ey);
        return [y.data, dx!.data, dw!.data];
      };
      assert.deepEqual(go(nativeBackend), go(be), level);
    }
  });
});
