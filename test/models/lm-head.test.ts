// lm_head in bf16: each GEMM equals an f32 GEMM on operands rounded to bf16 by the scalar codec (the
// fake-quant twin), on both backends; the whole model with it stays close to the f32 head and trains.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/backend.ts';
import { nativeAvailable, nativeBackend } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { Rng } from '../../src/core/rng.ts';
import { describeConfig, haloConfig, headPrecisionOf } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { tinyConfigJson, tinyWeights } from '../../src/io/testing/tiny-model.ts';
import { headForward, headInputGrad, headWeightGrad } from '../../src/models/lm-head.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { decodeBf16, encodeBf16 } from '../../src/quant/codecs/bf16.ts';
import { batchOf } from '../helpers/random-batch.ts';
import { assertClose } from '../nn/gradcheck.ts';

const rounded = (x: Float32Array) => x.map((v) => decodeBf16(encodeBf16(v)));

/** out [M, N] = a [M, K] · b [N, K]ᵀ in f64, rounded to f32. */
function gemmT(a: Float32Array, b: Float32Array, M: number, N: number, K: number): Float32Array {
  const out = new Float32Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[j * K + k];
      out[i * N + j] = s;
    }
  return out;
}
const transposeOf = (x: Float32Array, rows: number, cols: number) =>
  Float32Array.from({ length: x.length }, (_, i) => x[(i % rows) * cols + Math.floor(i / rows)]);

const backends: Backend[] = [referenceBackend, ...(nativeAvailable().ok ? [nativeBackend] : [])];

