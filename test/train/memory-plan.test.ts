// The memory plan: its items follow from the config by simple arithmetic (checked here against hand counts),
// a run that cannot fit is refused with one line naming the biggest item and the flags that shrink it, and
// `halo finetune` on an 8B-shaped folder stops in seconds before reading a single weight (the folder's one
// weight file is sparse: 16 GB long, no data on disk, so reading it would be slow and obvious).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaloError } from '../../src/core/errors.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { expectedTensors, parameterCount } from '../../src/io/hf-folder.ts';
import { getPreset, presetConfigJson } from '../../src/models/presets.ts';
import { checkPlanFits, GiB, memoryPlan } from '../../src/train/memory-plan.ts';
import { halo } from '../helpers/run-halo.ts';

const halo2 = haloConfig({ level: 'halo2', format: 'int8' });
const config = (name: string) => parseModelConfig(presetConfigJson(getPreset(name)), name);
const item = (p: ReturnType<typeof memoryPlan>, prefix: string) => p.items.find((i) => i.name.startsWith(prefix))?.bytes ?? 0;

describe('memory plan', () => {
  test('full fine-tuning: 4 B weights + 4 B gradients + 8 B AdamW per parameter, 1 B of codes per projection weight', () => {
    const c = config('qwen2.5-0.5b');
    const P = parameterCount(c);
    const proj = expectedTensors(c)
      .filter((t) => t.name.endsWith('_proj.weight'))
      .reduce((a, t) => a + t.shape[0]! * t.shape[1]!, 0);
    const p = memoryPlan(c, { halo: halo2, mode: 'full', batchSize: 1, seqLen: 512, gradCheckpointing: false });
    assert.equal(item(p, 'weights'), 4 * P);
    assert.equal(item(p, 'gradients'), 4 * P);
    assert.equal(item(p, 'optimizer'), 8 * P);
    assert.equal(item(p, 'weight codes'), proj);
    assert.equal(
      p.totalBytes,
      p.items.reduce((a, i) => a + i.bytes, 0),
    );
    const ck = memoryPlan(c, { halo: halo2, mode: 'full', batchSize: 1, seqLen: 512, gradCheckpointing: true });
    assert.ok(item(ck, 'activations') < item(p, 'activations') / 4, 'checkpointing keeps a fraction of the activations');
  });

  test('LoRA on an 8-bit base of a bf16 checkpoint (checkpointed): 1 B per projection weight, 2 B per embedding value, adapters only train', () => {
    const c = config('llama-3.1-8b');
    const specs = expectedTensors(c);
    const proj = specs.filter((t) => t.name.endsWith('_proj.weight')).reduce((a, t) => a + t.shape[0]! * t.shape[1]!, 0);
    const tables = 2 * c.vocab_size * c.hidden_size;
    const rest = parameterCount(c) - proj - tables;
    const p = memoryPlan(c, {
      halo: halo2,
      mode: 'lora',
      rank: 16,
      base8bit: true,
      checkpointDtype: 'bf16',
      batchSize: 1,
      seqLen: 512,
      gradCheckpointing: true,
    });
    assert.equal(item(p, 'weights'), proj + 2 * tables + 4 * rest);
    const adapters = specs.filter((t) => t.name.endsWith('_proj.weight')).reduce((a, t) => a + 16 * (t.shape[0]! + t.shape[1]!), 0);
    assert.equal(item(p, 'optimizer'), 8 * adapters);
    assert.ok(p.totalBytes < 12 * GiB, `8B LoRA plan ${(p.totalBytes / GiB).toFixed(2)} GiB`);
  });

  test('a plan over the available memory is one E_MEMORY line naming the biggest item and the flags', () => {
    const p = memoryPlan(config('llama-3.1-8b'), { halo: halo2, mode: 'full', batchSize: 1, seqLen: 512, gradCheckpointing: false });
    assert.throws(
      () => checkPlanFits(p, 24 * GiB),
      (e: HaloError) =>
        e.code === 'E_MEMORY' &&
        /needs about \d+\.\d\d GiB but 24\.00 GiB is available; the biggest item is optimizer/.test(e.message) &&
        /--peft lora/.test(e.message) &&
        /--grad-checkpointing/.test(e.message) &&
        /--force/.test(e.message) &&
        !e.message.includes('\n'),
    );
    assert.doesNotThrow(() => checkPlanFits(p, p.totalBytes));
  });
});

/** A folder with llama-3.1-8b's config and one sparse bf16 weight file whose header lists every tensor. */
function sparse8bFolder(dir: string): void {
  const json = presetConfigJson(getPreset('llama-3.1-8b'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json));
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of expectedTensors(parseModelConfig(json, 'test'))) {
    const bytes = 2 * t.shape.reduce((a, b) => a * b, 1);
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const file = path.join(dir, 'model.safetensors');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(text)]));
  fs.truncateSync(file, 8 + text.length + offset);
}

test('halo finetune refuses an 8B full fine-tune in seconds, before reading a weight', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-plan-'));
  try {
    const model = path.join(dir, 'llama-8b');
    fs.mkdirSync(model);
    sparse8bFolder(model);
    assert.ok(fs.statSync(path.join(model, 'model.safetensors')).size > 16e9);
    const t0 = performance.now();
    const r = await halo('finetune', '--model', model, '--data', 'data/sql/train.jsonl:0:4', '--out', path.join(dir, 'out'));
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /halo finetune: this run needs about \d+\.\d\d GiB but .* is available; the biggest item is optimizer .*--peft lora/);
    assert.ok(seconds < 10, `took ${seconds.toFixed(1)} s`);
    assert.ok(!fs.existsSync(path.join(dir, 'out')), 'nothing written');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
