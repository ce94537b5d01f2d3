// Issue 26's run-folder reproductions, as a user runs them (separate `halo` processes on a tiny model folder):
//  1. a fresh run into a used --out is refused; --overwrite replaces the old run; a run killed with SIGKILL
//     resumes its own checkpoint and ends at its own --max-steps;
//  2. --out equal to or containing --model / --adapter / --init is refused, the model untouched;
//  3. two `halo finetune` started together on one --out: one runs, the other exits 2 naming the lock holder,
//     and the folder holds one run's checkpoints and metrics;
//  6. NaN weights are refused at load (naming the tensor), --allow-nonfinite loads them; a run that makes its
//     weights non-finite exits 2 without saving; `halo merge` with lora_alpha 1e308 writes nothing;
//  7. --resume with another --rank is refused naming it; a changed --lr / --max-steps is a warning, and the
//     metrics' token count goes on.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tensor } from '../../src/core/tensor.ts';
import { loadModelFolder, saveModelFolder } from '../../src/io/hf-folder.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { readRunRecord } from '../../src/train/run-folder.ts';
import { halo, repoRoot } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-runfolder-cli-'));
const model = path.join(tmp, 'models', 'tiny');
writeTinyModelFolder(model, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, vocab: 512, seed: 3 });
const data = path.join(tmp, 'data.jsonl');
fs.writeFileSync(
  data,
  Array.from({ length: 24 }, (_, i) => JSON.stringify({ prompt: `What is ${i} plus ${2 * i}?`, completion: `${3 * i}` })).join('\n') + '\n',
);
const base = ['--model', model, '--data', data, '--batch-size', '2', '--max-seq-len', '64', '--warmup-steps', '0'];
const finetune = (out: string, ...extra: string[]) => halo('finetune', ...base, '--out', out, ...extra);

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const steps = (out: string) => readMetrics(path.join(out, 'metrics.jsonl')).map((r) => r.step);
/** The run id in each checkpoint's trainer_state.json. */
const checkpointRuns = (out: string) =>
  fs
    .readdirSync(path.join(out, 'checkpoints'))
    .filter((n) => n.startsWith('step-'))
    .map((n) => JSON.parse(fs.readFileSync(path.join(out, 'checkpoints', n, 'trainer_state.json'), 'utf8')).runId as string);

/** Starts `halo finetune` and SIGKILLs it once its run (not `oldRun`) has logged `step`; resolves when it is gone. */
function killAtStep(out: string, oldRun: string, step: number, ...extra: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/halo.js'), 'finetune', ...base, '--out', out, ...extra], {
      cwd: repoRoot,
      env: { ...process.env, HALO_BACKEND: 'reference' },
      stdio: 'ignore',
    });
    const poll = setInterval(() => {
      try {
        const id = readRunRecord(out)?.runId;
        if (id !== undefined && id !== oldRun && steps(out).some((s) => (s as number) >= step)) child.kill('SIGKILL');
      } catch {
        /* no metrics yet */
      }
    }, 10);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`the run ended by itself (exit ${code}) before step ${step} was logged`));
    });
  });
}

