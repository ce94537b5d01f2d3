// Fuzz target for src/io/hf-config.ts and src/io/hf-folder.ts: a tiny model folder whose config.json (and
// sometimes generation_config.json or the weights) is hostile. Field edits aim at what the validator must
// catch: missing, negative, fractional, absurd (1e12, 2^53) or non-number sizes, heads that do not divide
// hidden_size, kv heads that do not divide heads, odd head_dim, bad RoPE scaling, unknown architectures, and
// JSON of the wrong shape (arrays, nulls, deep nesting). An accepted config must be internally consistent,
// survive serializeModelConfig → parseModelConfig unchanged, and load only weights that match it.
import * as path from 'node:path';
import type { Rng } from '../../../src/core/rng.ts';
import { CONFIG_LIMITS, parseModelConfig, readModelConfig, serializeModelConfig, type ModelConfig } from '../../../src/io/hf-config.ts';
import { expectedTensors, loadModelFolder } from '../../../src/io/hf-folder.ts';
import { Tensor } from '../../../src/core/tensor.ts';
import { planSafetensors } from '../../../src/io/safetensors.ts';
import { check, type FuzzCase, type FuzzTarget } from '../case.ts';
import { deepNesting, hostileValue, HOSTILE_NUMBERS, jsonText, Raw, RAW_NUMBERS, setOwn } from '../hostile.ts';
import { damageText, describe, mutateTree } from '../mutate-json.ts';
import { chance, intIn, pick, weighted } from '../pick.ts';
import type { FileSet, Seeds } from '../seeds.ts';
import { mutateSafetensors } from './safetensors.ts';
import { splitSafetensors } from './st-bytes.ts';

type Json = Record<string, unknown>;

const FIELDS = [
  'architectures',
  'model_type',
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'rms_norm_eps',
  'rope_theta',
  'rope_scaling',
  'rope_parameters',
  'max_position_embeddings',
  'tie_word_embeddings',
  'attention_bias',
  'mlp_bias',
  'use_sliding_window',
  'sliding_window',
  'bos_token_id',
  'eos_token_id',
  'torch_dtype',
  'dtype',
  'hidden_act',
];
const SIZE_FIELDS = [
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'max_position_embeddings',
  'sliding_window',
];

function fieldValue(rng: Rng, field: string): unknown {
  return weighted(rng, [
    [3, () => pick(rng, HOSTILE_NUMBERS)],
    [1, () => new Raw(pick(rng, RAW_NUMBERS))],
    [1, () => pick(rng, [null, '64', true, [64], { value: 64 }, ''])],
    [1, () => (field in CONFIG_LIMITS ? CONFIG_LIMITS[field as keyof typeof CONFIG_LIMITS] + pick(rng, [0, 1]) : 2 ** 20)],
    [2, () => hostileValue(rng)],
  ] as const)();
}