describe('lm_head in bf16', () => {
  const [N, C, V] = [13, 40, 77]; // odd sizes
  const rng = new Rng(3);
  const h = rng.fillNormal(new Float32Array(N * C));
  const w = rng.fillNormal(new Float32Array(V * C));
  const dl = rng.fillNormal(new Float32Array(N * V));
  const [hb, wb, dlb] = [rounded(h), rounded(w), rounded(dl)];
  for (const be of backends) {
    test(`${be.name}: the three GEMMs equal f32 GEMMs on bf16-rounded operands`, () => {
      // f32 accumulation in another order than the f64 oracle: agreement to a few f32 ulps of the largest entry.
      assertClose(headForward(be, 'bf16', h, w, N, C, V), gemmT(hb, wb, N, V, C), 1e-6, 'logits');
      assertClose(headWeightGrad(be, 'bf16', dl, h, N, C, V), gemmT(transposeOf(dlb, N, V), transposeOf(hb, N, C), V, C, N), 1e-6, 'dW');
      assertClose(headInputGrad(be, 'bf16', dl, w, N, C, V), gemmT(dlb, transposeOf(wb, V, C), N, C, V), 1e-6, 'dh');
    });
    test(`${be.name}: the f32 head is not rounded`, () => {
      const exact = gemmT(h, w, N, V, C);
      assertClose(headForward(be, 'f32', h, w, N, C, V), exact, 1e-6, 'f32 logits');
      const diff = Math.max(...headForward(be, 'bf16', h, w, N, C, V).map((v, i) => Math.abs(v - exact[i])));
      assert.ok(diff > 1e-4, 'bf16 rounding must show in the logits');
    });
  }

  test('a model with the bf16 head: loss within 1% of the f32 head, gradients aligned, and describeConfig says so', () => {
    const config = parseModelConfig(tinyConfigJson({ hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: 300, tied: true, seed: 3 }));
    const weights = tinyWeights(config, 5, 'f32', 0.3);
    const batch = batchOf([9, 7], config.vocab_size, 4);
    const run = (lmHead: 'f32' | 'bf16') => {
      const m = new LlamaModel(config, weights, { halo: haloConfig({ level: 'halo2', format: 'int8', lmHead }), backend: referenceBackend });
      const r = m.forwardBackward(batch, 1 / batch.lossTokens);
      return { loss: r.lossSum / r.tokens, grad: Float32Array.from(m.lmHead().grad!) };
    };
    const f = run('f32');
    const b = run('bf16');
    assert.ok(Math.abs(b.loss - f.loss) / f.loss < 0.01, `loss ${b.loss} vs ${f.loss}`);
    assert.notEqual(b.loss, f.loss);
    let dot = 0,
      nf = 0,
      nb = 0;
    for (let i = 0; i < f.grad.length; i++) {
      dot += f.grad[i] * b.grad[i];
      nf += f.grad[i] ** 2;
      nb += b.grad[i] ** 2;
    }
    assert.ok(dot / Math.sqrt(nf * nb) > 0.99, `lm_head gradient cosine ${dot / Math.sqrt(nf * nb)}`);
    // describeConfig names the head only where it differs from the config's default.
    assert.equal(describeConfig(haloConfig({ level: 'halo2', format: 'int8', lmHead: 'f32' })), 'HALO2 INT8, lm_head F32');
    assert.equal(describeConfig(haloConfig({ level: 'halo2', format: 'int8', lmHead: 'bf16' })), 'HALO2 INT8');
    assert.equal(describeConfig(haloConfig({ level: 'none', format: 'bf16', lmHead: 'f32' })), 'BF16, lm_head F32');
    assert.equal(describeConfig(haloConfig({ level: 'none', format: 'fp32', lmHead: 'bf16' })), 'FP32, lm_head BF16');
  });

  test('lm_head defaults to bf16 when the linears are low precision and to f32 for an FP32 model; an explicit setting wins', () => {
    assert.equal(headPrecisionOf(haloConfig({ level: 'none', format: 'fp32' })), 'f32');
    assert.equal(headPrecisionOf(haloConfig({ level: 'halo2', format: 'fp32' })), 'f32');
    for (const [level, format] of [
      ['none', 'bf16'],
      ['halo0', 'fp8'],
      ['halo1', 'fp6'],
      ['halo2', 'int8'],
      ['switchback', 'int8'],
    ] as const) {
      assert.equal(headPrecisionOf(haloConfig({ level, format })), 'bf16', `${level} ${format}`);
      assert.equal(headPrecisionOf(haloConfig({ level, format, lmHead: 'f32' })), 'f32', `${level} ${format} with lmHead f32`);
    }
    // analysis configs that quantize one pass only still have low-precision linears
    assert.equal(headPrecisionOf(haloConfig({ level: 'halo2', format: 'int8', passes: 'forward' })), 'bf16');
    // the model follows it: the default HALO-2 INT8 model gives the explicit bf16 head's loss, not the f32 one's
    const config = parseModelConfig(tinyConfigJson({ hidden: 32, layers: 1, heads: 4, kvHeads: 2, intermediate: 48, vocab: 300, tied: true, seed: 4 }));
    const weights = tinyWeights(config, 6, 'f32', 0.3);
    const batch = batchOf([9, 7], config.vocab_size, 4);
    const loss = (lmHead?: 'f32' | 'bf16') =>
      new LlamaModel(config, weights, { halo: haloConfig({ level: 'halo2', format: 'int8', ...(lmHead ? { lmHead } : {}) }), backend: referenceBackend }).loss(
        batch,
      ).lossSum;
    assert.equal(loss(), loss('bf16'));
    assert.notEqual(loss(), loss('f32'));
  });

  test('dW and dh make no transposed copy (the GEMMs read dlogits, h and W transposed in place)', () => {
    const copies: string[] = [];
    const spy: Backend = {
      ...referenceBackend,
      transpose(a) {
        copies.push('transpose');
        return referenceBackend.transpose(a);
      },
      rotateQuantize(x, rot, format, g, opts) {
        if (opts?.transposeOut) copies.push('transposeOut');
        return referenceBackend.rotateQuantize(x, rot, format, g, opts);
      },
    };
    for (const p of ['f32', 'bf16'] as const) {
      assert.deepEqual(headWeightGrad(spy, p, dl, h, N, C, V), headWeightGrad(referenceBackend, p, dl, h, N, C, V));
      assert.deepEqual(headInputGrad(spy, p, dl, w, N, C, V), headInputGrad(referenceBackend, p, dl, w, N, C, V));
    }
    assert.deepEqual(copies, []);
  });

  test('an unknown lm_head precision is an argument error', () => {
    assert.throws(() => haloConfig({ lmHead: 'fp8' as 'bf16' }), /lm_head precision 'fp8'/);
  });
});