describe('halo finetune: a run folder belongs to one run', () => {
  test('1: a used --out is refused; --overwrite replaces the run; after a kill, --resume continues that run only', async () => {
    const out = path.join(tmp, 'x');
    const a = await finetune(out, '--max-steps', '8', '--lr', '1e-3', '--save-every', '2');
    assert.equal(a.code, 0, a.err);
    const runA = readRunRecord(out)!.runId;
    const b = await finetune(out, '--max-steps', '6', '--save-every', '2');
    assert.equal(b.code, 2, b.err);
    assert.match(b.err, /halo finetune: --out .* already holds a run or a model \(.*checkpoints.*\); continue it with --resume, replace it with --overwrite/);
    assert.equal(readRunRecord(out)!.runId, runA, 'the refused run wrote nothing');
    assert.deepEqual(steps(out), [1, 2, 3, 4, 5, 6, 7, 8]);

    await killAtStep(out, runA, 3, '--max-steps', '400', '--save-every', '2', '--overwrite');
    const runB = readRunRecord(out)!.runId;
    assert.notEqual(runB, runA);
    assert.ok(
      checkpointRuns(out).every((id) => id === runB),
      'only the new run’s checkpoints are left',
    );
    const r = await finetune(out, '--max-steps', '6', '--save-every', '2', '--resume');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /resuming from .*step-000000[24] \(step [24]\)/);
    assert.match(r.err, /--resume: --max-steps 400 → 6 \(changed since run/);
    assert.deepEqual(steps(out), [1, 2, 3, 4, 5, 6]);
    assert.ok(checkpointRuns(out).every((id) => id === runB));
    assert.match(r.out, /done: 6 steps/);
  });

  test('2: --out may not be or contain --model, --adapter or --init; the model is untouched', async () => {
    const before = sha(path.join(model, 'model.safetensors'));
    const [same, parent, init, merge] = await Promise.all([
      finetune(model, '--max-steps', '1'),
      finetune(path.join(tmp, 'models'), '--max-steps', '1'),
      halo('pretrain', '--init', model, '--data', data, '--tokens', '64', '--out', model + '/'),
      halo('merge', '--model', model, '--adapter', path.join(tmp, 'adapter'), '--out', path.join(tmp, 'adapter')),
    ]);
    for (const r of [same, parent, init, merge]) assert.equal(r.code, 2, r.err);
    assert.match(same.err, /^halo finetune: --out .* is the --model folder: writing there would replace what it holds/);
    assert.match(parent.err, /--out .*models contains the --model folder/);
    assert.match(init.err, /is the --init folder/);
    assert.match(merge.err, /is the --adapter folder/);
    assert.equal(sha(path.join(model, 'model.safetensors')), before);
    assert.equal(fs.existsSync(path.join(model, 'metrics.jsonl')), false);
  });

  test('3: two runs started together on one --out: one runs, the other exits 2 naming the lock holder', async () => {
    const out = path.join(tmp, 'race');
    const args = ['--max-steps', '30', '--save-every', '5'];
    const rs = await Promise.all([finetune(out, ...args), finetune(out, ...args)]);
    assert.deepEqual(rs.map((r) => r.code).sort(), [0, 2], rs.map((r) => r.err).join('\n---\n'));
    const loser = rs.find((r) => r.code === 2)!;
    assert.match(loser.err, /^halo finetune: --out .*race is in use by halo finetune \(pid \d+ on .*, since .*\); wait for it to finish/m);
    assert.deepEqual(
      steps(out),
      Array.from({ length: 30 }, (_, i) => i + 1),
      'one run’s metrics, each step once',
    );
    const id = readRunRecord(out)!.runId;
    assert.ok(checkpointRuns(out).length > 0 && checkpointRuns(out).every((x) => x === id));
    assert.equal(fs.existsSync(path.join(out, '.halo.lock')), false, 'released at exit');
  });
});

