// `halo init` end to end, as a user runs it: a preset at real widths with one layer, sharded by a small
// --max-shard-size, read back by loadModelFolder with the shapes the config implies; the seed decides the
// bytes; bf16 is the f32 init rounded; a non-empty --out is refused (and --overwrite replaces a folder's
// weight files); an unknown preset exits 2 naming the choices.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { castTensor } from '../../src/io/cast.ts';
import { expectedTensors, loadModelFolder, scanModelFolder } from '../../src/io/hf-folder.ts';
import { initModelFolder } from '../../src/models/init-folder.ts';
import { PRESET_NAMES } from '../../src/models/presets.ts';
import { halo, repoRoot } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-init-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const HALO_TINY = path.join(repoRoot, 'models/halo-tiny');

function weightDigest(dir: string): string {
  const h = createHash('sha256');
  for (const f of fs
    .readdirSync(dir)
    .filter((f) => f.includes('safetensors'))
    .sort())
    h.update(f).update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex');
}

describe('halo init', { concurrency: true }, () => {
  test('a 1-layer smollm2-135m, sharded, loads back with the real shapes in bf16', async () => {
    const out = path.join(tmp, 'sharded');
    const r = await halo('init', '--preset', 'smollm2-135m', '--layers', '1', '--out', out, '--max-shard-size', '5MB', '--seed', '3');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^wrote .*: smollm2-135m \(1 layer, hidden 576, vocab 49152\), 31,852,224 parameters as bf16/);
    assert.match(r.err, /init smollm2-135m .*100\/100/);
    const files = fs.readdirSync(out);
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.ok(shards.length >= 3, files.join(', '));
    assert.ok(files.includes('model.safetensors.index.json') && !files.includes('model.safetensors'));
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'])
      assert.ok(files.includes(f), f);
    const index = JSON.parse(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8'));
    assert.equal(index.metadata.total_size, 31_852_224 * 2);
    for (const s of shards)
      assert.ok(
        fs.statSync(path.join(out, s)).size < 5e6 || Object.values(index.weight_map).filter((v) => v === s).length === 1,
        `${s} is over 5 MB with several tensors`,
      );

    const m = loadModelFolder(out);
    assert.equal(m.dtype, 'bf16');
    assert.equal(m.config.vocab_size, 49152);
    assert.equal(m.config.num_hidden_layers, 1);
    assert.deepEqual(
      [...m.weights.keys()].sort(),
      expectedTensors(m.config)
        .map((t) => t.name)
        .sort(),
    );
    for (const t of expectedTensors(m.config)) assert.deepEqual(m.weights.get(t.name)!.shape, t.shape, t.name);
    // transformers' init: norms 1, linears and embedding ~ N(0, initializer_range²)
    const f32 = loadModelFolder(out, { dtype: 'f32' }).weights;
    assert.ok(f32.get('model.norm.weight')!.data.every((v) => v === 1));
    const e = f32.get('model.embed_tokens.weight')!.data;
    let s = 0,
      s2 = 0;
    for (const v of e) {
      s += v;
      s2 += v * v;
    }
    const std = Math.sqrt(s2 / e.length - (s / e.length) ** 2);
    assert.ok(Math.abs(std - 1 / 24) < 1e-3, `embedding std ${std}, initializer_range 1/24`);
    assert.ok(Math.abs(s / e.length) < 1e-4);
    // The halo-tiny tokenizer: its bos/eos in config.json and generation_config.json; the real vocabulary kept.
    const info = scanModelFolder(out);
    assert.equal(info.config.bos_token_id, 8187);
    assert.deepEqual(info.eosTokenIds, [8191]);
    assert.equal(describeProblems(info.check), '');
  });

  test('the seed decides the bytes; --layers keeps layer 0; bf16 is the f32 init rounded', () => {
    const run = (name: string, o: Partial<Parameters<typeof initModelFolder>[0]>) => {
      const out = path.join(tmp, name);
      initModelFolder({ preset: 'qwen2.5-0.5b', out, tokenizerFrom: HALO_TINY, layers: 1, seed: 1, ...o });
      return out;
    };
    const a = run('seed1a', {});
    const b = run('seed1b', {});
    const c = run('seed2', { seed: 2 });
    assert.equal(weightDigest(a), weightDigest(b));
    assert.notEqual(weightDigest(a), weightDigest(c));
    const two = loadModelFolder(run('two-layers', { layers: 2 })).weights;
    const one = loadModelFolder(a).weights;
    for (const [name, t] of one) assert.deepEqual(two.get(name)!.data, t.data, name);
    // Qwen2's q/k/v biases are there, and zero.
    assert.ok(one.get('model.layers.0.self_attn.q_proj.bias')!.data.every((v) => v === 0));
    const f = loadModelFolder(run('f32', { dtype: 'f32' }));
    assert.equal(f.dtype, 'f32');
    assert.equal(f.config.torch_dtype, 'float32');
    const w = f.weights.get('model.layers.0.mlp.down_proj.weight')!;
    assert.deepEqual(castTensor(w, 'bf16').data, one.get('model.layers.0.mlp.down_proj.weight')!.data);
  });

  test('a non-empty --out is refused; --overwrite replaces the old weight files', async () => {
    const out = path.join(tmp, 'busy');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const r = await halo('init', '--preset', 'smollm2-135m', '--layers', '1', '--out', out);
    assert.equal(r.code, 2, r.err);
    assert.ok(r.err.includes(out) && /not empty \(notes\.txt\).*--overwrite/.test(r.err), r.err);
    assert.deepEqual(fs.readdirSync(out), ['notes.txt']);
    // An earlier sharded model in the folder, then a single-file one over it: no stale shard or index left.
    initModelFolder({ preset: 'smollm2-135m', out, tokenizerFrom: HALO_TINY, layers: 1, maxShardBytes: 20e6, overwrite: true });
    assert.ok(fs.existsSync(path.join(out, 'model.safetensors.index.json')));
    const again = await halo('init', '--preset', 'smollm2-135m', '--layers', '1', '--out', out, '--overwrite');
    assert.equal(again.code, 0, again.err);
    const files = fs.readdirSync(out).sort();
    assert.deepEqual(
      files.filter((f) => f.includes('safetensors')),
      ['model.safetensors'],
    );
    assert.ok(files.includes('notes.txt'), 'files that are not model files are left alone');
    assert.equal(loadModelFolder(out).config.num_hidden_layers, 1);
  });

  test('an unknown preset exits 2 naming the choices; --list lists them', async () => {
    const r = await halo('init', '--preset', 'llama-9b', '--out', path.join(tmp, 'x'));
    assert.equal(r.code, 2);
    for (const n of PRESET_NAMES) assert.ok(r.err.includes(n), r.err);
    assert.match(r.err, /llama-9b/);
    const missing = await halo('init', '--out', path.join(tmp, 'y'));
    assert.equal(missing.code, 2);
    assert.match(missing.err, /missing --preset; choose one of smollm2-135m/);
    const bad = await halo('init', '--preset', 'smollm2-135m', '--out', path.join(tmp, 'z'), '--max-shard-size', 'lots');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--max-shard-size takes a positive size in bytes.*'lots'/);
    const list = await halo('init', '--list');
    assert.equal(list.code, 0, list.err);
    for (const n of PRESET_NAMES) assert.match(list.out, new RegExp(`^${n.replace(/\./g, '\\.')} .*`, 'm'));
    assert.match(list.out, /llama-3\.1-8b +meta-llama\/Llama-3\.1-8B +llama +32 +4096 +32\/8 +128256 +no +8\.03B +16\.06 GB/);
  });
});

function describeProblems(c: { missing: string[]; misshaped: unknown[] }): string {
  return [...c.missing, ...c.misshaped.map(String)].join(', ');
}
