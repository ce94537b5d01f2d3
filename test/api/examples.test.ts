// docs/api.md's examples, run as written: each ```js example=NAME block becomes a module (with 'halo' pointed at
// src/index.ts, the repo's models/ and data/ paths made absolute, and its `runs/` outputs in a temp folder), runs
// in a child process, and what it prints is checked here — the API fine-tunes, reports progress, cancels,
// evaluates, generates, loads and initialises as the page says. Also: trainOptions' defaults and the API's
// option checks, which fail before anything is read.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { finetune } from '../../src/api/finetune.ts';
import { evaluate } from '../../src/api/evaluate.ts';
import { initModel } from '../../src/api/init-model.ts';
import { HaloError } from '../../src/core/errors.ts';
import { LOCK_FILE } from '../../src/io/out-lock.ts';
import { TRAIN_DEFAULTS, trainOptions } from '../../src/train/train-options.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DOC = fs.readFileSync(path.join(REPO, 'docs/api.md'), 'utf8');
const examples = new Map([...DOC.matchAll(/```js example=(\S+)\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!]));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-api-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs docs/api.md's example `name` in a child process (cwd: the temp folder) and parses the JSON it prints. */
function runExample(name: string): Record<string, unknown> {
  const src = examples.get(name);
  assert.ok(src, `docs/api.md has an example=${name} block`);
  const code = src
    .replaceAll("from 'halo'", `from '${pathToFileURL(path.join(REPO, 'src/index.ts')).href}'`)
    .replaceAll("'models/", `'${REPO}/models/`)
    .replaceAll("'data/", `'${REPO}/data/`);
  // tsx by its resolved URL: the child runs in the temp folder, which has no node_modules.
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', code], {
    cwd: tmp,
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  });
  assert.equal(r.status, 0, `example ${name} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

describe('docs/api.md examples', () => {
  it('has every example this test checks', () => {
    assert.deepEqual([...examples.keys()].sort(), ['cancel', 'evaluate', 'finetune', 'generate', 'init-model', 'load-model', 'peft']);
  });

  it('finetune: 2 steps of halo-tiny, a progress event per step, a saved folder that evaluate() loads', async () => {
    const r = runExample('finetune') as {
      steps: number;
      out: string;
      losses: { step: number; loss: number }[];
      evalLosses: { step: number; loss: number }[];
      events: Record<string, number>[];
    };
    assert.equal(r.steps, 2);
    assert.deepEqual(
      r.events.map((e) => [e.step, e.of]),
      [
        [1, 2],
        [2, 2],
      ],
    );
    for (const e of r.events) assert.ok(Number.isFinite(e.loss) && e.loss > 0 && e.tokens > 0 && e.lr > 0, JSON.stringify(e));
    assert.ok(r.events[1]!.tokens > r.events[0]!.tokens, 'tokens count up');
    assert.deepEqual(
      r.losses,
      r.events.map((e) => ({ step: e.step, loss: e.loss })),
    );
    // Evaluated at the end only (evalEvery 0): on the last step's event and in the result.
    assert.equal(r.events[0]!.evalLoss, undefined);
    assert.equal(r.evalLosses.length, 1);
    assert.equal(r.events[1]!.evalLoss, r.evalLosses[0]!.loss);
    const out = path.join(tmp, 'runs/tiny-sql');
    assert.equal(r.out, 'runs/tiny-sql');
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'halo_config.json', 'run.json', 'run_config.json'])
      assert.ok(fs.existsSync(path.join(out, f)), f);
    assert.equal(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 2);
    assert.ok(!fs.existsSync(path.join(out, LOCK_FILE)), 'the lock is released');
    const ev = await evaluate({ model: out, asTrained: true, data: path.join(REPO, 'data/sql/eval.jsonl:0:2'), metric: 'loss', maxSeqLen: 64 });
    assert.ok(Math.abs(ev.loss - r.evalLosses[0]!.loss) < 1e-4, `evaluate() of the saved folder ${ev.loss} vs the run's eval loss ${r.evalLosses[0]!.loss}`);
  });

  it('finetune with peft: an adapter folder', () => {
    const r = runExample('peft') as { steps: number };
    assert.equal(r.steps, 2);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors']) assert.ok(fs.existsSync(path.join(tmp, 'runs/tiny-lora', f)), f);
    assert.ok(!fs.existsSync(path.join(tmp, 'runs/tiny-lora/model.safetensors')), 'no full model with peft');
  });

  it('cancel: aborting after step 1 rejects with AbortError and trains no further', () => {
    const r = runExample('cancel') as { error: string; seen: number[] };
    assert.deepEqual(r, { error: 'AbortError', seen: [1] });
    const out = path.join(tmp, 'runs/tiny-cancel');
    assert.equal(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 1);
    assert.ok(!fs.existsSync(path.join(out, 'model.safetensors')), 'a cancelled run saves no final model');
    assert.ok(!fs.existsSync(path.join(out, LOCK_FILE)), 'the lock is released on the way out');
  });

  it('evaluate: the loss of 4 rows', () => {
    const r = runExample('evaluate') as { metric: string; loss: number; perplexity: number; records: number; examples: number; tokens: number };
    assert.equal(r.metric, 'loss');
    assert.equal(r.records, 4);
    // Records whose answer maxSeqLen 64 cuts off entirely have nothing to score.
    assert.ok(r.examples >= 1 && r.examples <= 4);
    assert.ok(Number.isFinite(r.loss) && r.loss > 0 && r.tokens > 0);
    assert.ok(Math.abs(r.perplexity - Math.exp(r.loss)) < 1e-9 * r.perplexity);
  });

  it('generate: a few greedy tokens', () => {
    const r = runExample('generate') as { text: string; ids: number[]; finish: string; promptTokens: number };
    assert.ok(r.ids.length >= 1 && r.ids.length <= 5);
    assert.equal(r.finish === 'length', r.ids.length === 5);
    assert.ok(r.promptTokens >= 2);
  });

  it('loadModel: one load used by generate and evaluate, with the asked HALO level', () => {
    const r = runExample('load-model') as { layers: number; vocab: number; halo: { level: string; format: string }; generated: number; loss: number };
    assert.deepEqual([r.halo.level, r.halo.format], ['halo2', 'int8']);
    assert.ok(r.layers >= 1 && r.vocab > 0 && r.generated >= 1 && Number.isFinite(r.loss));
  });

  it('initModel: a 1-layer smollm2-135m folder', () => {
    const r = runExample('init-model') as { layers: number; hidden: number; parameters: number; files: string[] };
    assert.equal(r.layers, 1);
    assert.equal(r.hidden, 576);
    assert.ok(r.files.some((f) => f.endsWith('.safetensors')) && r.files.some((f) => f.endsWith('config.json')));
    assert.ok(fs.existsSync(path.join(tmp, 'runs/smollm2-1layer/tokenizer.json')));
  });
});

