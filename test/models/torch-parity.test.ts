// halo's LlamaModel against an independent PyTorch implementation (tools/torch_llama_reference.py: plain
// torch, autograd for the backward, no transformers). Both read the same tiny HF folder and batch, both run in
// float64, and the logits, the mean loss and every parameter gradient must agree. The finite-difference test
// (llama.test.ts) proves the backward matches halo's own forward; this one proves the forward is the
// architecture transformers defines (RoPE pairing, llama3 frequency scaling, GQA head mapping, padding mask,
// label shift, tied lm_head, Qwen2 biases, sliding window).
//
// Needs /usr/bin/python3 with torch (Debian: apt-get install python3-torch); SKIPPED with the reason when absent.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import type { FloatArray } from '../../src/core/dtype.ts';
import { Rng } from '../../src/core/rng.ts';
import { collate, type Batch } from '../../src/data/batch.ts';
import { IGNORE_INDEX, type Example } from '../../src/data/encode.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { writeTinyModelFolder, type TinyModelOptions } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../tools/torch_llama_reference.py', import.meta.url));

// Both sides compute in float64, so agreement is ~1e-12 in practice; the bounds leave room for different
// summation orders (softmax, logsumexp, matmul blocking) on larger tensors, and are still far below any
// modelling mistake (a wrong RoPE band or an off-by-one mask moves logits by > 1e-3 relative).
const LOGITS_TOL = 1e-5;
const LOSS_TOL = 1e-6;
const GRAD_TOL = 1e-5;

