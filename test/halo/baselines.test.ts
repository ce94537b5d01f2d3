// The two baselines of HALO's reference code (spec §10) as linear-layer recipes: SwitchBack (row-scaled X and
// E_Y, per-tensor W, BF16 weight gradient) and Jetfire (32×32-tile scales on X, W, E_Y; Y and E_X
// re-quantized; G from the tile-quantized operands in high precision). Checked against an oracle written
// from the reference code's description with the plain quantizers and an f64 matmul, against plain matmuls
// and finite differences with quantization off, against their fake-quant twin, native against reference,
// and on the outlier inputs of `halo bench linear`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend as be } from '../../src/backend/reference/index.ts';
import { nativeAvailable, nativeBackend } from '../../src/backend/native/index.ts';
import type { Backend, FloatTensor } from '../../src/backend/backend.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { hqFormat } from '../../src/dist/hq-quant.ts';
import { BASELINES, describeConfig, haloConfig, operandFormat, type Format, type Level } from '../../src/halo/config.ts';
import { linearBackward, linearForward, prepareWeight, preparedWeightBytes, savedActivationBytes } from '../../src/halo/linear.ts';
import { dequantize, quantize, type Granularity, type QuantFormat } from '../../src/quant/index.ts';
import { relFrobenius } from '../../src/bench/outliers.ts';
import { runLinearBench } from '../../src/bench/linear.ts';

function rand(shape: number[], seed: number, dtype: 'f32' | 'f64' = 'f32'): FloatTensor {
  const data = new Rng(seed).fillNormal(new Float64Array(shape[0]! * shape[1]!));
  return dtype === 'f64' ? new Tensor(shape, 'f64', data) : new Tensor(shape, 'f32', Float32Array.from(data));
}

/** a [M, K] · b [K, N] in f64, written out here (the oracle's GEMM). */
function mm(a: Float64Array, b: Float64Array, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      const v = a[i * K + k]!;
      for (let j = 0; j < N; j++) out[i * N + j] += v * b[k * N + j]!;
    }
  return out;
}

function tr(a: Float64Array, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j]!;
  return out;
}

/** dequantize(quantize(x)) in f64, from the plain quantizers of src/quant. */
function fq(x: Float64Array, r: number, c: number, f: QuantFormat, g: Granularity): Float64Array {
  return dequantize(quantize(new Tensor([r, c], 'f64', x), f, g), 'f64').data;
}

/** The baselines as the reference code computes them (switchback.py, jetfire_sim.py), in f64. */
function oracle(level: 'switchback' | 'jetfire', f: QuantFormat, x: FloatTensor, w: FloatTensor, ey: FloatTensor) {
  const [b, inF] = x.dims2();
  const outF = w.shape[0]!;
  const [X, W, E] = [Float64Array.from(x.data), Float64Array.from(w.data), Float64Array.from(ey.data)];
  if (level === 'switchback') {
    const xq = fq(X, b, inF, f, 'row');
    const wq = fq(W, outF, inF, f, 'tensor');
    const eq = fq(E, b, outF, f, 'row');
    const xb = fq(X, b, inF, 'bf16', 'tensor');
    const eb = fq(E, b, outF, 'bf16', 'tensor');
    return { y: mm(xq, tr(wq, outF, inF), b, inF, outF), ex: mm(eq, wq, b, outF, inF), g: mm(tr(eb, b, outF), xb, outF, b, inF) };
  }
  const xq = fq(X, b, inF, f, 'tile32');
  const wq = fq(W, outF, inF, f, 'tile32');
  const eq = fq(E, b, outF, f, 'tile32');
  return {
    y: fq(mm(xq, tr(wq, outF, inF), b, inF, outF), b, outF, f, 'tile32'),
    ex: fq(mm(eq, wq, b, outF, inF), b, inF, f, 'tile32'),
    g: mm(tr(eq, b, outF), xq, outF, b, inF),
  };
}

function run(b: Backend, level: Level, format: Format, x: FloatTensor, w: FloatTensor, ey: FloatTensor, extra: object = {}) {
  const cfg = haloConfig({ level, format, ...extra });
  const pw = prepareWeight(b, cfg, w);
  const { y, saved } = linearForward(b, cfg, x, pw);
  const { dx, dw } = linearBackward(b, cfg, saved, ey);
  return { y: y.data, ex: dx!.data, g: dw!.data, saved, pw };
}

