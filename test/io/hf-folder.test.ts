import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { bf16BitsToF32 } from '../../src/io/cast.ts';
import { checkTensors, loadModelFolder, saveModelFolder, scanModelFolder } from '../../src/io/hf-folder.ts';
import { INDEX_FILE } from '../../src/io/safetensors-index.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-folder-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const newDir = (tag = 'm') => path.join(tmp, `${tag}${n++}`);

const bytesOf = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

function assertSameWeights(a: ReadonlyMap<string, Tensor>, b: ReadonlyMap<string, Tensor>): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.equal(u.dtype, t.dtype, k);
    assert.deepEqual(u.shape, t.shape, k);
    assert.ok(bytesOf(u).equals(bytesOf(t)), `${k}: bytes differ`);
  }
}

function expectErr(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof HaloError && e.code === code && re.test(e.message), `${code} ${re}`);
}

describe('HF model folders', () => {
  for (const [arch, dtype] of [
    ['llama', 'f32'],
    ['llama', 'bf16'],
    ['qwen2', 'f16'],
    ['qwen2', 'bf16'],
    ['mistral', 'bf16'],
  ] as const) {
    it(`${arch} ${dtype}: write → load → save → load keeps tensors, config and tokenizer files byte-identical`, () => {
      const src = newDir(arch);
      const tiny = writeTinyModelFolder(src, { arch, dtype, seed: 11, tied: arch === 'qwen2' });
      const m = loadModelFolder(src);
      assert.equal(m.dtype, dtype);
      assert.equal(m.config.architecture, tiny.config.architecture);
      assert.deepEqual(m.check, { missing: [], unexpected: [], misshaped: [], ignored: [], extraLayers: [] });
      assertSameWeights(m.weights, tiny.weights);
      if (arch === 'qwen2') {
        assert.ok(m.weights.has('model.layers.1.self_attn.q_proj.bias'));
        assert.ok(!m.weights.has('model.layers.1.self_attn.o_proj.bias'));
        assert.ok(!m.weights.has('lm_head.weight'), 'tied');
      } else assert.ok(m.weights.has('lm_head.weight'));
      assert.deepEqual(m.tokenizerFiles, ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']);

      const dst = newDir('copy');
      const written = saveModelFolder(dst, { config: m.config, weights: m.weights, tokenizerFrom: src });
      assert.deepEqual(written.slice(0, 2), ['config.json', 'model.safetensors']);
      for (const f of ['config.json', 'model.safetensors', ...m.tokenizerFiles]) {
        assert.ok(fs.readFileSync(path.join(src, f)).equals(fs.readFileSync(path.join(dst, f))), `${f} differs`);
      }
      const m2 = loadModelFolder(dst);
      assertSameWeights(m2.weights, m.weights);
      assert.deepEqual({ ...m2.config, raw: null }, { ...m.config, raw: null });
      assert.deepEqual(readSafetensors(path.join(dst, 'model.safetensors')).metadata, { format: 'pt' });
    });
  }

  it('is deterministic: the same options write identical folders', () => {
    const a = newDir();
    const b = newDir();
    writeTinyModelFolder(a, { seed: 5, dtype: 'bf16' });
    writeTinyModelFolder(b, { seed: 5, dtype: 'bf16' });
    for (const f of fs.readdirSync(a)) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), f);
    const c = newDir();
    writeTinyModelFolder(c, { seed: 6, dtype: 'bf16' });
    assert.ok(!fs.readFileSync(path.join(a, 'model.safetensors')).equals(fs.readFileSync(path.join(c, 'model.safetensors'))));
  });

  it('loads and saves sharded checkpoints, and cleans up stale shards', () => {
    const src = newDir('sharded');
    const tiny = writeTinyModelFolder(src, { arch: 'qwen2', dtype: 'bf16', maxShardBytes: 40_000 });
    const info = scanModelFolder(src);
    assert.ok(info.sharded);
    assert.equal(info.weightFiles[0], INDEX_FILE);
    assert.ok(info.weightFiles.length > 3, `${info.weightFiles}`);
    const m = loadModelFolder(src);
    assertSameWeights(m.weights, tiny.weights);
    // Save sharded differently, then as one file into the same folder: no old shard may remain.
    const dst = newDir('resharded');
    saveModelFolder(dst, { config: m.config, weights: m.weights, maxShardBytes: 60_000 });
    assertSameWeights(loadModelFolder(dst).weights, tiny.weights);
    saveModelFolder(dst, { config: m.config, weights: m.weights });
    assert.deepEqual(fs.readdirSync(dst).sort(), ['config.json', 'model.safetensors']);
    assertSameWeights(loadModelFolder(dst).weights, tiny.weights);
  });

  it('converts on load (bf16 → f32) and on save (f32 → bf16, config torch_dtype follows)', () => {
    const src = newDir();
    const tiny = writeTinyModelFolder(src, { dtype: 'bf16' });
    const m = loadModelFolder(src, { dtype: 'f32' });
    assert.equal(m.dtype, 'bf16', 'the stored dtype');
    const w = m.weights.get('model.layers.0.mlp.up_proj.weight')!;
    assert.equal(w.dtype, 'f32');
    const raw = tiny.weights.get('model.layers.0.mlp.up_proj.weight')!;
    for (let i = 0; i < 50; i++) assert.equal(w.data[i], bf16BitsToF32(raw.data[i]!));
    const dst = newDir();
    saveModelFolder(dst, { config: { ...m.config, torch_dtype: 'float32' }, weights: m.weights, dtype: 'bf16' });
    const back = loadModelFolder(dst);
    assert.equal(back.config.torch_dtype, 'bfloat16');
    assertSameWeights(back.weights, tiny.weights);
  });

  it('reports missing, mis-shaped and unexpected tensors by name; ignores rotary inv_freq', () => {
    const dir = newDir();
    const tiny = writeTinyModelFolder(dir, { layers: 1 });
    const w = new Map(tiny.weights);
    w.delete('model.layers.0.mlp.down_proj.weight');
    w.set('model.norm.weight', Tensor.zeros([63], 'f32'));
    w.set('model.layers.0.extra.weight', Tensor.zeros([2], 'f32'));
    w.set('model.layers.0.self_attn.rotary_emb.inv_freq', Tensor.zeros([8], 'f32'));
    const r = checkTensors(
      tiny.config,
      [...w].map(([name, t]) => ({ name, shape: t.shape })),
    );
    assert.deepEqual(r.missing, ['model.layers.0.mlp.down_proj.weight']);
    assert.deepEqual(r.misshaped, [{ name: 'model.norm.weight', expected: [64], actual: [63] }]);
    assert.deepEqual(r.unexpected, ['model.layers.0.extra.weight']);
    assert.deepEqual(r.ignored, ['model.layers.0.self_attn.rotary_emb.inv_freq']);

    writeSafetensors(path.join(dir, 'model.safetensors'), w);
    expectErr(
      () => loadModelFolder(dir),
      'E_FORMAT',
      /missing model\.layers\.0\.mlp\.down_proj\.weight; wrong shape model\.norm\.weight \[63\] \(expected \[64\]\)/,
    );
    const loose = loadModelFolder(dir, { strict: false });
    assert.deepEqual(loose.check.unexpected, ['model.layers.0.extra.weight']);
    assert.ok(!loose.weights.has('model.layers.0.self_attn.rotary_emb.inv_freq'));
    expectErr(() => saveModelFolder(newDir(), { config: tiny.config, weights: w }), 'E_SHAPE', /missing model\.layers\.0\.mlp\.down_proj\.weight/);
  });

  it('gives clear errors for wrong paths, missing files and pickle checkpoints', () => {
    expectErr(() => loadModelFolder(path.join(tmp, 'does-not-exist')), 'E_IO', /^no such model folder: .*does-not-exist/);
    const empty = newDir('empty');
    fs.mkdirSync(empty);
    expectErr(() => loadModelFolder(empty), 'E_IO', /^no config\.json in /);
    const dir = newDir();
    writeTinyModelFolder(dir);
    expectErr(() => loadModelFolder(path.join(dir, 'config.json')), 'E_IO', /no such model folder: .*\(it is a file\)/);
    fs.rmSync(path.join(dir, 'model.safetensors'));
    expectErr(() => loadModelFolder(dir), 'E_IO', /no model\.safetensors or model\.safetensors\.index\.json in /);
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), Buffer.from([0x80, 0x02]));
    expectErr(() => loadModelFolder(dir), 'E_UNSUPPORTED', /pytorch_model\.bin is a PyTorch pickle checkpoint.*safetensors/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"architectures": ["LlamaForCausalLM"], ');
    expectErr(() => loadModelFolder(dir), 'E_FORMAT', /config\.json: not valid JSON/);
  });

  it('collects generation stop ids from generation_config.json and config.json', () => {
    const dir = newDir();
    const tiny = writeTinyModelFolder(dir);
    const info = scanModelFolder(dir);
    assert.deepEqual(info.eosTokenIds, [tiny.specialIds['<|end_of_text|>'], tiny.specialIds['<|eot_id|>']]);
  });

  it('tiny-model options: GQA shapes, head_dim, Llama biases, size limits', () => {
    const dir = newDir();
    const t = writeTinyModelFolder(dir, {
      hidden: 48,
      heads: 6,
      kvHeads: 3,
      headDim: 10,
      intermediate: 40,
      layers: 1,
      vocab: 300,
      attentionBias: true,
      mlpBias: true,
    });
    assert.deepEqual(t.weights.get('model.layers.0.self_attn.k_proj.weight')!.shape, [30, 48]);
    assert.deepEqual(t.weights.get('model.layers.0.self_attn.o_proj.weight')!.shape, [48, 60]);
    assert.ok(t.weights.has('model.layers.0.self_attn.o_proj.bias'));
    assert.ok(t.weights.has('model.layers.0.mlp.down_proj.bias'));
    assert.deepEqual(t.weights.get('model.embed_tokens.weight')!.shape, [300, 48]);
    expectErr(() => writeTinyModelFolder(newDir(), { vocab: 100 }), 'E_ARG', /vocab ≥ 261, got 100/);
    expectErr(() => writeTinyModelFolder(newDir(), { arch: 'qwen2', mlpBias: true }), 'E_ARG', /Llama options/);
  });
});