/** Why the torch reference cannot run here, or null when it can. */
function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `${PYTHON}: ${r.error.message}`;
  if (r.status !== 0) return r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`;
  return null;
}

/** A tiny folder's options, plus config.json fields to overwrite (what TinyModelOptions has no option for). */
const CASES: { name: string; opts: TinyModelOptions; configPatch?: Record<string, unknown> }[] = [
  {
    // theta 10000 with head_dim 8 puts the 4 frequencies in all three llama3 bands for original context 64:
    // wavelengths 6.3 (< 64/4: kept), 63 (between: interpolated), 628 and 6283 (> 64/1: divided by factor).
    name: 'llama: GQA 4/2, tied, llama3 rope scaling',
    opts: {
      arch: 'llama',
      hidden: 32,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      intermediate: 48,
      vocab: 280,
      tied: true,
      seed: 7,
      std: 0.3,
      ropeTheta: 10000,
      maxPositions: 256,
      ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
    },
  },
  {
    name: 'qwen2: q/k/v biases, untied, MQA 4/1',
    opts: { arch: 'qwen2', hidden: 32, layers: 2, heads: 4, kvHeads: 1, intermediate: 40, vocab: 290, tied: false, seed: 8, std: 0.3, chat: 'chatml' },
  },
  {
    // Sliding window 3 < the longest row (9), and shards, so the window and the index file are exercised too.
    name: 'mistral: sliding window 3, sharded folder',
    opts: { arch: 'mistral', hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: 270, tied: false, seed: 9, std: 0.3, maxShardBytes: 40_000 },
    configPatch: { sliding_window: 3 },
  },
];

/** Three rows of different lengths (right padding), no loss on each row's first two tokens. */
function batchOf(V: number, seed: number): Batch {
  const rng = new Rng(seed);
  const examples: Example[] = [9, 6, 4].map((T) => {
    const ids = Int32Array.from({ length: T }, () => rng.int(V));
    const labels = Int32Array.from(ids, (id, t) => (t < 2 ? IGNORE_INDEX : id));
    return { ids, labels, truncated: false };
  });
  return collate(examples, { padId: 0 });
}

/** [B, T] typed array → nested JSON rows (transformers' batch layout). */
function rows(a: ArrayLike<number>, B: number, T: number): number[][] {
  return Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => a[b * T + t]!));
}

/** max|a − b| / max|ref|: error relative to the tensor's scale (0/0 counts as agreement). */
function relErr(a: FloatArray, ref: FloatArray): number {
  assert.equal(a.length, ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff === 0 ? 0 : diff / scale;
}

function patchConfig(dir: string, patch: Record<string, unknown>): void {
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), ...patch }, null, 2));
}

function runReference(dir: string, batch: Batch) {
  const batchFile = path.join(dir, 'batch.json');
  const outFile = path.join(dir, 'torch-out.safetensors');
  fs.writeFileSync(
    batchFile,
    JSON.stringify({
      input_ids: rows(batch.ids, batch.B, batch.T),
      labels: rows(batch.labels, batch.B, batch.T),
      attention_mask: rows(batch.attnMask, batch.B, batch.T),
      position_ids: rows(batch.positions, batch.B, batch.T),
    }),
  );
  const r = spawnSync(PYTHON, [SCRIPT, dir, batchFile, outFile], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `torch reference failed (status ${r.status}, ${r.error?.message ?? ''}):\n${r.stderr}`);
  const { tensors, metadata } = readSafetensors(outFile);
  assert.ok(metadata, 'torch output has no metadata');
  return { tensors, lossMean: Number(metadata.loss_mean), tokens: Number(metadata.tokens) };
}

describe('LlamaModel matches an independent PyTorch implementation (f64)', () => {
  const missing = torchMissing();
  for (const { name, opts, configPatch } of CASES) {
    test(name, (t) => {
      if (missing) {
        t.skip(`python3-torch not installed: ${missing}`);
        return;
      }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-torch-parity-'));
      try {
        writeTinyModelFolder(dir, opts);
        if (configPatch) patchConfig(dir, configPatch);
        const source = loadModelFolder(dir, { dtype: 'f32' });
        // the case really exercises what its name says
        if (opts.maxShardBytes) assert.ok(fs.existsSync(path.join(dir, 'model.safetensors.index.json')), 'folder is not sharded');
        if (configPatch?.sliding_window) assert.equal(source.config.sliding_window, configPatch.sliding_window);
        const model = new LlamaModel(source.config, source.weights, {
          halo: haloConfig({ level: 'none', format: 'fp32' }),
          backend: referenceBackend,
          precision: 'f64',
        });
        const batch = batchOf(source.config.vocab_size, 21);
        const ref = runReference(dir, batch);

        const logits = model.logits(batch);
        const torchLogits = ref.tensors.get('logits')!;
        assert.deepEqual(torchLogits.shape, [batch.B * batch.T, source.config.vocab_size]);
        const logitsErr = relErr(logits, torchLogits.data as FloatArray);
        assert.ok(logitsErr <= LOGITS_TOL, `logits differ: relative error ${logitsErr}`);

        const { lossSum, tokens } = model.forwardBackward(batch, 1 / batch.lossTokens); // gradients of the mean loss
        assert.equal(tokens, ref.tokens);
        const lossErr = Math.abs(lossSum / tokens - ref.lossMean) / Math.abs(ref.lossMean);
        assert.ok(lossErr <= LOSS_TOL, `loss ${lossSum / tokens} vs torch ${ref.lossMean} (relative error ${lossErr})`);

        const params = model.parameters();
        const torchGrads = [...ref.tensors.keys()]
          .filter((k) => k.startsWith('grad/'))
          .map((k) => k.slice(5))
          .sort();
        assert.deepEqual(params.map((p) => p.name).sort(), torchGrads, 'halo and torch disagree on the parameter set');
        let worst = { name: '', err: 0 };
        for (const p of params) {
          const g = ref.tensors.get(`grad/${p.name}`)!;
          assert.deepEqual(g.shape, p.shape, `${p.name} gradient shape`);
          const err = relErr(p.grad!, g.data as FloatArray);
          assert.ok(err <= GRAD_TOL, `${p.name}: gradient relative error ${err}`);
          if (err >= worst.err) worst = { name: p.name, err };
        }
        t.diagnostic(
          `loss ${ref.lossMean.toFixed(6)} over ${tokens} tokens; relative errors: logits ${logitsErr.toExponential(2)}, ` +
            `loss ${lossErr.toExponential(2)}, worst gradient ${worst.err.toExponential(2)} (${worst.name}, ${params.length} tensors)`,
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
