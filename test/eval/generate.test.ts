// KV-cached decoding against the full forward, generation (greedy, sampled, batched, stopped) and the
// generation evaluator, on tiny random models built in memory.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import type { FloatArray } from '../../src/core/dtype.ts';
import { Rng } from '../../src/core/rng.ts';
import { collate } from '../../src/data/batch.ts';
import { IGNORE_INDEX } from '../../src/data/encode.ts';
import { parseJsonl } from '../../src/data/jsonl.ts';
import { toEvalItem } from '../../src/data/records.ts';
import { evaluateGeneration, promptIds } from '../../src/eval/evaluate.ts';
import { defaultStopIds, generate, generateBatch, sampleToken } from '../../src/eval/generate.ts';
import { scorersFor } from '../../src/eval/scorers.ts';
import { haloConfig, type Level } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { tinyConfigJson, tinyWeights, type TinyModelOptions } from '../../src/io/testing/tiny-model.ts';
import { makeTinyTokenizer } from '../../src/io/testing/tiny-tokenizer.ts';
import { createDecodeState, decodeStep } from '../../src/models/llama-decode.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { HfTokenizer } from '../../src/tokenizer/hf.ts';

const VOCAB = 320;

function tinyModel(level: Level = 'none', o: TinyModelOptions = {}): LlamaModel {
  const config = parseModelConfig(tinyConfigJson({ hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: VOCAB, ...o }));
  // std 0.3: logits spread enough that argmax and sampling are not decided by rounding.
  const weights = tinyWeights(config, 7, 'f32', 0.3);
  return new LlamaModel(config, weights, { halo: haloConfig({ level, format: 'fp32' }), backend: referenceBackend, trainable: () => false });
}

const files = makeTinyTokenizer(VOCAB, 'llama3');
const tok = new HfTokenizer(files.tokenizer, files.tokenizerConfig, { source: 'tiny tokenizer' });

function randomIds(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  // Ordinary byte tokens only (below the special tokens), so no prompt contains a stop token.
  return Array.from({ length: n }, () => 1 + rng.int(250));
}

/** Full-forward logits [B·T, V] of right-padded sequences. */
function fullLogits(model: LlamaModel, seqs: number[][]): { logits: FloatArray; T: number } {
  const batch = collate(
    seqs.map((s) => ({ ids: Int32Array.from(s), labels: new Int32Array(s.length).fill(IGNORE_INDEX), truncated: false })),
    { padId: 0 },
  );
  return { logits: model.logits(batch), T: batch.T };
}

/** max |a − b| over a row, relative to the row's largest |b|. */
function relErr(a: FloatArray, aOff: number, b: FloatArray, bOff: number, V: number): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < V; i++) {
    err = Math.max(err, Math.abs(a[aOff + i] - b[bOff + i]));
    scale = Math.max(scale, Math.abs(b[bOff + i]));
  }
  return err / Math.max(scale, 1e-30);
}

function argmax(a: FloatArray, off: number, V: number): number {
  let best = 0;
  for (let i = 1; i < V; i++) if (a[off + i] > a[off + best]) best = i;
  return best;
}

describe('decodeStep with KV caches equals the full forward', () => {
  const cases: [string, Level, TinyModelOptions][] = [
    ['llama, level none, tied', 'none', { tied: true }],
    ['llama, halo2 fp32 (rotations, no quantization), q/k/v/o biases', 'halo2', { attentionBias: true }],
    ['qwen2 (q/k/v biases), halo1 fp32', 'halo1', { arch: 'qwen2' }],
  ];
  for (const [name, level, o] of cases) {
    test(name, () => {
      const model = tinyModel(level, o);
      const V = model.dims.V;
      const seqs = [randomIds(9, 1), randomIds(9, 2)];
      const { logits: full, T } = fullLogits(model, seqs);
      const B = seqs.length;
      const state = createDecodeState(model, B, 9);
      // Prefill 4 tokens (every position's logits), then 5 steps of one token.
      const pre = 4;
      const ids = Int32Array.from(seqs.flatMap((s) => s.slice(0, pre)));
      const pos = Int32Array.from(seqs.flatMap(() => [0, 1, 2, 3]));
      const first = decodeStep(model, state, ids, pos, { allPositions: true });
      let worst = 0;
      for (let b = 0; b < B; b++) for (let t = 0; t < pre; t++) worst = Math.max(worst, relErr(first, (b * pre + t) * V, full, (b * T + t) * V, V));
      for (let t = pre; t < 9; t++) {
        const step = decodeStep(model, state, Int32Array.from(seqs.map((s) => s[t]!)), Int32Array.from([t, t]));
        assert.equal(step.length, B * V);
        for (let b = 0; b < B; b++) worst = Math.max(worst, relErr(step, b * V, full, (b * T + t) * V, V));
      }
      assert.ok(worst <= 1e-5, `max relative logit error ${worst}`);
      assert.equal(state.length, 9);
    });
  }

  test('prefill without allPositions returns the last position of each row', () => {
    const model = tinyModel();
    const V = model.dims.V;
    const seq = randomIds(6, 3);
    const { logits: full } = fullLogits(model, [seq]);
    const state = createDecodeState(model, 1, 6);
    const last = decodeStep(model, state, Int32Array.from(seq), Int32Array.from([0, 1, 2, 3, 4, 5]));
    assert.equal(last.length, V);
    assert.ok(relErr(last, 0, full, 5 * V, V) <= 1e-5);
  });

  test('a full cache and mis-shaped inputs are errors that say what would work', () => {
    const model = tinyModel();
    const state = createDecodeState(model, 2, 3);
    assert.throws(() => decodeStep(model, state, new Int32Array(3), new Int32Array(3)), /do not form \[B=2, Tn\]/);
    assert.throws(() => decodeStep(model, state, new Int32Array(4), new Int32Array(2)), /positions has 2 entries/);
    decodeStep(model, state, new Int32Array(4), Int32Array.from([0, 1, 0, 1]));
    assert.throws(() => decodeStep(model, state, new Int32Array(4), Int32Array.from([2, 3, 2, 3])), /capacity ≥ prompt length \+ max new tokens/);
  });
});