/** Edits that know what the fields mean (the generic tree mutator covers the rest). */
const EDITS: ((rng: Rng, c: Json) => string)[] = [
  (rng, c) => {
    const f = pick(rng, FIELDS);
    const v = fieldValue(rng, f);
    setOwn(c, f, v);
    return `${f} = ${describe(v)}`;
  },
  (rng, c) => {
    const f = pick(rng, FIELDS);
    delete c[f];
    return `deleted ${f}`;
  },
  (rng, c) => {
    const f = pick(rng, SIZE_FIELDS);
    const old = typeof c[f] === 'number' ? (c[f] as number) : 16;
    const v = pick(rng, [old + 1, old - 1, old * 3, -old, old / 2, old + 0.5, 0, old * 2 ** 20]);
    c[f] = v;
    return `${f}: ${old} → ${v}`;
  },
  (rng, c) => {
    // Head arithmetic that must not fit: heads ∤ hidden, kv ∤ heads, kv > heads, odd head_dim.
    const [f, v] = pick(rng, [
      ['num_attention_heads', 3],
      ['num_attention_heads', 5],
      ['num_key_value_heads', 3],
      ['num_key_value_heads', 4],
      ['num_key_value_heads', 0],
      ['head_dim', 7],
      ['head_dim', 3],
      ['hidden_size', 18],
      ['hidden_size', 15],
      ['head_dim', 4096],
      ['num_attention_heads', 1024],
      ['hidden_size', 65536],
      ['num_hidden_layers', 1024],
    ] as const);
    c[f] = v;
    return `${f} = ${v}`;
  },
  (rng, c) => {
    const s = pick(rng, [
      () => ({ rope_type: 'llama3', factor: pick(rng, HOSTILE_NUMBERS), low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 }),
      () => ({ rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: pick(rng, [1, 4, 4.0001]), original_max_position_embeddings: 256 }),
      () => ({
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: pick(rng, [0, 1e9, 256.5, '256', null]),
      }),
      () => ({ type: pick(rng, ['linear', 'dynamic', 'yarn', 'llama3', 'default', '', null]), factor: 2 }),
      () => ({ rope_type: hostileValue(rng) }),
      () => hostileValue(rng),
    ])();
    const where = chance(rng, 0.7) ? 'rope_scaling' : 'rope_parameters';
    if (where === 'rope_parameters' && chance(rng, 0.5) && typeof s === 'object' && s !== null) (s as Json).rope_theta = pick(rng, [10000, 0, -1, '1e4', null]);
    setOwn(c, where, s);
    return `${where} = ${describe(s)}`;
  },
  (rng, c) => {
    const [f, v] = pick(rng, [
      [
        'architectures',
        pick(rng, [[], ['GPT2LMHeadModel'], ['LlamaForCausalLM', 'Qwen2ForCausalLM'], 'LlamaForCausalLM', [null], ['__proto__'], ['constructor']]),
      ],
      ['model_type', pick(rng, ['llama', 'qwen2', 'mistral', 'gpt2', '__proto__', 'toString', null, 3])],
      ['hidden_act', pick(rng, ['gelu', 'SILU', '', null, ['silu']])],
      ['torch_dtype', pick(rng, ['float8', 'int8', 'bfloat16', 'toString', '__proto__', 16, null])],
      ['eos_token_id', pick(rng, [[], [260, -1], [1e9], 261, 260.5, '260', [[260]], 2 ** 53])],
    ] as const);
    if (f === 'architectures' && chance(rng, 0.5)) delete c.architectures;
    setOwn(c, f, v);
    return `${f} = ${describe(v)}`;
  },
  (rng, c) => {
    const f = pick(rng, FIELDS);
    const v = deepNesting(rng, pick(rng, [1000, 5000, 100_000]));
    setOwn(c, f, v);
    return `${f} = ${describe(v)}`;
  },
];

