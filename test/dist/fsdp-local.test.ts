// FsdpModel in one process (LocalCommunicator, size 1): gathers are copies, so it must compute exactly what the
// plain LlamaModel computes — same loss, same gradients bit for bit — for Llama with tied embeddings and Qwen2
// with q/k/v biases and a separate lm_head, with f32 and 8-bit (HQ) gathers. This pins the unit bookkeeping
// (root vs layer units, 1-D params, biases, gradient scatter) independently of MPI.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getBackend } from '../../src/backend/select.ts';
import { collate } from '../../src/data/batch.ts';
import { IGNORE_INDEX } from '../../src/data/encode.ts';
import { FsdpModel, type FsdpMode } from '../../src/dist/fsdp.ts';
import { LocalCommunicator } from '../../src/dist/local.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { trainExamples } from './setup.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-fsdp-local-'));

describe('FsdpModel with one rank equals LlamaModel exactly', () => {
  for (const arch of ['llama', 'qwen2'] as const) {
    const dir = path.join(tmp, arch);
    writeTinyModelFolder(dir, { arch, hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: 301, seed: 4, tied: arch === 'llama' });
    const batch = collate(trainExamples(dir).slice(0, 2), { padId: 0 });
    for (const mode of ['fp32', 'hq'] as FsdpMode[]) {
      test(`${arch} ${mode}`, () => {
        const halo = mode === 'hq' ? haloConfig({ level: 'halo2', format: 'int8' }) : haloConfig({ level: 'none', format: 'fp32' });
        const src = loadModelFolder(dir, { dtype: 'f32' });
        const plain = new LlamaModel(src.config, src.weights, { halo, backend: getBackend() });
        const fsdp = new FsdpModel(new LocalCommunicator(), src.config, src.weights, { halo, backend: getBackend(), mode });
        const scale = 1 / batch.lossTokens;
        const a = plain.forwardBackward(batch, scale);
        const b = fsdp.forwardBackward(batch, scale);
        assert.equal(b.lossSum, a.lossSum);
        const names = plain.parameters().map((p) => p.name);
        assert.deepEqual(
          fsdp.parameters().map((p) => p.name),
          names,
        );
        if (arch === 'qwen2') assert.ok(names.includes('model.layers.0.self_attn.q_proj.bias') && names.includes('lm_head.weight'));
        for (const p of plain.parameters()) {
          const q = fsdp.parameters().find((x) => x.name === p.name)!;
          assert.deepEqual(q.grad, p.grad, p.name);
          assert.ok(
            p.grad!.some((g) => g !== 0),
            `${p.name} has a gradient`,
          );
        }
        // HQ-FSDP keeps projection weights only as master rows + gathered codes: no f32 working copy.
        assert.equal(fsdp.inner.param('model.layers.1.mlp.down_proj.weight').data.length, mode === 'hq' ? 0 : 32 * 48);
        // A micro-batch without loss tokens skips the backward; the rank still takes part in every scatter.
        for (const q of fsdp.parameters()) q.grad!.fill(0);
        const empty = { ...batch, targets: new Int32Array(batch.targets.length).fill(IGNORE_INDEX) };
        assert.equal(fsdp.forwardBackward(empty, 1).tokens, 0);
        assert.ok(fsdp.parameters().every((q) => q.grad!.every((g) => g === 0)));
        // The whole-size working gradients were handed over by the scatters and released.
        assert.ok(fsdp.inner.parameters().every((p) => p.grad!.length === 0));
      });
    }
  }
});