describe('generate', () => {
  const model = tinyModel();
  const stops = new Set(defaultStopIds(tok));

  test('the stop set holds the tokenizer end tokens', () => {
    assert.ok(stops.has(files.ids['<|eot_id|>']!));
    assert.ok(stops.has(files.ids['<|end_of_text|>']!));
  });

  test('greedy = argmax of the full forward, token by token', () => {
    const prompt = randomIds(5, 4);
    const r = generate(model, tok, prompt, { maxNewTokens: 6 });
    const seq = [...prompt];
    const expected: number[] = [];
    for (let i = 0; i < 6; i++) {
      const { logits, T } = fullLogits(model, [seq]);
      const id = argmax(logits, (T - 1) * model.dims.V, model.dims.V);
      if (stops.has(id)) break;
      expected.push(id);
      seq.push(id);
    }
    assert.deepEqual(r.ids, expected);
    assert.equal(r.text, tok.decode(expected, { skipSpecialTokens: true }));
    assert.deepEqual(generate(model, tok, prompt, { maxNewTokens: 6 }), r, 'greedy decoding is deterministic');
  });

  test('maxNewTokens bounds the answer, a stop id ends it (and is not part of it)', () => {
    const prompt = randomIds(4, 5);
    const free = generate(model, tok, prompt, { maxNewTokens: 5 });
    assert.equal(free.finish, 'length');
    assert.equal(free.ids.length, 5);
    const target = free.ids[2]!;
    const stopped = generate(model, tok, prompt, { maxNewTokens: 5, stopIds: [target] });
    assert.equal(stopped.finish, 'stop');
    assert.equal(stopped.stopId, target);
    assert.deepEqual(stopped.ids, free.ids.slice(0, free.ids.indexOf(target)));
  });

  test('a left-padded batch gives each prompt the answer it gets alone', () => {
    const prompts = [randomIds(3, 6), randomIds(7, 7), randomIds(5, 8)];
    const batched = generateBatch(model, tok, prompts, { maxNewTokens: 4 });
    prompts.forEach((p, i) => assert.deepEqual(batched[i]!.ids, generate(model, tok, p, { maxNewTokens: 4 }).ids, `prompt ${i}`));
  });

  test('sampling with a seed is reproducible, and the seed matters', () => {
    const prompt = randomIds(4, 9);
    const opts = { maxNewTokens: 8, temperature: 1.5, topP: 0.95, topK: 50 };
    const a = generate(model, tok, prompt, { ...opts, seed: 1 });
    const b = generate(model, tok, prompt, { ...opts, seed: 1 });
    const c = generate(model, tok, prompt, { ...opts, seed: 2 });
    assert.deepEqual(a.ids, b.ids);
    assert.notDeepEqual(a.ids, c.ids);
  });

  test('bad options and prompts are reported', () => {
    assert.throws(() => generate(model, tok, [], {}), /prompt 0 is empty/);
    assert.throws(() => generate(model, tok, [VOCAB], {}), /outside the model's vocabulary/);
    assert.throws(() => generate(model, tok, [1], { temperature: -1 }), /temperature must be ≥ 0/);
    assert.throws(() => generate(model, tok, [1], { topP: 0 }), /topP must be in \(0, 1\]/);
    assert.throws(() => generate(model, tok, [1], { maxNewTokens: 0 }), /maxNewTokens must be a positive integer/);
  });
});

describe('sampleToken', () => {
  const logits = Float32Array.from([0.5, 2, -1, 1.9, 0]);

  test('temperature 0, topK 1 and a tiny topP all pick the argmax', () => {
    const rng = new Rng(1);
    assert.equal(sampleToken(logits, 0, 5, {}, rng), 1);
    for (let i = 0; i < 50; i++) {
      assert.equal(sampleToken(logits, 0, 5, { temperature: 1, topK: 1 }, rng), 1);
      assert.equal(sampleToken(logits, 0, 5, { temperature: 1, topP: 0.01 }, rng), 1);
    }
  });

  test('topK keeps only the k most likely; frequencies follow softmax(logits / temperature)', () => {
    const rng = new Rng(2);
    const counts = new Int32Array(5);
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, 0, 5, { temperature: 0.5, topK: 2 }, rng)]++;
    assert.equal(counts[0]! + counts[2]! + counts[4]!, 0);
    const p1 = 1 / (1 + Math.exp((1.9 - 2) / 0.5)); // P(token 1) among tokens {1, 3}
    assert.ok(Math.abs(counts[1]! / n - p1) < 0.015, `token 1 drawn ${counts[1]! / n}, expected ${p1}`);
  });

  test('an offset selects the row; NaN logits are an error', () => {
    const two = Float64Array.from([9, 0, 0, 0, 7]);
    assert.equal(sampleToken(two, 3, 2, {}, new Rng(0)), 1);
    assert.throws(() => sampleToken(Float32Array.from([0, NaN]), 0, 2, {}, new Rng(0)), /NaN/);
  });
});

