// The decoder block shared by training and decoding (src/models/decoder-block.ts): decoding runs it on the
// kernels and GEMMs its backend supplies (a backend registered here that counts every call, with the reference
// results bit for bit), recording a tape changes nothing in the forward, and a tape needs an attention that
// keeps lse. Training through the block is covered by llama.test.ts, decoding by test/eval/generate.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceNnKernels } from '../../src/backend/nn-kernels.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { getBackend, registerBackend } from '../../src/backend/select.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { HaloError } from '../../src/core/errors.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { tinyConfigJson, tinyWeights } from '../../src/io/testing/tiny-model.ts';
import { createKvCache } from '../../src/nn/ops/kv-cache.ts';
import { ropeTables } from '../../src/nn/ops/rope.ts';
import { cachedAttention, sequenceAttention } from '../../src/models/block-attention.ts';
import { blockForward } from '../../src/models/decoder-block.ts';
import { createDecodeState, decodeStep } from '../../src/models/llama-decode.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { counted } from '../helpers/counted.ts';

const gemms = new Map<string, number>();
const kernels = new Map<string, number>();
registerBackend('counting-decode', () => ({
  backend: counted(referenceBackend, 'counting-decode', gemms),
  nn: counted(referenceNnKernels, 'counting-decode', kernels),
}));

function tinyModel(be: Backend): LlamaModel {
  const config = parseModelConfig(tinyConfigJson({ hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: 270, seed: 3, attentionBias: true }));
  return new LlamaModel(config, tinyWeights(config, 5, 'f32', 0.3), {
    halo: haloConfig({ level: 'halo2', format: 'int8' }),
    backend: be,
    trainable: () => false,
  });
}

/** A left-padded prefill of two rows, then one step: the logits of both calls. */
function decode(model: LlamaModel): Float32Array[] {
  const state = createDecodeState(model, 2, 6);
  const first = decodeStep(model, state, Int32Array.from([4, 9, 17, 0, 0, 30]), Int32Array.from([0, 1, 2, 0, 0, 0]), {
    mask: Uint8Array.from([1, 1, 1, 0, 0, 1]),
  });
  const next = decodeStep(model, state, Int32Array.from([5, 8]), Int32Array.from([3, 1]));
  return [first as Float32Array, next as Float32Array];
}

describe('decoder block', () => {
  test("decoding runs the backend's own kernels and GEMMs, with the reference results bit for bit", () => {
    const be = getBackend('counting-decode');
    const got = decode(tinyModel(be));
    for (const op of ['rmsnormForward', 'ropeForward', 'swigluForward', 'attentionDecode', 'add', 'embeddingForward']) {
      assert.ok((kernels.get(op) ?? 0) > 0, `${op} was called ${kernels.get(op) ?? 0} times`);
    }
    for (const op of ['matmul', 'rotateQuantize']) assert.ok((gemms.get(op) ?? 0) > 0, `${op} was called ${gemms.get(op) ?? 0} times`);
    assert.deepEqual(got, decode(tinyModel(referenceBackend)));
  });

  test('recording a tape leaves the output unchanged; a tape needs an attention that keeps lse', () => {
    const model = tinyModel(referenceBackend);
    const { C, Hq, Hkv, D } = model.dims;
    const B = 2;
    const T = 5;
    const N = B * T;
    const x0 = Float32Array.from({ length: N * C }, (_, i) => Math.sin(i * 0.37));
    const positions = Int32Array.from({ length: N }, (_, i) => i % T);
    const rope = ropeTables(positions, D, model.config.rope_theta, model.config.rope_scaling, 'f32');
    const rows = { N, rope, attention: sequenceAttention(model.nn, B, T, model.dims, {}) };
    const plain = blockForward(model, 1, x0, rows, false);
    const taped = blockForward(model, 1, x0, rows, true);
    assert.equal(plain.tape, null);
    assert.ok(taped.tape && taped.tape.x0 === x0 && taped.tape.lse.length === B * Hq * T);
    assert.deepEqual(plain.x, taped.x);
    const caches = model.names.map(() => createKvCache(B, T, Hkv, D));
    const cached = { N, rope, attention: cachedAttention(model.nn, caches, T, Hq, {}) };
    assert.throws(
      () => blockForward(model, 1, x0, cached, true),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && /kept no lse/.test(e.message),
    );
  });
});
