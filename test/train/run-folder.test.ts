// A run folder's identity (src/train/run-folder.ts): a fresh run refuses a used folder unless --overwrite,
// which removes the old run's files (run.json first) and nothing else; --resume refuses settings that change
// what a checkpoint means, naming each, and only warns about the rest; checkpoints without a run.json are
// refused; fingerprints follow contents, not paths.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaloError } from '../../src/core/errors.ts';
import {
  compareSettings,
  dataFingerprint,
  modelFingerprint,
  prepareRunFolder,
  readRunRecord,
  RUN_FILE,
  runEntries,
  startRun,
  type RunSettings,
} from '../../src/train/run-folder.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-runfolder-'));
let n = 0;
const fresh = () => path.join(tmp, `out${n++}`);
const settings: RunSettings = {
  model: 'a'.repeat(64),
  data: 'b'.repeat(64),
  level: 'halo2',
  format: 'int8',
  rank: null,
  lr: 5e-5,
  'world-size': 2,
  'global-batch': 8,
  'batch-size': 4,
};
const argError = (re: RegExp) => (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && re.test(e.message);

describe('prepareRunFolder', () => {
  test('a new or unrelated folder starts a run; startRun writes run.json with a run id', () => {
    const out = fresh();
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const plan = prepareRunFolder(out, { command: 'finetune', settings, resume: false, overwrite: false });
    assert.equal(fs.existsSync(path.join(out, RUN_FILE)), false, 'deciding writes nothing');
    startRun(plan);
    const rec = readRunRecord(out)!;
    assert.equal(rec.runId, plan.record.runId);
    assert.match(rec.runId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(rec.settings, settings);
  });

  test('a folder holding a run is refused without --overwrite; --overwrite removes only run files', () => {
    const out = fresh();
    startRun(prepareRunFolder(out, { command: 'finetune', settings, resume: false, overwrite: false }));
    fs.mkdirSync(path.join(out, 'checkpoints', 'step-0000002'), { recursive: true });
    for (const f of ['metrics.jsonl', 'model.safetensors', 'tokenizer.json', 'notes.txt']) fs.writeFileSync(path.join(out, f), 'x');
    assert.throws(
      () => prepareRunFolder(out, { command: 'finetune', settings, resume: false, overwrite: false }),
      argError(/already holds a run .*checkpoints.*--resume.*--overwrite/),
    );
    const plan = prepareRunFolder(out, { command: 'finetune', settings, resume: false, overwrite: true });
    assert.ok(fs.existsSync(path.join(out, 'checkpoints')), 'nothing is removed before startRun');
    const notes: string[] = [];
    startRun(plan, (l) => notes.push(l));
    assert.deepEqual(fs.readdirSync(out).sort(), ['notes.txt', RUN_FILE]);
    assert.match(notes[0], /--overwrite: removed the previous run's files/);
    assert.notEqual(readRunRecord(out)!.runId, undefined);
    assert.deepEqual(runEntries(path.join(tmp, 'missing')), []);
  });

  test('--resume refuses changed settings that a checkpoint depends on, naming each, and warns about the rest', () => {
    const out = fresh();
    const first = prepareRunFolder(out, { command: 'finetune', settings, resume: false, overwrite: false });
    startRun(first);
    const changed = { ...settings, format: 'fp8', rank: 8, lr: 1e-4, 'world-size': 1, 'global-batch': 4 };
    assert.throws(
      () => prepareRunFolder(out, { command: 'finetune', settings: changed, resume: true, overwrite: false }),
      (e: unknown) => {
        assert.ok(e instanceof HaloError && e.code === 'E_ARG');
        assert.match(e.message, new RegExp(`holds run ${first.record.runId}`));
        assert.match(e.message, /--format "int8" → "fp8"/);
        assert.match(e.message, /--rank null → 8/);
        assert.doesNotMatch(e.message, /--lr/);
        return true;
      },
    );
    assert.throws(
      () => prepareRunFolder(out, { command: 'pretrain', settings, resume: true, overwrite: false }),
      argError(/the command "finetune" → "pretrain"/),
    );
    const notes: string[] = [];
    const again = prepareRunFolder(out, {
      command: 'finetune',
      settings: { ...settings, lr: 1e-4, 'world-size': 1, 'global-batch': 4 },
      resume: true,
      overwrite: false,
      note: (l) => notes.push(l),
    });
    assert.equal(again.record.runId, first.record.runId);
    assert.equal(again.fresh, false);
    assert.equal(notes.length, 3, notes.join('\n'));
    assert.match(notes.join('\n'), /--lr 0\.00005 → 0\.0001/);
    assert.match(notes.join('\n'), /world size \(ranks\) 2 → 1/);
    assert.match(notes.join('\n'), /global batch \(sequences per optimizer step\) 8 → 4/);
  });

  test('--resume on checkpoints or a model without run.json is refused; on an empty folder it starts a run', () => {
    const out = fresh();
    fs.mkdirSync(path.join(out, 'checkpoints', 'step-0000004'), { recursive: true });
    assert.throws(
      () => prepareRunFolder(out, { command: 'finetune', settings, resume: true, overwrite: false }),
      argError(/--resume: .* holds checkpoints but no run\.json/),
    );
    const model = fresh();
    fs.mkdirSync(model);
    fs.writeFileSync(path.join(model, 'model.safetensors'), 'x');
    assert.throws(
      () => prepareRunFolder(model, { command: 'finetune', settings, resume: true, overwrite: false }),
      argError(/holds model\.safetensors but no run\.json/),
    );
    const empty = prepareRunFolder(fresh(), { command: 'finetune', settings, resume: true, overwrite: false });
    assert.equal(empty.fresh, true);
    assert.throws(() => prepareRunFolder(out, { command: 'finetune', settings, resume: true, overwrite: true }), argError(/exclude each other/));
  });

  test('compareSettings: a setting only one side has counts as a change', () => {
    assert.deepEqual(compareSettings({ a: 1 }, { a: 1 }), { refused: [], warned: [] });
    assert.deepEqual(compareSettings({ seed: 1 }, {}), { refused: ['--seed 1 → (not set)'], warned: [] });
    assert.deepEqual(compareSettings({}, { 'max-steps': 9 }), { refused: [], warned: ['--max-steps (not set) → 9'] });
  });
});

describe('fingerprints', () => {
  test('data: by content and row range, not by path', () => {
    const a = path.join(tmp, 'a.jsonl');
    const b = path.join(tmp, 'sub-b.jsonl');
    fs.writeFileSync(a, '{"text":"x"}\n');
    fs.copyFileSync(a, b);
    assert.equal(dataFingerprint([{ file: a }]), dataFingerprint([{ file: b }]));
    assert.notEqual(dataFingerprint([{ file: a, from: 0, to: 1 }]), dataFingerprint([{ file: a }]));
    fs.appendFileSync(b, '{"text":"y"}\n');
    assert.notEqual(dataFingerprint([{ file: a }]), dataFingerprint([{ file: b }]));
  });

  test('model: config, tokenizer and weight files', () => {
    const m = path.join(tmp, 'model');
    fs.mkdirSync(m);
    fs.writeFileSync(path.join(m, 'config.json'), '{"a":1}');
    fs.writeFileSync(path.join(m, 'model.safetensors'), Buffer.alloc(3 << 20, 1));
    const f0 = modelFingerprint(m);
    fs.writeFileSync(path.join(m, 'tokenizer.json'), '{}');
    const f1 = modelFingerprint(m);
    assert.notEqual(f1, f0);
    const w = Buffer.alloc(3 << 20, 1);
    w[w.length - 1] = 2;
    fs.writeFileSync(path.join(m, 'model.safetensors'), w);
    assert.notEqual(modelFingerprint(m), f1, 'the last MiB of a weight file counts');
    const copy = path.join(tmp, 'model-copy');
    fs.cpSync(m, copy, { recursive: true });
    assert.equal(modelFingerprint(copy), modelFingerprint(m));
  });
});
