// Building adapters for a config: which projections get one, seeds, and the parameter counts LoRA and HUT
// report (equal at the same rank: r·(in + out) per adapted projection).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { parameterCount } from '../../src/io/hf-folder.ts';
import { tinyConfigJson } from '../../src/io/testing/tiny-model.ts';
import { buildAdapters, countPeftParams, describeParamCounts } from '../../src/peft/build.ts';
import { HutAdapter } from '../../src/peft/hut.ts';
import { LoraAdapter } from '../../src/peft/lora.ts';
import { parseTargetModules, TARGET_MODULES } from '../../src/peft/names.ts';
import { tinyModel } from './helpers.ts';

describe('buildAdapters', () => {
  const { config } = tinyModel();
  test('all seven projections of every layer by default, keyed by weight name, LoRA or HUT', () => {
    const lora = buildAdapters(config, { method: 'lora', rank: 2, alpha: 4, dropout: 0.1, seed: 1 });
    assert.equal(lora.size, 7 * 2);
    assert.ok(lora.has('model.layers.1.mlp.down_proj.weight'));
    assert.ok([...lora.values()].every((a) => a instanceof LoraAdapter && a.dropout === 0.1));
    const hut = buildAdapters(config, { method: 'hut', rank: 2, alpha: 4, dropout: 0.1, seed: 1 });
    assert.ok([...hut.values()].every((a) => a instanceof HutAdapter));
    const k = lora.get('model.layers.0.self_attn.k_proj.weight') as LoraAdapter;
    assert.deepEqual(
      [k.a.shape, k.b.shape],
      [
        [2, 16],
        [8, 2],
      ],
    );
  });
  test('target modules select projections; seeds are reproducible and differ per projection', () => {
    const a = buildAdapters(config, { method: 'lora', rank: 2, alpha: 4, dropout: 0, seed: 9, targetModules: ['v_proj', 'q_proj'] });
    assert.deepEqual(
      [...a.keys()],
      [0, 1].flatMap((l) => ['q_proj', 'v_proj'].map((m) => `model.layers.${l}.self_attn.${m}.weight`)),
    );
    const b = buildAdapters(config, { method: 'lora', rank: 2, alpha: 4, dropout: 0, seed: 9, targetModules: ['q_proj,v_proj'] });
    const first = (m: typeof a) => (m.values().next().value as LoraAdapter).a.data;
    assert.deepEqual(first(a), first(b));
    const [q0, v0] = [...a.values()] as LoraAdapter[];
    assert.notDeepEqual(q0.a.data, v0.a.data);
  });
  test('bad method, rank and module names are errors that say what works', () => {
    assert.throws(() => buildAdapters(config, { method: 'ia3' as 'lora', rank: 2, alpha: 4, dropout: 0, seed: 1 }), /use one of lora, hut/);
    assert.throws(() => buildAdapters(config, { method: 'lora', rank: 0, alpha: 4, dropout: 0, seed: 1 }), /--rank must be a positive integer/);
    assert.throws(() => parseTargetModules(['q_proj', 'qproj']), /unknown target module 'qproj'; use some of q_proj/);
    assert.deepEqual(parseTargetModules('all-linear'), [...TARGET_MODULES]);
    assert.deepEqual(parseTargetModules(undefined), [...TARGET_MODULES]);
  });
});

describe('parameter counts', () => {
  test('r·(in + out) per projection, equal for LoRA and HUT, and equal to the adapters built', () => {
    const { config } = tinyModel();
    // hidden 16, q 16, kv 8, intermediate 24: q 32, k 24, v 24, o 32, gate 40, up 40, down 40 per layer.
    const perLayer = 32 + 24 + 24 + 32 + 40 + 40 + 40;
    for (const method of ['lora', 'hut'] as const) {
      const c = countPeftParams(config, method, 4);
      assert.equal(c.trainable, 4 * perLayer * 2);
      assert.equal(c.base, parameterCount(config));
      assert.equal(c.total, c.base + c.trainable);
      const built = buildAdapters(config, { method, rank: 4, alpha: 8, dropout: 0, seed: 1 });
      assert.equal(
        [...built.values()].flatMap((a) => a.params()).reduce((s, p) => s + p.data.length, 0),
        c.trainable,
      );
    }
    assert.equal(countPeftParams(config, 'lora', 4, ['q_proj']).trainable, 4 * 32 * 2);
  });
  test('Llama-3-8B at r 16 on all linears: 41,943,040 trainable (what peft prints)', () => {
    const config = parseModelConfig(tinyConfigJson({ hidden: 4096, layers: 32, heads: 32, kvHeads: 8, intermediate: 14336, vocab: 128256 }));
    const c = countPeftParams(config, 'lora', 16);
    assert.equal(c.trainable, 41_943_040);
    assert.equal(c.base, 8_030_261_248, "Llama-3-8B's published parameter count");
    assert.equal(c.total, 8_072_204_288);
    const table = describeParamCounts(config, 16);
    assert.match(table, /lora\s+16\s+41943040/);
    assert.match(table, /hut\s+16\s+41943040/);
  });
});