describe('evaluateGeneration', () => {
  const model = tinyModel();
  const lines = [
    { q: 'How many users?', a: 'SELECT count(*) FROM users' },
    { q: 'Names of movies?', a: 'SELECT title FROM movies' },
    { q: 'Oldest user?', a: 'SELECT name FROM users ORDER BY age DESC LIMIT 1' },
  ];
  const jsonl = lines
    .map((l) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: l.q },
          { role: 'assistant', content: l.a },
        ],
      }),
    )
    .join('\n');
  const items = parseJsonl(jsonl, 'sql.jsonl').records.map((r) => toEvalItem(r, 'sql.jsonl'));

  test('reports per-scorer accuracy and (prediction, reference) pairs', () => {
    // Make item 1's reference the model's own greedy answer, so exactly that item must score as correct.
    const own = generate(model, tok, promptIds(tok, items[1]!), { maxNewTokens: 8 }).text;
    assert.notEqual(own.trim(), '', 'the tiny model should say something');
    const set = items.map((it, i) => (i === 1 ? { ...it, reference: own } : it));
    const r = evaluateGeneration(model, tok, set, scorersFor('sql'), { maxNewTokens: 8, showExamples: 2, progress: false, batchSize: 2 });
    assert.equal(r.items, 3);
    assert.deepEqual(
      r.scores.map((s) => s.scorer),
      ['sql-exact', 'sql-normalized'],
    );
    for (const s of r.scores) {
      assert.ok(s.accuracy >= 0 && s.accuracy <= 1);
      assert.equal(s.total, 3);
      assert.equal(s.accuracy, s.correct / 3);
    }
    assert.equal(r.scores[0]!.correct, 1, 'only the item whose reference is the model answer matches exactly');
    assert.equal(r.predictions[1], own);
    assert.equal(r.examples.length, 2);
    assert.deepEqual(
      r.examples.map((e) => e.reference),
      [lines[0]!.a, own],
    );
    assert.deepEqual(
      r.examples.map((e) => e.prediction),
      r.predictions.slice(0, 2),
    );
    assert.deepEqual(r.examples[1]!.correct, { 'sql-exact': true, 'sql-normalized': true });
    assert.equal(r.examples[0]!.line, 1);
    assert.ok(r.generatedTokens > 0 && r.generatedTokens <= 24);
  });

  test('prompts are the chat template with an open assistant turn, BOS first', () => {
    const ids = promptIds(tok, items[0]!);
    assert.equal(ids[0], tok.bosId);
    assert.equal(ids.filter((i) => i === tok.bosId).length, 1, 'BOS is not doubled');
    assert.match(tok.decode(ids), /user<\|end_header_id\|>\n\nHow many users\?<\|eot_id\|><\|start_header_id\|>assistant<\|end_header_id\|>\n\n$/);
    assert.throws(() => promptIds(tok, items[0]!, 'raw', 'sql.jsonl'), /sql\.jsonl:1: prompt format 'raw'/);
  });
});