const FORMATS: [Format, QuantFormat][] = [
  ['int8', 'int8'],
  ['fp8', 'fp8e4m3'],
  ['fp8e5m2', 'fp8e5m2'],
  ['fp6', 'fp6e3m2'],
];

describe('the baselines against their reference-code oracle', () => {
  // 45 tokens and 70 inputs: partial 32×32 tiles on both edges of every operand.
  const x = rand([45, 70], 1);
  const w = rand([40, 70], 2);
  const ey = rand([45, 40], 3);
  for (const level of BASELINES) {
    for (const [format, qf] of FORMATS) {
      test(`${level} ${format}`, () => {
        const got = run(be, level, format, x, w, ey);
        const want = oracle(level, qf, x, w, ey);
        // Unquantized outputs differ from the f64 oracle only by f32 rounding; Jetfire's re-quantized Y and E_X
        // may also move an element whose f32 and f64 values straddle a code boundary by one code.
        const tol = (k: 'y' | 'ex' | 'g') => (level === 'jetfire' && k !== 'g' ? 1e-3 : 2e-6);
        for (const k of ['y', 'ex', 'g'] as const) {
          const e = relFrobenius(got[k], want[k]);
          assert.ok(e <= tol(k), `${k}: rel diff ${e} from the oracle`);
        }
      });
    }
  }
});

describe('with quantization off the baselines are the three matmuls', () => {
  test('fp32 in f64: Y, E_X, G to 1e-12, nothing re-quantized', () => {
    const x = rand([37, 96], 4, 'f64');
    const w = rand([40, 96], 5, 'f64');
    const ey = rand([37, 40], 6, 'f64');
    const [X, W, E] = [x.data as Float64Array, w.data as Float64Array, ey.data as Float64Array];
    const ref = { y: mm(X, tr(W, 40, 96), 37, 96, 40), ex: mm(E, W, 37, 40, 96), g: mm(tr(E, 37, 40), X, 40, 37, 96) };
    for (const level of BASELINES) {
      const got = run(be, level, 'fp32', x, w, ey);
      for (const k of ['y', 'ex', 'g'] as const) assert.ok(relFrobenius(got[k], ref[k]) < 1e-12, `${level} ${k}: ${relFrobenius(got[k], ref[k])}`);
    }
  });

  for (const level of BASELINES) {
    test(`${level}: dL/dX and dL/dW of L = Σ R ⊙ Y match finite differences (f64)`, () => {
      const [b, inF, outF] = [6, 12, 5];
      const x = rand([b, inF], 7, 'f64');
      const w = rand([outF, inF], 8, 'f64');
      const r = rand([b, outF], 9, 'f64');
      const cfg = haloConfig({ level, format: 'fp32' });
      const loss = () => {
        const y = linearForward(be, cfg, x, prepareWeight(be, cfg, w)).y.data;
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i]! * r.data[i]!;
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
          const old = t.data[i]!;
          t.data[i] = old + h;
          const lp = loss();
          t.data[i] = old - h;
          const lm = loss();
          t.data[i] = old;
          const fd = (lp - lm) / (2 * h);
          assert.ok(Math.abs(fd - grad.data[i]!) <= 1e-7 * (1 + Math.abs(fd)), `index ${i}: fd ${fd} vs ${grad.data[i]}`);
        }
      }
    });
  }
});

describe('the baselines equal their fake-quant twin', () => {
  for (const level of BASELINES) {
    for (const format of ['int8', 'fp8', 'fp8e5m2', 'fp6', 'bf16'] as const) {
      test(`${level} ${format}`, () => {
        const x = rand([45, 96], 10);
        const w = rand([40, 96], 11);
        const ey = rand([45, 40], 12);
        const real = run(be, level, format, x, w, ey);
        const sim = run(be, level, format, x, w, ey, { emulate: true });
        for (const k of ['y', 'ex', 'g'] as const) {
          const e = relFrobenius(real[k], sim[k]);
          assert.ok(e <= 2e-6, `${k}: real vs emulated rel diff ${e}`);
        }
      });
    }
  }

  test('tile32 is a granularity of the HALO levels too, with the same twin', () => {
    const x = rand([40, 96], 13);
    const w = rand([40, 96], 14);
    const ey = rand([40, 40], 15);
    for (const level of ['halo0', 'halo1', 'halo2'] as const) {
      const real = run(be, level, 'int8', x, w, ey, { granularity: 'tile32' });
      const sim = run(be, level, 'int8', x, w, ey, { granularity: 'tile32', emulate: true });
      for (const k of ['y', 'ex', 'g'] as const) assert.ok(relFrobenius(real[k], sim[k]) <= 2e-6, `${level} ${k}`);
    }
  });
});