/** The weights of a seed folder rewritten with one tensor dropped, reshaped, retyped or added. */
function hostileWeights(rng: Rng, files: FileSet): { bytes: Uint8Array; note: string } {
  if (chance(rng, 0.4)) return mutateSafetensors(rng, files['model.safetensors']!);
  const { header, data } = splitSafetensors(files['model.safetensors']!);
  const tensors = new Map<string, Tensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const bytes = data.slice(e.data_offsets[0], e.data_offsets[1]);
    const dt = ({ F32: 'f32', BF16: 'bf16', F16: 'f16' } as Record<string, 'f32' | 'bf16' | 'f16'>)[e.dtype]!;
    tensors.set(name, dt === 'f32' ? new Tensor(e.shape, dt, new Float32Array(bytes.buffer)) : new Tensor(e.shape, dt, new Uint16Array(bytes.buffer)));
  }
  const names = [...tensors.keys()];
  const victim = pick(rng, names);
  const t = tensors.get(victim)!;
  let note: string;
  switch (rng.int(5)) {
    case 0:
      tensors.delete(victim);
      note = `weights: ${victim} dropped`;
      break;
    case 1: {
      const shape = t.numel > 1 && t.shape.length === 2 ? [t.shape[1]!, t.shape[0]!] : [t.numel];
      tensors.set(victim, t.reshape(shape));
      note = `weights: ${victim} reshaped to [${shape}]`;
      break;
    }
    case 2: {
      const dt = pick(rng, ['i8', 'i32', 'fp8e4m3', 'f64'] as const);
      tensors.set(victim, Tensor.zeros(t.shape, dt));
      note = `weights: ${victim} stored as ${dt}`;
      break;
    }
    case 3:
      tensors.set(pick(rng, ['model.layers.7.mlp.up_proj.weight', 'model.layers.0.self_attn.rotary_emb.inv_freq', 'extra']), Tensor.zeros([3], 'f32'));
      note = 'weights: an extra tensor';
      break;
    default: {
      const shape = t.shape.length ? [...t.shape.slice(0, -1), t.shape[t.shape.length - 1]! + 1] : [2];
      tensors.set(victim, Tensor.zeros(shape, t.dtype));
      note = `weights: ${victim} one column too many`;
    }
  }
  const { header: h, order } = planSafetensors(tensors);
  const parts = [h, ...order.map(([, x]) => new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { bytes: out, note };
}

function mutateFolder(rng: Rng, name: string, base: FileSet): FuzzCase {
  const files: Record<string, Uint8Array | string> = { ...base };
  const cfg = JSON.parse(new TextDecoder().decode(base['config.json'])) as Json;
  const op = weighted(rng, [
    [8, 'edit'],
    [2, 'tree'],
    [2, 'text'],
    [1, 'whole'],
    [1, 'generation'],
    [2, 'weights'],
    [1, 'files'],
  ] as const);
  const note = ((): string => {
    switch (op) {
      case 'edit': {
        const notes: string[] = [];
        for (let i = intIn(rng, 1, 3); i > 0; i--) notes.push(pick(rng, EDITS)(rng, cfg));
        files['config.json'] = jsonText(cfg);
        return notes.join('; ');
      }
      case 'tree': {
        const notes = mutateTree(rng, cfg, intIn(rng, 1, 3));
        files['config.json'] = jsonText(cfg);
        return notes.join('; ');
      }
      case 'text': {
        const r = damageText(rng, new TextDecoder().decode(base['config.json']));
        files['config.json'] = r.text;
        return `config.json text: ${r.note}`;
      }
      case 'whole': {
        const v = pick(rng, [[], null, '"config"', '42', 'true', '', '\ufeff{}', '{}', '[{}]']);
        files['config.json'] = v === null ? 'null' : Array.isArray(v) ? jsonText(v) : v;
        return `config.json = ${describe(files['config.json'])}`;
      }
      case 'generation': {
        const g = JSON.parse(new TextDecoder().decode(base['generation_config.json'])) as Json;
        if (chance(rng, 0.5)) {
          const v = pick(rng, [[1e12], [-1], 2 ** 53, ['a'], null, hostileValue(rng), deepNesting(rng, 100_000)]);
          setOwn(g, 'eos_token_id', v);
          files['generation_config.json'] = jsonText(g);
          return `generation_config.eos_token_id = ${describe(v)}`;
        }
        const r = damageText(rng, jsonText(g));
        files['generation_config.json'] = r.text;
        return `generation_config.json text: ${r.note}`;
      }
      case 'weights': {
        if (!('model.safetensors' in base)) {
          // Sharded seed: one shard (or the index) damaged; scanModelFolder reads it through the index.
          const shard = pick(
            rng,
            Object.keys(base).filter((f) => f.endsWith('.safetensors')),
          );
          const r = mutateSafetensors(rng, base[shard]!);
          files[shard] = r.bytes;
          return `${shard}: ${r.note}`;
        }
        const r = hostileWeights(rng, base);
        files['model.safetensors'] = r.bytes;
        return r.note;
      }
      default: {
        const what = pick(rng, ['no config', 'config folder', 'no weights', 'pickle weights']);
        if (what === 'no config') delete files['config.json'];
        if (what === 'config folder') {
          delete files['config.json'];
          files['config.json/'] = '';
        }
        if (what === 'no weights' || what === 'pickle weights') for (const f of Object.keys(files)) if (f.includes('safetensors')) delete files[f];
        if (what === 'pickle weights') files['pytorch_model.bin'] = Uint8Array.from([0x80, 0x02]);
        return what;
      }
    }
  })();
  return { files, note: `${name}: ${note}` };
}

/** What an accepted config promises the model code. */
function checkConfig(c: ModelConfig): void {
  for (const f of [
    'vocab_size',
    'hidden_size',
    'intermediate_size',
    'num_hidden_layers',
    'num_attention_heads',
    'num_key_value_heads',
    'head_dim',
    'max_position_embeddings',
  ] as const) {
    check(Number.isSafeInteger(c[f]) && c[f] >= 1, `${f} = ${c[f]} accepted`);
    if (f in CONFIG_LIMITS) check(c[f] <= CONFIG_LIMITS[f as keyof typeof CONFIG_LIMITS], `${f} = ${c[f]} above its limit accepted`);
  }
  check(c.num_attention_heads % c.num_key_value_heads === 0, 'kv heads do not divide heads');
  check(c.head_dim % 2 === 0, `odd head_dim ${c.head_dim}`);
  check(Number.isFinite(c.rms_norm_eps) && c.rms_norm_eps > 0 && c.rms_norm_eps < 1, `rms_norm_eps ${c.rms_norm_eps}`);
  check(Number.isFinite(c.rope_theta) && c.rope_theta > 0, `rope_theta ${c.rope_theta}`);
  check(c.sliding_window === null || (Number.isSafeInteger(c.sliding_window) && c.sliding_window >= 1), `sliding_window ${c.sliding_window}`);
  for (const id of [c.bos_token_id, c.eos_token_id].flat()) check(id === null || (Number.isInteger(id) && id >= 0 && id < c.vocab_size), `token id ${id}`);
}

function sameConfig(a: ModelConfig, b: ModelConfig): string | null {
  for (const k of Object.keys(a) as (keyof ModelConfig)[]) {
    if (k === 'raw') continue;
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return `${k}: ${JSON.stringify(a[k])} → ${JSON.stringify(b[k])}`;
  }
  return null;
}

export function configTarget(seeds: Seeds): FuzzTarget {
  return {
    name: 'config',
    generate(rng) {
      const f = pick(rng, seeds.folders);
      const files = Object.fromEntries(Object.entries(f.files).filter(([n]) => !n.startsWith('tokenizer') && n !== 'special_tokens_map.json'));
      return mutateFolder(rng, f.name, files);
    },
    run(dir) {
      const c = readModelConfig(path.join(dir, 'config.json'));
      checkConfig(c);
      let again: ModelConfig;
      try {
        again = parseModelConfig(JSON.parse(serializeModelConfig(c)), 'round trip');
      } catch (e) {
        check(false, `accepted config does not survive serialize → parse: ${(e as Error).message}`);
      }
      const diff = sameConfig(c, again);
      check(diff === null, `serialize → parse changed ${diff}`);
      const m = loadModelFolder(dir, { dtype: 'f32' });
      for (const t of expectedTensors(m.config)) {
        const w = m.weights.get(t.name);
        check(w, `loaded folder lacks ${t.name}`);
        check(w.shape.length === t.shape.length && w.shape.every((d, i) => d === t.shape[i]), `${t.name}: [${w.shape}] loaded, config implies [${t.shape}]`);
      }
      return m;
    },
  };
}
