import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { modelConfigToJson, parseModelConfig, serializeModelConfig } from '../../src/io/hf-config.ts';
import { expectedTensors, parameterCount } from '../../src/io/hf-folder.ts';

// config.json of published checkpoints, as on the Hub.
const LLAMA31_8B = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.0.dev0',
  use_cache: true,
  vocab_size: 128256,
};

const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.1',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const MISTRAL_7B_V03 = {
  architectures: ['MistralForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000.0,
  sliding_window: null,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.42.0.dev0',
  use_cache: true,
  vocab_size: 32768,
};

function expectField(json: Record<string, unknown>, code: 'E_FORMAT' | 'E_UNSUPPORTED', re: RegExp): void {
  assert.throws(
    () => parseModelConfig(json, 'my/config.json'),
    (e: unknown) => e instanceof HaloError && e.code === code && e.message.startsWith('my/config.json: ') && re.test(e.message),
    `expected ${code} ${re}`,
  );
}

describe('parseModelConfig', () => {
  it('reads Llama 3.1 8B (GQA, llama3 RoPE scaling, eos list) — 8,030,261,248 parameters', () => {
    const c = parseModelConfig(LLAMA31_8B);
    assert.equal(c.architecture, 'LlamaForCausalLM');
    assert.equal(c.model_type, 'llama');
    assert.equal(c.head_dim, 128);
    assert.equal(c.num_key_value_heads, 8);
    assert.deepEqual(c.rope_scaling, { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 });
    assert.equal(c.rope_theta, 500000);
    assert.deepEqual(c.eos_token_id, [128001, 128008, 128009]);
    assert.equal(c.bos_token_id, 128000);
    assert.equal(c.torch_dtype, 'bfloat16');
    assert.equal(c.attention_bias, false);
    assert.equal(c.o_proj_bias, false);
    assert.equal(c.sliding_window, null);
    assert.equal(parameterCount(c), 8_030_261_248);
    assert.equal(expectedTensors(c).length, 32 * 9 + 3);
  });

  it('reads Qwen2.5 0.5B (q/k/v biases, no o_proj bias, tied) — 494,032,768 parameters', () => {
    const c = parseModelConfig(QWEN25_05B);
    assert.equal(c.model_type, 'qwen2');
    assert.equal(c.attention_bias, true);
    assert.equal(c.o_proj_bias, false);
    assert.equal(c.mlp_bias, false);
    assert.equal(c.tie_word_embeddings, true);
    assert.equal(c.head_dim, 64);
    assert.equal(c.sliding_window, null, 'use_sliding_window is false');
    assert.equal(parameterCount(c), 494_032_768);
    const names = expectedTensors(c).map((t) => t.name);
    assert.ok(names.includes('model.layers.23.self_attn.k_proj.bias'));
    assert.ok(!names.includes('model.layers.0.self_attn.o_proj.bias'));
    assert.ok(!names.includes('lm_head.weight'));
    assert.deepEqual(expectedTensors(c).find((t) => t.name === 'model.layers.0.self_attn.v_proj.weight')!.shape, [128, 896]);
  });

  it('reads Mistral 7B v0.3 (no biases, null sliding window)', () => {
    const c = parseModelConfig(MISTRAL_7B_V03);
    assert.equal(c.model_type, 'mistral');
    assert.equal(c.attention_bias, false);
    assert.equal(c.sliding_window, null);
    assert.equal(c.max_position_embeddings, 32768);
    assert.equal(parseModelConfig({ ...MISTRAL_7B_V03, sliding_window: 4096 }).sliding_window, 4096);
  });

  it('fills the defaults of transformers config classes', () => {
    const { num_key_value_heads: _k, rope_theta: _r, rms_norm_eps: _e, max_position_embeddings: _m, architectures: _a, ...rest } = LLAMA31_8B;
    const c = parseModelConfig({ ...rest, rope_scaling: null });
    assert.equal(c.architecture, 'LlamaForCausalLM', 'from model_type');
    assert.equal(c.num_key_value_heads, 32);
    assert.equal(c.rope_theta, 10000);
    assert.equal(c.rms_norm_eps, 1e-6);
    assert.equal(c.max_position_embeddings, 2048);
    assert.equal(c.rope_scaling, null);
    assert.equal(parseModelConfig({ ...LLAMA31_8B, rope_scaling: { rope_type: 'default' } }).rope_scaling, null);
  });

  it('takes an explicit head_dim that does not divide hidden (Mistral Nemo style)', () => {
    const c = parseModelConfig({ ...MISTRAL_7B_V03, hidden_size: 5120, head_dim: 128 });
    assert.equal(c.head_dim, 128);
    assert.deepEqual(expectedTensors(c).find((t) => t.name === 'model.layers.0.self_attn.o_proj.weight')!.shape, [5120, 4096]);
  });

  it('reads transformers-5 style rope_parameters and dtype', () => {
    const { rope_scaling, rope_theta: _t, torch_dtype: _d, ...rest } = LLAMA31_8B;
    const c = parseModelConfig({ ...rest, dtype: 'bfloat16', rope_parameters: { ...rope_scaling, rope_theta: 500000 } });
    assert.equal(c.rope_theta, 500000);
    assert.equal(c.rope_scaling?.factor, 8);
    assert.equal(c.torch_dtype, 'bfloat16');
    const j = modelConfigToJson({ ...c, rope_theta: 1000 });
    assert.equal((j.rope_parameters as Record<string, unknown>).rope_theta, 1000);
    assert.equal(j.dtype, 'bfloat16');
    assert.equal(j.torch_dtype, undefined);
    assert.equal(j.rope_theta, undefined);
  });

  it('Llama attention_bias puts biases on q/k/v and o_proj; mlp_bias on the MLP', () => {
    const c = parseModelConfig({ ...LLAMA31_8B, attention_bias: true, mlp_bias: true, num_hidden_layers: 1 });
    const names = expectedTensors(c).map((t) => t.name);
    for (const p of ['q', 'k', 'v', 'o']) assert.ok(names.includes(`model.layers.0.self_attn.${p}_proj.bias`), p);
    for (const p of ['gate', 'up', 'down']) assert.ok(names.includes(`model.layers.0.mlp.${p}_proj.bias`), p);
  });
});

