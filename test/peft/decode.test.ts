// KV-cached decoding (eval / generate) with adapters that are not merged must give the merged model's
// logits: HUT through model.weight(), LoRA through the output-adapter hook of llama-decode.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { createDecodeState, decodeStep } from '../../src/models/llama-decode.ts';
import { buildAdapters, setAdaptersTraining } from '../../src/peft/build.ts';
import { mergeWeights } from '../../src/peft/merge.ts';
import { maxRelDiff, randomizeAdapters, tinyModel } from './helpers.ts';

for (const method of ['lora', 'hut'] as const) {
  test(`${method}: decoding with unmerged adapters equals the merged model`, () => {
    const { config, weights } = tinyModel();
    const adapters = buildAdapters(config, { method, rank: 3, alpha: 6, dropout: 0.1, seed: 2 });
    randomizeAdapters(adapters, 4, 0.3);
    setAdaptersTraining(adapters.values(), false);
    const halo = haloConfig({ level: 'none', format: 'fp32' });
    const adapted = new LlamaModel(config, weights, { halo, backend: referenceBackend, trainable: () => false, adapters });
    const merged = new LlamaModel(config, mergeWeights(weights, adapters), { halo, backend: referenceBackend, trainable: () => false });
    const sa = createDecodeState(adapted, 1, 16);
    const sm = createDecodeState(merged, 1, 16);
    const prompt = Int32Array.from([5, 9, 200, 17]);
    const pos = Int32Array.from([0, 1, 2, 3]);
    const want = decodeStep(merged, sm, prompt, pos);
    assert.ok(maxRelDiff(decodeStep(adapted, sa, prompt, pos), want) < 1e-5, 'prompt step');
    const next = Int32Array.from([33]);
    const at = Int32Array.from([4]);
    assert.ok(maxRelDiff(decodeStep(adapted, sa, next, at), decodeStep(merged, sm, next, at)) < 1e-5, 'cached step');
    const base = new LlamaModel(config, weights, { halo, backend: referenceBackend, trainable: () => false });
    assert.ok(maxRelDiff(decodeStep(base, createDecodeState(base, 1, 16), prompt, pos), want) > 1e-3, 'the adapters matter');
  });
}
