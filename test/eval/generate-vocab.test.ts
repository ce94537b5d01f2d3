// A model whose vocabulary is larger than its tokenizer's — what real checkpoints ship (padded embeddings) and
// what `halo init` writes (a real 128k vocabulary beside the small halo-tiny tokenizer). Generation must only
// ever pick ids the tokenizer can decode, greedy or sampled, even when the extra rows win the argmax;
// finetune, eval and generate accept such a folder; a tokenizer with MORE ids than the config is an error
// that names both numbers.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { Rng } from '../../src/core/rng.ts';
import { generate, generateBatch, sampleToken } from '../../src/eval/generate.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { saveModelFolder } from '../../src/io/hf-folder.ts';
import { tinyConfigJson, tinyWeights, writeTinyModelFolder, type TinyModelOptions } from '../../src/io/testing/tiny-model.ts';
import { createDecodeState, decodeStep } from '../../src/models/llama-decode.ts';
import { loadLlama } from '../../src/models/load.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import { halo } from '../helpers/run-halo.ts';

const TOKENIZER_IDS = 300;
const MODEL_VOCAB = 600;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-vocab-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A tiny folder with a `tokenizerIds`-id tokenizer and a `modelVocab`-row embedding / lm_head. */
function folder(name: string, tokenizerIds: number, modelVocab: number, boostExtra: boolean): string {
  const dir = path.join(tmp, name);
  const opts: TinyModelOptions = { hidden: 32, layers: 1, heads: 4, kvHeads: 2, intermediate: 48, vocab: tokenizerIds, std: 0.3, seed: 6 };
  writeTinyModelFolder(dir, opts); // the tokenizer files
  const json = { ...tinyConfigJson(opts), vocab_size: modelVocab };
  // The tokenizer's special ids do not fit a smaller vocabulary (the case that must be refused on load).
  if (modelVocab < tokenizerIds) Object.assign(json, { bos_token_id: null, eos_token_id: null });
  const config = parseModelConfig(json, 'vocab test config');
  const weights = tinyWeights(config, 6, 'f32', 0.3);
  if (boostExtra) {
    // Rows past the tokenizer = 100 × rows inside it: whatever the hidden state, the unmasked argmax is a padded id.
    const w = weights.get('lm_head.weight')!.data;
    const H = config.hidden_size;
    for (let r = tokenizerIds; r < modelVocab; r++) for (let k = 0; k < H; k++) w[r * H + k] = 100 * w[(r % tokenizerIds) * H + k]!;
  }
  saveModelFolder(dir, { config, weights });
  return dir;
}

const big = folder('big-vocab', TOKENIZER_IDS, MODEL_VOCAB, true);

describe('a model vocabulary larger than the tokenizer', () => {
  test('greedy and sampled generation only produce ids the tokenizer has', () => {
    const { model } = loadLlama(big, { halo: haloConfig({ level: 'none', format: 'fp32' }), backend: 'reference', trainable: () => false });
    const tok = loadTokenizer(big);
    assert.equal(tok.vocabSize, TOKENIZER_IDS);
    assert.equal(model.dims.V, MODEL_VOCAB);
    const prompt = tok.encode('SELECT name FROM users');
    // The bug this guards against: unmasked, the first greedy token is a padded row.
    const state = createDecodeState(model, 1, prompt.length);
    const logits = decodeStep(
      model,
      state,
      Int32Array.from(prompt),
      Int32Array.from(prompt, (_, i) => i),
    );
    const unmasked = sampleToken(logits, 0, MODEL_VOCAB, { temperature: 0 }, new Rng(0));
    assert.ok(unmasked >= TOKENIZER_IDS, `test setup: unmasked argmax ${unmasked} should be a padded id`);
    const masked = sampleToken(logits, 0, TOKENIZER_IDS, { temperature: 0 }, new Rng(0));

    const g = generate(model, tok, prompt, { maxNewTokens: 6, stopIds: [] });
    assert.equal(g.ids[0] ?? g.stopId, masked, "greedy picks the best id among the tokenizer's");
    for (const id of g.ids) assert.ok(id < TOKENIZER_IDS, `greedy produced id ${id}`);
    assert.equal(typeof g.text, 'string');
    for (const seed of [1, 2, 3]) {
      const [a, b] = generateBatch(model, tok, [prompt, tok.encode('hi')], { maxNewTokens: 8, temperature: 1.5, topK: 0, seed });
      for (const id of [...a!.ids, ...b!.ids]) assert.ok(id < TOKENIZER_IDS, `sampling (seed ${seed}) produced id ${id}`);
    }
  });

  test('halo generate, eval and finetune accept the folder', async () => {
    const [gen, ev, ft] = await Promise.all([
      halo('generate', '--model', big, '--prompt', 'hello', '--max-new-tokens', '5', '--temperature', '1', '--seed', '4'),
      halo('eval', '--model', big, '--data', 'data/sql/eval.jsonl::2', '--metric', 'sql', '--max-new-tokens', '4'),
      halo(
        'finetune',
        '--model',
        big,
        '--data',
        'data/sql/eval.jsonl::4',
        '--max-steps',
        '1',
        '--batch-size',
        '2',
        '--save-every',
        '0',
        '--out',
        path.join(tmp, 'ft'),
        '--level',
        'none',
        '--format',
        'fp32',
      ),
    ]);
    assert.equal(gen.code, 0, gen.err);
    assert.match(gen.err, /5 generated|stopped at/);
    assert.equal(ev.code, 0, ev.err);
    assert.match(ev.out, /^sql accuracy on 2 items/);
    assert.equal(ft.code, 0, ft.err);
    assert.match(ft.out, /^done: 1 steps/);
  });

  test('a tokenizer with more ids than config.json vocab_size is an error naming both numbers', async () => {
    const small = folder('small-vocab', TOKENIZER_IDS, 280, false);
    const [ev, ft] = await Promise.all([
      halo('eval', '--model', small, '--data', 'data/sql/eval.jsonl::2', '--metric', 'loss'),
      halo('finetune', '--model', small, '--data', 'data/sql/eval.jsonl::2', '--max-steps', '1', '--out', path.join(tmp, 'ft-small')),
    ]);
    for (const r of [ev, ft]) {
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /tokenizer\.json has 300 tokens but config\.json vocab_size is 280/);
    }
  });
});