describe('non-finite weights', () => {
  const poisoned = path.join(tmp, 'poisoned');
  const src = loadModelFolder(model, { dtype: 'f32' });
  const weights = new Map(src.weights);
  const v = weights.get('model.layers.1.self_attn.v_proj.weight')!;
  const vd = Float32Array.from(v.data as Float32Array);
  vd[7] = NaN;
  weights.set('model.layers.1.self_attn.v_proj.weight', new Tensor(v.shape, 'f32', vd));
  saveModelFolder(poisoned, { config: src.config, weights, tokenizerFrom: model });

  test('6: NaN weights are refused at load, naming the tensor; --allow-nonfinite loads them', async () => {
    const [ft, ev, allowed] = await Promise.all([
      halo('finetune', ...base.slice(2), '--model', poisoned, '--out', path.join(tmp, 'nan-ft'), '--max-steps', '1'),
      halo('eval', '--model', poisoned, '--data', data, '--metric', 'loss'),
      halo('eval', '--model', poisoned, '--data', data, '--metric', 'loss', '--allow-nonfinite'),
    ]);
    for (const r of [ft, ev]) {
      assert.equal(r.code, 2, r.err);
      assert.match(
        r.err,
        /model\.safetensors: tensor model\.layers\.1\.self_attn\.v_proj\.weight has 1 non-finite value of 512 \(first: NaN at index 7\); .*--allow-nonfinite/,
      );
    }
    assert.equal(fs.existsSync(path.join(tmp, 'nan-ft', 'run.json')), false);
    // Loaded: what stops it now is the NaN the weights produce, not the load check.
    assert.match(allowed.err, /linears FP32\nhalo eval: crossEntropyForward: loss is NaN/);
    assert.doesNotMatch(allowed.err, /non-finite value/);
  });

  test('6: a run whose weights become non-finite exits 2 and saves neither a checkpoint nor the model', async () => {
    const out = path.join(tmp, 'blowup');
    const r = await finetune(out, '--max-steps', '2', '--save-every', '1', '--lr', '1e39');
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /E?after step 1 \d+ weight tensors hold non-finite values .*nothing was saved/);
    assert.equal(fs.existsSync(path.join(out, 'model.safetensors')), false);
    assert.deepEqual(
      fs.existsSync(path.join(out, 'checkpoints')) ? fs.readdirSync(path.join(out, 'checkpoints')).filter((n) => n.startsWith('step-')) : [],
      [],
    );
  });

  test('6: halo merge with lora_alpha 1e308 writes nothing', async () => {
    const adapter = path.join(tmp, 'adapter-big');
    const ft = await finetune(adapter, '--peft', 'lora', '--rank', '4', '--max-steps', '1', '--save-every', '0', '--lr', '1e-2');
    assert.equal(ft.code, 0, ft.err);
    const cfgFile = path.join(adapter, 'adapter_config.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')), lora_alpha: 1e308 }));
    const out = path.join(tmp, 'merged-big');
    const m = await halo('merge', '--model', model, '--adapter', adapter, '--out', out);
    assert.equal(m.code, 2, m.err);
    assert.match(m.err, /^halo merge: merging .*lora_alpha 1e\+308.*: tensor model\.layers\.\d\.\S+ has \d+ non-finite values? of \d+ .*nothing was written/);
    assert.equal(fs.existsSync(path.join(out, 'model.safetensors')), false);
  });
});

describe('--resume checks the run settings', () => {
  test('7: another --rank is refused naming it; --lr / --max-steps changes warn; tokens go on', async () => {
    const out = path.join(tmp, 'lora');
    const lora = ['--peft', 'lora', '--rank', '4', '--save-every', '1'];
    const first = await finetune(out, ...lora, '--max-steps', '2');
    assert.equal(first.code, 0, first.err);
    const rank = await finetune(out, '--peft', 'lora', '--rank', '8', '--save-every', '1', '--max-steps', '3', '--resume');
    assert.equal(rank.code, 2, rank.err);
    assert.match(rank.err, /^halo finetune: --resume: .* holds run \S+, started with other settings: --rank 4 → 8\. Its checkpoints cannot continue/m);
    const more = await finetune(out, ...lora, '--max-steps', '4', '--lr', '1e-3', '--resume');
    assert.equal(more.code, 0, more.err);
    assert.match(more.err, /--resume: --lr 0\.0003 → 0\.001 \(changed since run/);
    assert.match(more.err, /--resume: --max-steps 2 → 4/);
    const rec = readMetrics(path.join(out, 'metrics.jsonl'));
    assert.deepEqual(
      rec.map((r) => r.step),
      [1, 2, 3, 4],
    );
    const tokens = rec.map((r) => r.tokens as number);
    assert.ok(
      tokens.every((t, i) => i === 0 || t > tokens[i - 1]),
      `tokens ${tokens}`,
    );
  });
});