describe('parseModelConfig errors name the field', () => {
  const L = LLAMA31_8B as Record<string, unknown>;
  const without = (k: string) => Object.fromEntries(Object.entries(L).filter(([x]) => x !== k));
  it('missing required fields', () => {
    for (const k of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads']) {
      expectField(without(k), 'E_FORMAT', new RegExp(`missing required field '${k}'`));
    }
  });
  it('non-integer, negative, zero and absurd values', () => {
    expectField({ ...L, hidden_size: 4096.5 }, 'E_FORMAT', /'hidden_size' must be an integer, got 4096.5/);
    expectField({ ...L, hidden_size: '4096' }, 'E_FORMAT', /'hidden_size' must be an integer, got "4096"/);
    expectField({ ...L, num_hidden_layers: -1 }, 'E_FORMAT', /'num_hidden_layers' must be ≥ 1, got -1/);
    expectField({ ...L, intermediate_size: 0 }, 'E_FORMAT', /'intermediate_size' must be ≥ 1/);
    expectField({ ...L, vocab_size: 1e12 }, 'E_FORMAT', /'vocab_size' is absurdly large/);
    expectField({ ...L, max_position_embeddings: 2 ** 40 }, 'E_FORMAT', /'max_position_embeddings' is absurdly large/);
    expectField({ ...L, rms_norm_eps: 0 }, 'E_FORMAT', /'rms_norm_eps' must be > 0/);
    expectField({ ...L, rms_norm_eps: 'x' }, 'E_FORMAT', /'rms_norm_eps' must be a finite number/);
    expectField({ ...L, rope_theta: -5 }, 'E_FORMAT', /'rope_theta' must be > 0/);
    expectField({ ...L, tie_word_embeddings: 'yes' }, 'E_FORMAT', /'tie_word_embeddings' must be true or false/);
    expectField({ ...L, eos_token_id: 200000 }, 'E_FORMAT', /'eos_token_id' must be a token id/);
    expectField({ ...L, bos_token_id: [1.5] }, 'E_FORMAT', /'bos_token_id'/);
    expectField({ ...L, torch_dtype: 'int4' }, 'E_FORMAT', /'torch_dtype' must be one of/);
  });
  it('heads that do not divide', () => {
    const { head_dim: _h, ...base } = { ...L, head_dim: undefined };
    expectField({ ...base, num_attention_heads: 30, num_key_value_heads: 10 }, 'E_FORMAT', /'num_attention_heads' \(30\) must divide hidden_size \(4096\)/);
    expectField({ ...L, num_key_value_heads: 5 }, 'E_FORMAT', /'num_key_value_heads' \(5\) must divide num_attention_heads \(32\)/);
    expectField({ ...L, num_key_value_heads: 64 }, 'E_FORMAT', /'num_key_value_heads'/);
    expectField({ ...L, head_dim: 127 }, 'E_FORMAT', /'head_dim' must be even/);
  });
  it('RoPE scaling', () => {
    expectField({ ...L, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'E_UNSUPPORTED', /rope_scaling type "yarn" is not supported/);
    expectField({ ...L, rope_scaling: { type: 'linear', factor: 4 } }, 'E_UNSUPPORTED', /"linear"/);
    expectField({ ...L, rope_scaling: { ...LLAMA31_8B.rope_scaling, factor: undefined } }, 'E_FORMAT', /'rope_scaling.factor' must be a number/);
    expectField(
      { ...L, rope_scaling: { ...LLAMA31_8B.rope_scaling, high_freq_factor: 0.5 } },
      'E_FORMAT',
      /'rope_scaling.high_freq_factor' must be a number > 1/,
    );
    expectField({ ...L, rope_scaling: { ...LLAMA31_8B.rope_scaling, original_max_position_embeddings: 1e9 } }, 'E_FORMAT', /original_max_position_embeddings/);
    expectField({ ...L, rope_scaling: 'llama3' }, 'E_FORMAT', /'rope_scaling' must be an object or null/);
  });
  it('architecture and activation', () => {
    expectField(
      { ...L, architectures: ['Qwen3ForCausalLM'] },
      'E_UNSUPPORTED',
      /\["Qwen3ForCausalLM"\] is not supported; halo loads LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM/,
    );
    expectField({ ...without('architectures'), model_type: 'gpt2' }, 'E_UNSUPPORTED', /model_type "gpt2"/);
    expectField({ ...L, architectures: 'LlamaForCausalLM' }, 'E_FORMAT', /'architectures' must be a non-empty list/);
    expectField({ ...L, hidden_act: 'gelu' }, 'E_UNSUPPORTED', /'hidden_act' is "gelu"/);
    assert.throws(
      () => parseModelConfig([1]),
      (e: HaloError) => e.code === 'E_FORMAT' && /not a JSON object/.test(e.message),
    );
  });
});

describe('serializeModelConfig', () => {
  for (const [name, json] of [
    ['llama', LLAMA31_8B],
    ['qwen2', QWEN25_05B],
    ['mistral', MISTRAL_7B_V03],
  ] as const) {
    it(`round-trips ${name}: every original field kept, values equal, keys sorted`, () => {
      const c = parseModelConfig(json);
      const text = serializeModelConfig(c);
      assert.ok(text.endsWith('}\n'));
      const out = JSON.parse(text) as Record<string, unknown>;
      assert.deepEqual(out, { ...json, ...out }, 'no original field changed');
      for (const k of Object.keys(json)) assert.ok(k in out, `kept ${k}`);
      assert.deepEqual(Object.keys(out), Object.keys(out).sort());
      const c2 = parseModelConfig(out);
      assert.deepEqual({ ...c2, raw: null }, { ...c, raw: null });
    });
  }

  it('writes changed values and unknown fields', () => {
    const c = parseModelConfig({ ...QWEN25_05B, my_field: { nested: [1, 2] } });
    const out = modelConfigToJson({ ...c, vocab_size: 151000, torch_dtype: 'float32' });
    assert.equal(out.vocab_size, 151000);
    assert.equal(out.torch_dtype, 'float32');
    assert.deepEqual(out.my_field, { nested: [1, 2] });
    assert.equal(out.attention_bias, undefined, 'Qwen2Config has no attention_bias field');
  });

  it('refuses a bias layout the architecture cannot express', () => {
    const c = parseModelConfig(QWEN25_05B);
    assert.throws(
      () => modelConfigToJson({ ...c, o_proj_bias: true }),
      (e: HaloError) => e.code === 'E_ARG',
    );
    const l = parseModelConfig(LLAMA31_8B);
    assert.throws(
      () => modelConfigToJson({ ...l, o_proj_bias: true }),
      (e: HaloError) => e.code === 'E_ARG',
    );
  });
});
