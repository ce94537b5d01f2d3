// Checkpoints: the manifest lists every file with its size and sha256 (checked here against an independent
// hash), resume takes the newest checkpoint that is complete and skips (naming the reason) ones that are
// truncated, corrupted, missing a file or a manifest, save_total_limit keeps the newest N, and a temp
// folder left by a killed save is cleared by the next save.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaloError } from '../../src/core/errors.ts';
import {
  CHECKPOINT_FILES,
  checkpointDir,
  checkpointProblem,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  MANIFEST_FILE,
  pickResumeCheckpoint,
  saveCheckpoint,
} from '../../src/train/checkpoint.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-ckpt-'));
let runs = 0;

function save(run: string, step: number, keep = 10): string {
  const w = Float32Array.from({ length: 37 }, (_, i) => step + i / 8);
  const params = new Map([
    ['model.layers.0.mlp.up_proj.weight', w],
    ['model.norm.weight', Float32Array.of(step, -step)],
  ]);
  const m = Object.fromEntries([...params].map(([n, a]) => [n, a.map((x) => x / 2)]));
  const v = Object.fromEntries([...params].map(([n, a]) => [n, a.map((x) => x * x)]));
  return saveCheckpoint(run, params, { step, m, v }, { step, loader: { epoch: 0, pos: step }, config: {} }, keep);
}

function newRun(steps: number[], keep = 10): string {
  const run = path.join(tmp, `run${runs++}`);
  for (const s of steps) save(run, s, keep);
  return run;
}

describe('manifest', () => {
  test('lists every checkpoint file with its byte size and sha256', () => {
    const dir = save(newRun([]), 3);
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8'));
    assert.equal(m.format, 'halo-checkpoint');
    assert.equal(m.step, 3);
    assert.deepEqual(Object.keys(m.files).sort(), [...CHECKPOINT_FILES].sort());
    for (const f of CHECKPOINT_FILES) {
      const bytes = fs.readFileSync(path.join(dir, f));
      assert.equal(m.files[f].bytes, bytes.length, f);
      assert.equal(m.files[f].sha256, createHash('sha256').update(bytes).digest('hex'), f);
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), [...CHECKPOINT_FILES, MANIFEST_FILE].sort(), 'no temp files left beside them');
    assert.equal(checkpointProblem(dir), null);
    const ck = loadCheckpoint(dir);
    assert.equal(ck.state.step, 3);
    assert.deepEqual([...ck.params.get('model.norm.weight')!], [3, -3]);
    assert.deepEqual([...ck.optimizer.v['model.norm.weight']!], [9, 9]);
  });
});

describe('resume picks the newest complete checkpoint', () => {
  const damages: [string, (dir: string) => void, RegExp][] = [
    ['truncated model.safetensors', (d) => fs.truncateSync(path.join(d, 'model.safetensors'), 100), /model\.safetensors is 100 bytes/],
    [
      'one flipped byte in optimizer.safetensors',
      (d) => {
        const f = path.join(d, 'optimizer.safetensors');
        const b = fs.readFileSync(f);
        b[b.length - 3] ^= 0x10;
        fs.writeFileSync(f, b);
      },
      /optimizer\.safetensors does not match its sha256/,
    ],
    ['trainer_state.json deleted', (d) => fs.rmSync(path.join(d, 'trainer_state.json')), /trainer_state\.json is missing/],
    ['no manifest (a save that never finished)', (d) => fs.rmSync(path.join(d, MANIFEST_FILE)), /no manifest\.json/],
    ['manifest cut short', (d) => fs.writeFileSync(path.join(d, MANIFEST_FILE), '{"format":"halo-chec'), /not valid JSON/],
    [
      'manifest edited',
      (d) => {
        const f = path.join(d, MANIFEST_FILE);
        const m = JSON.parse(fs.readFileSync(f, 'utf8'));
        delete m.files['model.safetensors'];
        fs.writeFileSync(f, JSON.stringify(m));
      },
      /does not list model\.safetensors/,
    ],
  ];
  for (const [what, damage, reason] of damages) {
    test(`${what}: skipped with its reason, the previous one is used`, () => {
      const run = newRun([2, 4, 6]);
      damage(checkpointDir(run, 6));
      const pick = pickResumeCheckpoint(run);
      assert.equal(pick.checkpoint?.dir, checkpointDir(run, 4));
      assert.equal(pick.checkpoint?.state.step, 4);
      assert.equal(pick.skipped.length, 1);
      assert.equal(pick.skipped[0]!.dir, checkpointDir(run, 6));
      assert.match(pick.skipped[0]!.reason, reason);
      assert.equal(latestCheckpoint(run), checkpointDir(run, 4));
      assert.throws(
        () => loadCheckpoint(checkpointDir(run, 6)),
        (e: unknown) => e instanceof HaloError && e.code === 'E_FORMAT' && reason.test(e.message),
      );
    });
  }
  test('several damaged in a row are all skipped; none complete gives null', () => {
    const run = newRun([1, 2, 3]);
    fs.truncateSync(path.join(checkpointDir(run, 3), 'model.safetensors'), 0);
    fs.rmSync(path.join(checkpointDir(run, 2), MANIFEST_FILE));
    let pick = pickResumeCheckpoint(run);
    assert.equal(pick.checkpoint?.state.step, 1);
    assert.deepEqual(
      pick.skipped.map((s) => path.basename(s.dir)),
      ['step-0000003', 'step-0000002'],
    );
    fs.appendFileSync(path.join(checkpointDir(run, 1), 'trainer_state.json'), ' ');
    pick = pickResumeCheckpoint(run);
    assert.equal(pick.checkpoint, null);
    assert.equal(pick.skipped.length, 3);
    assert.equal(pickResumeCheckpoint(path.join(tmp, 'no-such-run')).checkpoint, null);
  });
});

describe('save_total_limit', () => {
  for (const keep of [1, 2, 3]) {
    test(`keeps the newest ${keep}`, () => {
      const run = newRun([1, 2, 3, 4, 5], keep);
      assert.deepEqual(
        listCheckpoints(run).map((c) => c.step),
        [5, 4, 3, 2, 1].slice(0, keep).reverse(),
      );
    });
  }
  test('a temp folder left by a killed save is removed by the next save, and never counts as a checkpoint', () => {
    const run = newRun([1]);
    const stale = path.join(run, 'checkpoints', '.tmp-step-0000002-99999');
    fs.mkdirSync(stale);
    fs.writeFileSync(path.join(stale, 'model.safetensors'), 'half');
    assert.deepEqual(
      listCheckpoints(run).map((c) => c.step),
      [1],
    );
    assert.equal(pickResumeCheckpoint(run).skipped.length, 0);
    save(run, 2);
    assert.ok(!fs.existsSync(stale));
    assert.deepEqual(fs.readdirSync(path.join(run, 'checkpoints')).sort(), ['step-0000001', 'step-0000002']);
  });
});
