// The model presets of `halo init` (src/models/presets.ts): every config.json loads with readModelConfig, and
// its shapes give the parameter count the real model publishes (its model card / Hub page) within 1%, which
// would catch a wrong width, layer count, vocabulary or tying. Plus what init does to a preset's config.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { readModelConfig } from '../../src/io/hf-config.ts';
import { expectedTensors, parameterCount } from '../../src/io/hf-folder.ts';
import { initConfigJson } from '../../src/models/init-folder.ts';
import { getPreset, PRESET_NAMES, PRESETS, presetConfigJson } from '../../src/models/presets.ts';

/** Published parameter counts (model cards / Hub pages; SmolLM2-135M's exact count from its loaded model). */
const PUBLISHED: Record<string, number> = {
  'smollm2-135m': 134_515_008,
  'smollm2-360m': 362e6,
  'qwen2.5-0.5b': 494e6,
  'qwen2.5-1.5b': 1.54e9,
  'llama-3.2-1b': 1.24e9,
  'llama-3.2-3b': 3.21e9,
  'tinyllama-1.1b': 1.1e9,
  'llama-3.1-8b': 8.03e9,
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-presets-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('model presets', () => {
  test('the presets are the eight asked for, each with a published count', () => {
    assert.deepEqual([...PRESET_NAMES].sort(), Object.keys(PUBLISHED).sort());
  });

  for (const p of PRESETS) {
    test(`${p.name}: config.json loads and has ${PUBLISHED[p.name]!.toExponential(3)} parameters within 1%`, () => {
      const file = path.join(tmp, `${p.name}.json`);
      fs.writeFileSync(file, JSON.stringify(p.config, null, 2));
      const c = readModelConfig(file);
      const n = parameterCount(c);
      const rel = Math.abs(n - PUBLISHED[p.name]!) / PUBLISHED[p.name]!;
      assert.ok(rel < 0.01, `${p.name}: ${n} parameters vs published ${PUBLISHED[p.name]} (${(100 * rel).toFixed(2)}% off)`);
      assert.equal(c.torch_dtype, 'bfloat16');
      assert.equal(c.rope_scaling?.rope_type ?? null, p.name.startsWith('llama-3') ? 'llama3' : null);
      // Keys sorted as transformers writes them.
      assert.deepEqual(Object.keys(p.config), Object.keys(p.config).sort());
    });
  }

  test('architecture details the counts alone would not catch', () => {
    const cfg = (name: string) => readModelConfigFromObject(getPreset(name).config);
    const q = cfg('qwen2.5-0.5b');
    assert.equal(q.model_type, 'qwen2');
    assert.ok(q.attention_bias && !q.o_proj_bias && q.sliding_window === null, 'Qwen2: q/k/v biases, no window');
    assert.ok(expectedTensors(q).some((t) => t.name === 'model.layers.0.self_attn.k_proj.bias' && t.shape[0] === 128));
    const l8 = cfg('llama-3.1-8b');
    assert.deepEqual(l8.rope_scaling, { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 });
    assert.equal(l8.tie_word_embeddings, false);
    assert.equal(l8.head_dim, 128);
    const l1 = cfg('llama-3.2-1b');
    assert.equal(l1.rope_scaling?.factor, 32);
    assert.equal(l1.head_dim, 64);
    assert.equal(cfg('smollm2-135m').raw.initializer_range, 1 / 24);
  });

  test('presetConfigJson copies, and --layers changes only num_hidden_layers', () => {
    const p = getPreset('llama-3.2-1b');
    const j = presetConfigJson(p, { layers: 2 });
    assert.equal(j.num_hidden_layers, 2);
    (j.rope_scaling as Record<string, unknown>).factor = 1;
    assert.equal((p.config.rope_scaling as Record<string, unknown>).factor, 32, 'the preset itself is untouched');
    const { num_hidden_layers: _a, rope_scaling: _b, ...rest } = j;
    const { num_hidden_layers: _c, rope_scaling: _d, ...orig } = p.config;
    assert.deepEqual(rest, orig);
    assert.throws(() => presetConfigJson(p, { layers: 0 }), /layers must be a positive integer/);
    assert.throws(() => getPreset('llama-9'), /unknown preset 'llama-9'; choose one of smollm2-135m, .*llama-3\.1-8b/);
  });

  test("init's config: the tokenizer's bos/eos ids and dtype; a tokenizer larger than the vocabulary is refused", () => {
    const j = initConfigJson('qwen2.5-0.5b', { vocabSize: 8192, bosId: 8187, eosId: 8191 }, { layers: 1, dtype: 'f32' });
    assert.equal(j.bos_token_id, 8187);
    assert.equal(j.eos_token_id, 8191);
    assert.equal(j.torch_dtype, 'float32');
    assert.equal(j.vocab_size, 151936);
    assert.equal(j.num_hidden_layers, 1);
    assert.throws(
      () => initConfigJson('tinyllama-1.1b', { vocabSize: 40000, bosId: 1, eosId: 2 }),
      /tokenizer has 40000 ids but preset tinyllama-1\.1b's vocab_size is 32000/,
    );
  });
});

function readModelConfigFromObject(obj: Readonly<Record<string, unknown>>) {
  const file = path.join(tmp, `cfg-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(obj));
  return readModelConfig(file);
}
