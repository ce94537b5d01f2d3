// LoraSession (src/browser/lora-session.ts), in Node on the default backend: the browser's fine-tuning loop,
// minus the browser. The model comes from the shipped folder's bytes through loadModelFiles (as a page gets
// them from fetch); three steps run; the adapter's files, written to a folder, load with `halo eval --adapter`
// and give the eval loss the session computed.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'node:test';
import { evaluateSync } from '../../src/api/evaluate.ts';
import { getBackend } from '../../src/backend/select.ts';
import { loadModelFiles } from '../../src/browser/model-files.ts';
import { LoraSession } from '../../src/browser/lora-session.ts';
import { HaloError } from '../../src/core/errors.ts';
import { parseJsonl } from '../../src/data/jsonl-parse.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MODEL = path.join(ROOT, 'models', 'halo-tiny');
const files = () =>
  new Map<string, Uint8Array>(
    ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'].map((f) => [f, fs.readFileSync(path.join(MODEL, f))]),
  );
const rows = (file: string, n: number) => parseJsonl(fs.readFileSync(path.join(ROOT, 'data', 'sql', file), 'utf8'), file).records.slice(0, n);

test('three LoRA steps in memory; the downloaded adapter evaluates in Node to the session eval loss', () => {
  const loaded = loadModelFiles(files(), 'halo-tiny');
  const s = new LoraSession(loaded, rows('train.jsonl', 24), { backend: getBackend(), steps: 3, batchSize: 4, maxSeqLen: 128 });
  const steps = [s.step(), s.step(), s.step()];
  assert.deepEqual(
    steps.map((x) => x.step),
    [1, 2, 3],
  );
  for (const x of steps) assert.ok(Number.isFinite(x.loss) && x.loss > 0 && Number.isFinite(x.gradNorm) && x.tokens > 0, JSON.stringify(x));
  assert.ok(steps[0]!.lr < steps[1]!.lr || steps[1]!.lr > steps[2]!.lr, 'warm-up then decay moves the learning rate');
  assert.throws(
    () => s.step(),
    (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && /run all of its 3 steps/.test(e.message),
  );
  const evalRows = rows('eval.jsonl', 4);
  const loss = s.evalLoss(evalRows);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-lora-session-'));
  for (const [name, f] of s.adapterFiles()) fs.writeFileSync(path.join(dir, name), f);
  const ev = evaluateSync({ model: MODEL, adapter: dir, asTrained: true, data: `${path.join(ROOT, 'data', 'sql', 'eval.jsonl')}:0:4`, metric: 'loss' });
  assert.equal(ev.metric, 'loss');
  assert.ok(Math.abs((ev as { loss: number }).loss - loss) <= 1e-6 * loss, `session ${loss} vs halo eval ${(ev as { loss: number }).loss}`);
  const answers = s.answer(evalRows.slice(0, 1), 4);
  assert.equal(answers.length, 1);
  assert.equal(answers[0]!.reference, (evalRows[0] as { messages: { content: string }[] }).messages.at(-1)!.content);
});

test('a folder missing a tensor, or a bad step count, is a clear error', () => {
  const f = files();
  const cfg = JSON.parse(new TextDecoder().decode(f.get('config.json')));
  cfg.num_hidden_layers = 7;
  f.set('config.json', new TextEncoder().encode(JSON.stringify(cfg)));
  assert.throws(
    () => loadModelFiles(f, 'halo-tiny'),
    (e: unknown) => e instanceof HaloError && e.code === 'E_FORMAT' && /missing model\.layers\.6\./.test(e.message),
  );
  const loaded = loadModelFiles(files(), 'halo-tiny');
  assert.throws(() => new LoraSession(loaded, rows('train.jsonl', 4), { backend: getBackend(), steps: 0 }), /steps must be a positive integer/);
});