describe('API options', () => {
  it('trainOptions fills the defaults and keeps what is given (undefined keeps the default)', () => {
    const o = trainOptions({ outDir: 'x', lr: 1e-3, maxSteps: 3, batchSize: undefined });
    assert.equal(o.outDir, 'x');
    assert.equal(o.lr, 1e-3);
    assert.equal(o.maxSteps, 3);
    assert.equal(o.batchSize, TRAIN_DEFAULTS.batchSize);
    assert.equal(o.keepCheckpoints, 2);
    assert.equal(o.schedule, 'linear');
  });

  it('bad options are E_ARG naming the option, before anything is read or written', async () => {
    const out = path.join(tmp, 'never');
    const base = { model: path.join(REPO, 'models/halo-tiny'), data: path.join(REPO, 'data/sql/train.jsonl'), out };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxSteps: 0 }, /maxSteps/],
      [{ batchSize: 1.5 }, /batchSize/],
      [{ maxSeqLen: 1 }, /maxSeqLen/],
      [{ peft: { method: 'lora', rank: 0 } }, /peft\.rank/],
      [{ peft: { method: 'hut', dropout: 0.1 } }, /peft\.dropout/],
      [{ resume: true, overwrite: true }, /resume and overwrite/],
      [{ data: [] }, /data names no file/],
      [{ level: 'halo9' }, /halo9/],
    ];
    for (const [extra, msg] of cases) {
      await assert.rejects(
        finetune({ ...base, ...extra } as Parameters<typeof finetune>[0]),
        (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && msg.test(e.message),
        JSON.stringify(extra),
      );
    }
    await assert.rejects(
      initModel({ preset: 'nope', out }),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && /unknown preset 'nope'/.test(e.message),
    );
    await assert.rejects(initModel({ preset: 'smollm2-135m', out, layers: 0 }), (e: unknown) => e instanceof HaloError && /layers/.test(e.message));
    assert.ok(!fs.existsSync(out), 'nothing was written');
  });

  it('an already-aborted signal rejects at once', async () => {
    const c = new AbortController();
    c.abort();
    await assert.rejects(finetune({ model: 'nowhere', data: 'nothing.jsonl', out: path.join(tmp, 'never2'), signal: c.signal }), { name: 'AbortError' });
  });
});
