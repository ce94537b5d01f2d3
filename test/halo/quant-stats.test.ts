// The per-layer saturation counters (QuantStats): one training step of a tiny model logs, per decoder layer,
// how many quantized values sit at ±qmax and how many were quantized. Checked three ways: the totals equal
// countAtMax over every operand a plain recording backend saw; the attribution is right (layer 0's weights
// set to ±1 put every one of its weight codes at ±127, layer 1's normal weights do not); and `halo finetune`
// writes the counts to metrics.jsonl, or leaves them out with --no-quant-stats.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../src/backend/backend.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { Rng } from '../../src/core/rng.ts';
import { collate } from '../../src/data/batch.ts';
import { encodeRecords } from '../../src/data/encode.ts';
import { readJsonl } from '../../src/data/jsonl.ts';
import { haloConfig, type Level } from '../../src/halo/config.ts';
import { QuantStats } from '../../src/halo/quant-stats.ts';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { countAtMax } from '../../src/quant/saturation.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import { main } from '../../src/cli/main.ts';
import { readMetrics } from '../../src/train/metrics.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-qstats-'));
const modelDir = path.join(tmp, 'tiny');
writeTinyModelFolder(modelDir, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, vocab: 512, seed: 3 });
const tok = loadTokenizer(modelDir);
const examples = encodeRecords(readJsonl('data/sql/train.jsonl').records.slice(0, 4), tok, { maxSeqLen: 320 }).examples;
const batch = collate(examples, { padId: 0 });
const PROJ = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

/** One forward+backward with QuantStats over a backend that also records every operand it quantized. */
function step(level: Level, edit?: (w: Map<string, Float32Array>) => void) {
  const src = loadModelFolder(modelDir, { dtype: 'f32' });
  edit?.(new Map([...src.weights].map(([n, t]) => [n, t.data as Float32Array])));
  let atMax = 0;
  let values = 0;
  const recording: Backend = Object.create(referenceBackend);
  recording.rotateQuantize = (...args) => {
    const q = referenceBackend.rotateQuantize(...args);
    if (q.format === 'bf16') return q; // lm_head's bf16 operands (the default head of a quantized model): not a HALO linear's
    atMax += countAtMax(q);
    values += q.q.data.length;
    return q;
  };
  const stats = new QuantStats();
  const m = new LlamaModel(src.config, src.weights, { halo: haloConfig({ level, format: 'int8' }), backend: stats.wrap(recording), blockHooks: stats.hooks });
  stats.reset();
  m.forwardBackward(batch, 1 / Math.max(1, batch.lossTokens));
  return { rec: stats.take()!, atMax, values, numel: (name: string) => src.weights.get(name)!.numel };
}

describe('QuantStats', () => {
  test('per-layer counts add up to every quantized operand of the step', () => {
    const { rec, atMax, values } = step('halo2');
    assert.equal(rec.quantAtMax.length, 2);
    assert.equal(
      rec.quantAtMax.reduce((a, b) => a + b, 0),
      atMax,
    );
    assert.equal(
      rec.quantValues.reduce((a, b) => a + b, 0),
      values,
    );
    for (let l = 0; l < 2; l++) assert.ok(rec.quantAtMax[l]! > 0 && rec.quantAtMax[l]! < rec.quantValues[l]!, `layer ${l}`);
  });
  test('counts land on the layer that quantized them', () => {
    const rng = new Rng(9);
    const { rec, numel } = step('halo0', (w) => {
      for (const p of PROJ) {
        const a = w.get(`model.layers.0.${p}.weight`)!;
        for (let i = 0; i < a.length; i++) a[i] = rng.next() < 0.5 ? -1 : 1;
      }
    });
    const weights0 = PROJ.reduce((s, p) => s + numel(`model.layers.0.${p}.weight`), 0);
    const weights1 = PROJ.reduce((s, p) => s + numel(`model.layers.1.${p}.weight`), 0);
    assert.ok(rec.quantAtMax[0]! >= weights0, `layer 0: ${rec.quantAtMax[0]} at max, its ±1 weights alone have ${weights0}`);
    assert.ok(rec.quantAtMax[1]! < weights1 / 10, `layer 1: ${rec.quantAtMax[1]} at max of ${weights1} normal weights`);
  });
  test('nothing quantized (level none): take() is null', () => {
    const src = loadModelFolder(modelDir, { dtype: 'f32' });
    const stats = new QuantStats();
    const m = new LlamaModel(src.config, src.weights, {
      halo: haloConfig({ level: 'none', format: 'fp32' }),
      backend: stats.wrap(referenceBackend),
      blockHooks: stats.hooks,
    });
    m.forwardBackward(batch, 1 / Math.max(1, batch.lossTokens));
    assert.equal(stats.take(), null);
  });
  test('halo finetune logs quantAtMax / quantValues per layer, and not with --no-quant-stats', async () => {
    const run = async (out: string, extra: string[]) => {
      const code = await main([
        'finetune',
        '--model',
        modelDir,
        '--data',
        'data/sql/train.jsonl::8',
        '--out',
        out,
        '--max-seq-len',
        '320',
        '--batch-size',
        '4',
        '--max-steps',
        '1',
        '--backend',
        'reference',
        ...extra,
      ]);
      assert.equal(code, 0);
      return readMetrics(path.join(out, 'metrics.jsonl'))[0]!;
    };
    const on = await run(path.join(tmp, 'on'), []);
    assert.equal((on.quantAtMax as number[]).length, 2);
    assert.equal((on.quantValues as number[]).length, 2);
    const off = await run(path.join(tmp, 'off'), ['--no-quant-stats']);
    assert.equal(off.quantAtMax, undefined);
  });
});
