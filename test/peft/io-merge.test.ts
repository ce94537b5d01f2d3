// Adapters on disk and merged: the PEFT folder layout (adapter_config.json fields, tensor names and shapes,
// no absolute paths), a reload that reproduces the logits bit for bit, merged weights whose plain model gives
// the adapted model's logits (≤ 1e-5 relative, f32), `halo merge` writing a loadable HF folder, and clear
// errors for folders halo cannot use.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { mergeCommand } from '../../src/cli/commands/merge.ts';
import { parseArgs } from '../../src/cli/args.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import type { Adapter } from '../../src/peft/adapter.ts';
import { buildAdapters, type PeftMethod } from '../../src/peft/build.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loadPeft, portableModelName, savePeft } from '../../src/peft/io.ts';
import { loadPeftLlama } from '../../src/peft/load.ts';
import { mergeWeights } from '../../src/peft/merge.ts';
import { batchOf, maxRelDiff, randomizeAdapters, tinyModel } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-peft-io-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const fp32 = haloConfig({ level: 'none', format: 'fp32' });

function adapted(method: PeftMethod, targetModules?: string[]) {
  const { config, weights } = tinyModel();
  const adapters = buildAdapters(config, { method, rank: 4, alpha: 8, dropout: 0.05, seed: 3, targetModules }, { backend: referenceBackend });
  randomizeAdapters(adapters, 21, 0.3);
  for (const a of adapters.values()) if ('training' in a) a.training = false;
  const model = (ad: ReadonlyMap<string, Adapter>) =>
    new LlamaModel(config, weights, { halo: fp32, backend: referenceBackend, trainable: () => false, adapters: ad });
  return { config, weights, adapters, model };
}

describe('PEFT folder layout', () => {
  test('LoRA: adapter_config.json has LoraConfig fields, tensors have peft names and [r,in] / [out,r] shapes', () => {
    const { adapters } = adapted('lora', ['q_proj', 'v_proj']);
    const dir = path.join(tmp, 'lora-layout');
    assert.deepEqual(savePeft(dir, adapters, { baseModel: '/abs/path/to/my-model/' }), [ADAPTER_CONFIG, ADAPTER_WEIGHTS]);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG), 'utf8'));
    assert.equal(cfg.peft_type, 'LORA');
    assert.equal(cfg.r, 4);
    assert.equal(cfg.lora_alpha, 8);
    assert.equal(cfg.lora_dropout, 0.05);
    assert.deepEqual(cfg.target_modules, ['q_proj', 'v_proj']);
    assert.equal(cfg.task_type, 'CAUSAL_LM');
    assert.equal(cfg.bias, 'none');
    assert.equal(cfg.use_rslora, false);
    assert.equal(cfg.base_model_name_or_path, 'my-model', 'absolute paths are reduced to the folder name');
    assert.equal(cfg.halo_note, undefined, 'no keys peft would not know');
    const { tensors, metadata } = readSafetensors(path.join(dir, ADAPTER_WEIGHTS));
    assert.deepEqual(metadata, { format: 'pt' });
    assert.deepEqual(
      [...tensors.keys()].sort(),
      [0, 1]
        .flatMap((l) => ['q_proj', 'v_proj'].flatMap((m) => ['A', 'B'].map((f) => `base_model.model.model.layers.${l}.self_attn.${m}.lora_${f}.weight`)))
        .sort(),
    );
    assert.deepEqual(tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape, [4, 16]);
    assert.deepEqual(tensors.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight')!.shape, [8, 4]);
  });

  test('HUT: peft_type HUT with the same fields, a note, and hut_A / hut_B tensors', () => {
    const { adapters } = adapted('hut');
    const dir = path.join(tmp, 'hut-layout');
    savePeft(dir, adapters, { baseModel: 'models/halo-tiny' });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG), 'utf8'));
    assert.equal(cfg.peft_type, 'HUT');
    assert.equal(cfg.base_model_name_or_path, 'models/halo-tiny', 'relative names stay as given');
    assert.equal(cfg.target_modules.length, 7);
    assert.match(cfg.halo_note, /W0⊙\(hut_B·hut_A\)/);
    const { tensors } = readSafetensors(path.join(dir, ADAPTER_WEIGHTS));
    assert.equal(tensors.size, 2 * 7 * 2);
    assert.ok(tensors.has('base_model.model.model.layers.1.mlp.down_proj.hut_B.weight'));
  });

  test('portableModelName', () => {
    assert.equal(portableModelName('/a/b/c'), 'c');
    assert.equal(portableModelName('meta-llama/Llama-3.2-1B'), 'meta-llama/Llama-3.2-1B');
    assert.equal(portableModelName('./models/x/'), './models/x');
  });
});