describe('the GEMMs each recipe runs', () => {
  /** The reference backend, recording every GEMM's operand dtypes and every quantization's format/granularity. */
  function recording(): { be: Backend; gemms: string[]; quants: string[]; copies: number } {
    const rec = { be: undefined as unknown as Backend, gemms: [] as string[], quants: [] as string[], copies: 0 };
    rec.be = {
      ...be,
      matmul(a, b, opts) {
        rec.gemms.push(`${a.dtype}·${b.dtype}`);
        return be.matmul(a, b, opts);
      },
      transpose(a) {
        rec.copies++;
        return be.transpose(a);
      },
      rotateQuantize(x, rot, format, granularity, opts) {
        if (opts?.transposeOut) rec.copies++;
        rec.quants.push(`${format}/${granularity}`);
        return be.rotateQuantize(x, rot, format, granularity, opts);
      },
    };
    return rec;
  }

  test('SwitchBack: int8 GEMMs forward and for E_X (row scales factor out), a bf16 GEMM for G; X saved as bf16', () => {
    const r = recording();
    const out = run(r.be, 'switchback', 'int8', rand([20, 96], 1), rand([40, 96], 2), rand([20, 40], 3));
    assert.deepEqual(r.gemms, ['i8·i8', 'i8·i8', 'bf16·bf16']);
    assert.deepEqual(r.quants, ['int8/tensor', 'int8/row', 'bf16/tensor', 'int8/row', 'bf16/tensor']); // W; X, bf16(X); E_Y, bf16(E_Y)
    assert.equal(r.copies, 0);
    assert.equal(savedActivationBytes(out.saved), 20 * 96 * 2 + 4);
    assert.equal(preparedWeightBytes(out.pw), 40 * 96 + 4);
  });

  test('Jetfire: tile-scaled operands, one (E_Y)_Q for both backward GEMMs, Y and E_X re-quantized; 8-bit X saved', () => {
    const r = recording();
    const out = run(r.be, 'jetfire', 'int8', rand([20, 96], 1), rand([40, 96], 2), rand([20, 40], 3));
    assert.deepEqual(r.gemms, ['f32·f32', 'f32·f32', 'f32·f32']); // scales along K: the dequantized path
    assert.deepEqual(r.quants, ['int8/tile32', 'int8/tile32', 'int8/tile32', 'int8/tile32', 'int8/tile32']); // W, X, Y, E_Y, E_X
    assert.equal(r.copies, 0);
    assert.equal(savedActivationBytes(out.saved), 20 * 96 + 3 * 4); // codes + a 1×3 tile grid of scales
    assert.equal(preparedWeightBytes(out.pw), 40 * 96 + 2 * 3 * 4);
  });

  test('cfg.passes splits a baseline like a HALO level: the other pass is plain FP32', () => {
    const x = rand([20, 96], 1);
    const w = rand([40, 96], 2);
    const ey = rand([20, 40], 3);
    const fp32 = run(be, 'none', 'fp32', x, w, ey);
    const full = run(be, 'switchback', 'int8', x, w, ey);
    const fwd = run(be, 'switchback', 'int8', x, w, ey, { passes: 'forward' });
    const bwd = run(be, 'jetfire', 'int8', x, w, ey, { passes: 'backward' });
    assert.deepEqual(fwd.y, full.y);
    assert.deepEqual(fwd.ex, fp32.ex);
    assert.deepEqual(bwd.y, fp32.y);
    assert.deepEqual(bwd.ex, run(be, 'jetfire', 'int8', x, w, ey).ex);
  });
});

