// The whole Llama model on the native backend against the same model on the reference backend (the oracle):
// loss and every parameter gradient, for Llama (tied, GQA) and Qwen2 (q/k/v biases), in f32. Two
// comparisons: (1) only the element-wise kernels differ (both models run the native GEMMs; one of them
// through a backend renamed so nnKernels() hands it the TypeScript ops) — agreement to ~1e-5 relative;
// (2) the native backend against the reference backend end to end (GEMMs summed in another order too).
// Then one trainer step: the native AdamW kernel takes the same step as the reference update.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { Backend } from '../../src/backend/backend.ts';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { referenceNnKernels } from '../../src/backend/nn-kernels.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { tinyConfigJson, tinyWeights } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { AdamW } from '../../src/optim/adamw.ts';
import { assertClose, nativeTest } from './native-test.ts';
import { batchOf } from '../helpers/random-batch.ts';

function tiny(arch: 'llama' | 'qwen2', tied: boolean) {
  // Odd sizes (hidden 40, intermediate 72, vocab 301) reach the vector tails of every kernel.
  const config = parseModelConfig(tinyConfigJson({ arch, hidden: 40, layers: 2, heads: 4, kvHeads: 2, intermediate: 72, vocab: 301, tied, seed: 3 }));
  return { config, weights: tinyWeights(config, 5, 'f32', 0.3) };
}

/** The native GEMMs under another name: nnKernels() then picks the TypeScript ops. */
function nativeGemmsOnly(): Backend {
  return { ...nativeBackend, name: 'native-gemms+reference-nn' } as Backend;
}

function run(arch: 'llama' | 'qwen2', tied: boolean, be: Backend) {
  const { config, weights } = tiny(arch, tied);
  const m = new LlamaModel(config, weights, { halo: haloConfig({ level: 'none', format: 'fp32' }), backend: be });
  const batch = batchOf([9, 6, 11], config.vocab_size, 17);
  const r = m.forwardBackward(batch, 1 / 20);
  return { m, r };
}

function compare(a: ReturnType<typeof run>, b: ReturnType<typeof run>, rtol: number, what: string): void {
  assert.equal(a.r.tokens, b.r.tokens);
  assert.ok(Math.abs(a.r.lossSum - b.r.lossSum) <= rtol * Math.abs(b.r.lossSum), `${what} loss ${a.r.lossSum} vs ${b.r.lossSum}`);
  const pa = a.m.parameters(),
    pb = b.m.parameters();
  assert.equal(pa.length, pb.length);
  for (let i = 0; i < pa.length; i++) {
    const ga = pa[i]!.grad!,
      gb = pb[i]!.grad!;
    // Relative to the tensor's largest gradient: single entries can be sums that cancel to ~0.
    let scale = 0;
    for (const g of gb) scale = Math.max(scale, Math.abs(g));
    assert.ok(scale > 0, `${what} ${pb[i]!.name}: zero gradient`);
    assertClose(ga, gb, { rtol, atol: rtol * scale, bound: new Float32Array(gb.length) }, `${what} grad ${pb[i]!.name}`);
  }
}

describe('LlamaModel on the native backend', () => {
  nativeTest('the model uses the native element-wise kernels on the native backend, the TypeScript ops otherwise', () => {
    const { config, weights } = tiny('llama', true);
    const halo = haloConfig({ level: 'none', format: 'fp32' });
    assert.equal(new LlamaModel(config, weights, { halo, backend: nativeBackend }).nn.name, 'native');
    assert.equal(new LlamaModel(config, weights, { halo, backend: referenceBackend }).nn, referenceNnKernels);
    assert.equal(new LlamaModel(config, weights, { halo, backend: nativeGemmsOnly() }).nn, referenceNnKernels);
  });

  for (const [arch, tied] of [
    ['llama', true],
    ['qwen2', false],
  ] as const) {
    nativeTest(`${arch}${tied ? ' tied' : ''}: native element-wise kernels vs the TypeScript ops (same GEMMs): loss and every gradient`, () => {
      compare(run(arch, tied, nativeBackend), run(arch, tied, nativeGemmsOnly()), 1e-5, arch);
    });

    nativeTest(`${arch}${tied ? ' tied' : ''}: native backend vs reference backend end to end`, () => {
      compare(run(arch, tied, nativeBackend), run(arch, tied, referenceBackend), 1e-4, arch);
    });
  }

  nativeTest('AdamW with the native update kernel takes the same step as the reference update (bit-identical)', () => {
    const a = run('llama', false, nativeBackend).m;
    const b = run('llama', false, nativeBackend).m;
    const opt = (m: LlamaModel, update: typeof referenceNnKernels.adamwUpdate) =>
      new AdamW(
        m.parameters().map((p) => ({ name: p.name, param: p.data, grad: p.grad!, weightDecay: p.shape.length < 2 ? 0 : undefined })),
        { lr: 1e-2, weightDecay: 0.1, update },
      );
    let calls = 0;
    const oa = opt(a, (...args) => {
      calls++;
      a.nn.adamwUpdate(...args);
    });
    const ob = opt(b, referenceNnKernels.adamwUpdate);
    oa.step();
    ob.step();
    assert.equal(calls, a.parameters().length, 'the configured update ran once per tensor');
    const pb = b.parameters();
    a.parameters().forEach((p, i) => assert.deepEqual(p.data, pb[i]!.data, `${p.name} after one step`));
    assert.notDeepEqual(a.parameters()[0]!.data, run('llama', false, nativeBackend).m.parameters()[0]!.data, 'the step moved the weights');
  });
});