describe('reload and merge', () => {
  for (const method of ['lora', 'hut'] as const) {
    test(`${method}: a saved adapter reloads to identical logits`, () => {
      const { config, adapters, model } = adapted(method, method === 'lora' ? ['k_proj', 'o_proj', 'down_proj'] : undefined);
      const batch = batchOf([7, 4], config.vocab_size, 5);
      const want = model(adapters).logits(batch);
      const dir = path.join(tmp, `${method}-reload`);
      savePeft(dir, adapters, { baseModel: 'tiny' });
      const loaded = loadPeft(dir, config, { backend: referenceBackend });
      assert.equal(loaded.spec.method, method);
      assert.deepEqual([...loaded.adapters.keys()], [...adapters.keys()]);
      for (const a of loaded.adapters.values()) if ('training' in a) a.training = false;
      assert.deepEqual(model(loaded.adapters).logits(batch), want);
    });

    test(`${method}: merged weights give the adapted model's logits (≤ 1e-5 relative, f32)`, () => {
      const { config, weights, adapters, model } = adapted(method);
      const batch = batchOf([9, 6], config.vocab_size, 6);
      const want = model(adapters).logits(batch);
      const merged = mergeWeights(weights, adapters);
      const plain = new LlamaModel(config, merged, { halo: fp32, backend: referenceBackend });
      const got = plain.logits(batch);
      assert.ok(maxRelDiff(got, want) <= 1e-5, `relative difference ${maxRelDiff(got, want)}`);
      const base = new LlamaModel(config, weights, { halo: fp32, backend: referenceBackend }).logits(batch);
      assert.ok(maxRelDiff(base, want) > 1e-3, 'the adapter changes the model, so the check above can fail');
      assert.equal(merged.get('model.norm.weight'), weights.get('model.norm.weight'), 'untouched tensors are shared');
    });
  }

  test('halo merge writes a full HF folder equal to the base + adapter, and eval-time loading without merging agrees', async () => {
    const base = writeTinyModelFolder(path.join(tmp, 'base'), { hidden: 16, layers: 2, heads: 4, kvHeads: 2, intermediate: 24, vocab: 270, seed: 3, std: 0.3 });
    const adapters = buildAdapters(base.config, { method: 'lora', rank: 4, alpha: 8, dropout: 0, seed: 3 }, { backend: referenceBackend });
    randomizeAdapters(adapters, 8, 0.3);
    const adapterDir = path.join(tmp, 'adapter');
    savePeft(adapterDir, adapters, { baseModel: base.dir });
    const out = path.join(tmp, 'merged');
    const args = parseArgs(['--model', base.dir, '--adapter', adapterDir, '--out', out, '--backend', 'reference'], mergeCommand.options);
    const origWrite = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      assert.equal(await mergeCommand.run(args), 0);
    } finally {
      process.stdout.write = origWrite;
    }
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
    const m = loadModelFolder(out, { dtype: 'f32' });
    const batch = batchOf([6, 6], base.config.vocab_size, 2);
    const got = new LlamaModel(m.config, m.weights, { halo: fp32, backend: referenceBackend }).logits(batch);
    const { model } = loadPeftLlama(base.dir, { halo: fp32, backend: 'reference', adapter: adapterDir });
    const want = model.model.logits(batch);
    assert.ok(maxRelDiff(got, want) <= 1e-5, `relative difference ${maxRelDiff(got, want)}`);
    await assert.rejects(
      mergeCommand.run(parseArgs(['--model', base.dir, '--adapter', adapterDir, '--out', base.dir], mergeCommand.options)),
      /--out .* is the --model folder/,
    );
  });
});

describe('adapter folders halo cannot use', () => {
  const { config, adapters } = adapted('lora');
  const dir = path.join(tmp, 'bad');
  const rewrite = (edit: (c: Record<string, unknown>) => void) => {
    savePeft(dir, adapters, { baseModel: 'tiny' });
    const file = path.join(dir, ADAPTER_CONFIG);
    const c = JSON.parse(fs.readFileSync(file, 'utf8'));
    edit(c);
    fs.writeFileSync(file, JSON.stringify(c));
  };
  test('unsupported peft_type, DoRA, unknown target module, rank mismatch, missing folder', () => {
    rewrite((c) => (c.peft_type = 'IA3'));
    assert.throws(() => loadPeft(dir, config), /peft_type "IA3" is not supported/);
    rewrite((c) => (c.use_dora = true));
    assert.throws(() => loadPeft(dir, config), /use_dora is not supported/);
    rewrite((c) => (c.target_modules = ['q_proj', 'embed_tokens']));
    assert.throws(() => loadPeft(dir, config), /embed_tokens are not Llama projections/);
    rewrite((c) => (c.r = 2));
    assert.throws(() => loadPeft(dir, config), /lora_A\.weight has shape \[4, 16\], the model and r = 2 imply \[2, 16\]/);
    rewrite((c) => (c.target_modules = ['q_proj']));
    assert.throws(() => loadPeft(dir, config), /tensors adapter_config.json does not account for/);
    assert.throws(() => loadPeft(path.join(tmp, 'nowhere'), config), /no adapter_config.json/);
  });
});