describe('native backend', () => {
  const skip = nativeAvailable().ok ? false : 'native addon not built';
  test('same codes and scales as the reference; SwitchBack INT8 Y and E_X bit for bit, the float GEMMs to f32 rounding', { skip }, () => {
    const x = rand([45, 96], 7);
    const w = rand([40, 96], 8);
    const ey = rand([45, 40], 9);
    for (const level of BASELINES) {
      for (const format of ['int8', 'fp8', 'fp6'] as const) {
        const nat = run(nativeBackend, level, format, x, w, ey);
        const ref = run(be, level, format, x, w, ey);
        assert.deepEqual(nat.pw.w, ref.pw.w, `${level} ${format}: weight codes`);
        assert.deepEqual(nat.saved.x, ref.saved.x, `${level} ${format}: saved X`);
        if (level === 'switchback' && format === 'int8') {
          assert.deepEqual(nat.y, ref.y);
          assert.deepEqual(nat.ex, ref.ex);
        }
        const tol = level === 'jetfire' ? 1e-3 : 1e-6; // a re-quantized element may move by one code
        for (const k of ['y', 'ex', 'g'] as const) assert.ok(relFrobenius(nat[k], ref[k]) <= tol, `${level} ${format} ${k}: ${relFrobenius(nat[k], ref[k])}`);
      }
    }
  });
});

describe('on the outlier inputs (4 channels of X, 4 token rows of E_Y ×50), INT8', () => {
  const rows = runLinearBench(be, {
    inFeatures: 256,
    outFeatures: 256,
    tokens: 128,
    levels: ['halo0', 'halo1', 'halo2', 'switchback', 'jetfire'],
    formats: ['int8'],
    reps: 1,
    warmup: 0,
    seed: 1234,
  });
  const get = (level: string) => rows.find((r) => r.level === level)!;

  test("SwitchBack's row scales fix E_Y's token outliers but not X's channel outliers; its BF16 G is the most accurate", () => {
    const [sb, h0, h1, h2] = [get('switchback'), get('halo0'), get('halo1'), get('halo2')];
    assert.ok(sb.relErrEX <= 0.5 * h0.relErrEX, `E_X: SwitchBack ${sb.relErrEX} vs HALO-0 ${h0.relErrEX}`);
    assert.ok(h1.relErrY < sb.relErrY && h2.relErrY < sb.relErrY, `Y: SwitchBack ${sb.relErrY}, HALO-1 ${h1.relErrY}, HALO-2 ${h2.relErrY}`);
    for (const r of rows) if (r !== sb) assert.ok(sb.relErrG < r.relErrG, `G: SwitchBack ${sb.relErrG} vs ${r.level} ${r.relErrG}`);
  });

  test("HALO-2's E_X error is below Jetfire's (a token outlier costs Jetfire's whole 32-row tile its precision)", () => {
    const [jf, h2] = [get('jetfire'), get('halo2')];
    assert.ok(h2.relErrEX < jf.relErrEX, `E_X: HALO-2 ${h2.relErrEX} vs Jetfire ${jf.relErrEX}`);
  });
});

describe('configuration', () => {
  test('the baselines fix their own scales: another granularity is an E_ARG naming them', () => {
    for (const level of BASELINES) {
      assert.throws(
        () => haloConfig({ level, granularity: 'row' }),
        (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && new RegExp(`level ${level} fixes its own scales.*granularity row`).test(e.message),
      );
    }
  });
  test('names, operand formats, and HQ-FSDP (one weight scale: SwitchBack yes, Jetfire no)', () => {
    assert.equal(describeConfig(haloConfig({ level: 'switchback', format: 'int8' })), 'SwitchBack INT8');
    assert.equal(describeConfig(haloConfig({ level: 'jetfire', format: 'fp6' })), 'Jetfire FP6');
    assert.equal(operandFormat(haloConfig({ level: 'jetfire', format: 'fp8' })), 'fp8e4m3');
    assert.equal(hqFormat(haloConfig({ level: 'switchback', format: 'int8' })), 'int8');
    assert.throws(
      () => hqFormat(haloConfig({ level: 'jetfire', format: 'int8' })),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && /tile32/.test(e.message),
    );
  });
});
