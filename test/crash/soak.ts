// The run-folder soak test (a script, not CI):
//   node --import tsx test/crash/soak.ts --kills 50 --seed 1 [--steps N] [--keep]
// Runs `halo finetune` on a tiny synthetic model into one --out again and again, each launch one of: --resume
// (continue), --overwrite (start the run over) or neither (a fresh run: refused with exit 2 while the folder
// holds a run), and SIGKILLs it at a seeded random moment (start-up, inside a step, inside a checkpoint save).
// After every launch it checks the folder: every complete checkpoint carries run.json's run id (no run can
// resume another's state), every complete checkpoint loads, metrics.jsonl holds each step once and in order,
// a fresh launch into a used folder was refused, and a resume said which checkpoint it took (the newest
// complete one of this run). At the end one last --resume runs to completion, and its weights and loss curve
// must be bit-identical to an uninterrupted run with the same settings. Exits 1 on any failure.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/core/rng.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { checkpointProblem, latestCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { readRunRecord, runEntries } from '../../src/train/run-folder.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(REPO, 'bin/halo.js');

type Mode = 'resume' | 'overwrite' | 'fresh';
interface Launch {
  code: number | null;
  killed: boolean;
  stderr: string;
}

function parse(argv: string[]): { kills: number; seed: number; steps: number; keep: boolean } {
  const o = { kills: 50, seed: 1, steps: 24, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--keep') o.keep = true;
    else if (f === '--kills' || f === '--seed' || f === '--steps') o[f.slice(2) as 'kills'] = Number(argv[++i]);
    else throw new Error(`unknown flag ${f}; usage: soak.ts --kills N --seed S [--steps N] [--keep]`);
  }
  return o;
}

/** Runs halo with `args`; kills it `ms` after start, or `ms` after it logged `step` (null: never). */
function launch(args: string[], metrics: string, plan: { step: number; ms: number } | null): Promise<Launch> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout | null = null;
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    const poll = setInterval(() => {
      if (!plan || timer !== null) return;
      let logged = -1;
      try {
        if (fs.statSync(metrics).mtimeMs >= t0) logged = Math.max(0, ...readMetrics(metrics).map((r) => r.step as number));
      } catch {
        /* none yet */
      }
      if (plan.step === 0 || logged >= plan.step) timer = setTimeout(kill, plan.ms);
    }, 2);
    child.on('exit', (code) => {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      resolve({ code, killed, stderr });
    });
  });
}

function sameFile(a: string, b: string): boolean {
  const x = readSafetensors(a).tensors;
  const y = readSafetensors(b).tensors;
  if (x.size !== y.size) return false;
  for (const [n, t] of x) {
    const u = y.get(n);
    if (!u || u.data.length !== t.data.length) return false;
    for (let i = 0; i < t.data.length; i++) if (!Object.is(t.data[i], u.data[i])) return false;
  }
  return true;
}

const o = parse(process.argv.slice(2));
const t0 = performance.now();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-soak-'));
const model = path.join(work, 'tiny');
writeTinyModelFolder(model, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, vocab: 512, seed: 7 });
const data = path.join(work, 'data.jsonl');
const rng = new Rng(o.seed);
fs.writeFileSync(
  data,
  Array.from({ length: 48 }, () => {
    const a = rng.int(100);
    const b = rng.int(100);
    return JSON.stringify({ prompt: `What is ${a} plus ${b}?`, completion: `${a + b}` });
  }).join('\n') + '\n',
);
const args = (out: string, mode: Mode) => [
  'finetune',
  '--model',
  model,
  '--data',
  data,
  '--out',
  out,
  '--max-steps',
  String(o.steps),
  '--save-every',
  '1',
  '--save-total-limit',
  '2',
  '--batch-size',
  '4',
  '--max-seq-len',
  '64',
  '--lr',
  '3e-3',
  '--warmup-steps',
  '2',
  '--seed',
  '1',
  '--backend',
  'reference',
  ...(mode === 'resume' ? ['--resume'] : mode === 'overwrite' ? ['--overwrite'] : []),
];

console.log(`halo run-folder soak test: ${o.kills} kills, seed ${o.seed}, ${o.steps} steps per run`);
const ref = path.join(work, 'ref');
const stepAt: number[] = [];
{
  const t = Date.now();
  const poll = setInterval(() => {
    try {
      const s = readMetrics(path.join(ref, 'metrics.jsonl')).length;
      if (stepAt[s] === undefined) stepAt[s] = Date.now() - t;
    } catch {
      /* none yet */
    }
  }, 2);
  const r = await launch(args(ref, 'fresh'), path.join(ref, 'metrics.jsonl'), null);
  clearInterval(poll);
  if (r.code !== 0) throw new Error(`the uninterrupted run failed:\n${r.stderr}`);
}
const startupMs = stepAt[1] ?? 2000;
const stepMs = Math.max(5, ((stepAt[o.steps] ?? startupMs * 2) - startupMs) / Math.max(1, o.steps - 1));
console.log(`uninterrupted: ${o.steps} steps, first step after ${startupMs} ms, ~${stepMs.toFixed(0)} ms per step`);

const out = path.join(work, 'soak');
const metrics = path.join(out, 'metrics.jsonl');
const c = {
  launches: 0,
  kills: 0,
  killsAtStartup: 0,
  resumes: 0,
  overwrites: 0,
  fresh: 0,
  freshRefused: 0,
  freshKilledEarly: 0,
  completed: 0,
  checkpointsChecked: 0,
  foreign: 0,
  unusable: 0,
  metricsBad: 0,
  resumeWrong: 0,
  failures: [] as string[],
};
const fail = (msg: string) => {
  c.failures.push(msg);
  console.log(`  FAIL: ${msg}`);
};

while (c.kills < o.kills) {
  if (c.launches > o.kills * 5) throw new Error(`only ${c.kills} kills in ${c.launches} launches`);
  const used = runEntries(out).length > 0;
  const finished = fs.existsSync(path.join(out, 'model.safetensors'));
  const roll = rng.next();
  const mode: Mode = finished ? (roll < 0.5 ? 'overwrite' : 'fresh') : roll < 0.6 ? 'resume' : roll < 0.8 ? 'overwrite' : 'fresh';
  const before = readRunRecord(out)?.runId ?? null;
  const expected = mode === 'resume' ? latestCheckpoint(out) : null;
  const done = Math.max(0, ...(fs.existsSync(metrics) ? readMetrics(metrics).map((r) => r.step as number) : []));
  const startup = rng.next() < 0.15;
  const from = mode === 'resume' ? (expected ? Number(/step-(\d+)$/.exec(expected)![1]) : 0) : 0;
  const plan = startup
    ? { step: 0, ms: Math.floor(rng.next() * startupMs) }
    : { step: Math.min(o.steps, from + 1 + rng.int(Math.max(1, o.steps - from - 1))), ms: Math.floor(rng.next() * stepMs * (rng.next() < 0.4 ? 0.1 : 1)) };
  const r = await launch(args(out, mode), metrics, plan);
  c.launches++;
  c[mode === 'resume' ? 'resumes' : mode === 'overwrite' ? 'overwrites' : 'fresh']++;
  let what: string;
  if (r.killed) {
    c.kills++;
    if (plan.step === 0) c.killsAtStartup++;
    what = `killed ${plan.step === 0 ? `during start-up (${plan.ms} ms)` : `${plan.ms} ms after step ${plan.step}`}`;
  } else if (r.code === 0) {
    c.completed++;
    what = 'finished';
  } else what = `exit ${r.code}`;
  // A fresh run into a used folder must be refused (exit 2, nothing changed); into an empty one it runs.
  if (mode === 'fresh' && used) {
    const unchanged = (readRunRecord(out)?.runId ?? null) === before;
    if (r.killed && unchanged && !/already holds a run/.test(r.stderr))
      c.freshKilledEarly++; // killed before it got to decide
    else if (r.code === 2 && /already holds a run/.test(r.stderr) && unchanged) c.freshRefused++;
    else fail(`a fresh run into a used folder was not refused (${what}): ${r.stderr.split('\n').slice(-2).join(' ')}`);
  } else if (!r.killed && r.code !== 0) fail(`launch failed (${mode}, exit ${r.code}): ${r.stderr.split('\n').slice(-3).join(' ')}`);
  // A resume takes the newest complete checkpoint of this run (or starts fresh when there is none).
  const m = /resuming from (\S+) \(step (\d+)\)/.exec(r.stderr);
  if (mode === 'resume' && (m || /no complete checkpoint/.test(r.stderr)) && (m?.[1] ?? null) !== expected) {
    c.resumeWrong++;
    fail(`resume took ${m?.[1] ?? 'nothing'}, expected ${expected}`);
  }
  // Every complete checkpoint belongs to run.json's run and loads.
  const id = readRunRecord(out)?.runId;
  const root = path.join(out, 'checkpoints');
  for (const name of fs.existsSync(root) ? fs.readdirSync(root).filter((n) => /^step-\d+$/.test(n)) : []) {
    const dir = path.join(root, name);
    if (checkpointProblem(dir) !== null) continue; // incomplete: resume skips it (crash-test.ts checks that)
    c.checkpointsChecked++;
    try {
      const ck = loadCheckpoint(dir);
      if (ck.state.runId !== id) {
        c.foreign++;
        fail(`${name} belongs to run ${String(ck.state.runId)}, run.json says ${id}`);
      }
    } catch (e) {
      c.unusable++;
      fail(`${name} does not load: ${(e as Error).message}`);
    }
  }
  // metrics.jsonl: steps 1..k, each once.
  if (fs.existsSync(metrics)) {
    const s = readMetrics(metrics).map((x) => x.step);
    if (!s.every((v, i) => v === i + 1)) {
      c.metricsBad++;
      fail(`metrics.jsonl steps ${s.join(',')}`);
    }
  }
  console.log(
    `launch ${c.launches} (${mode}${mode === 'resume' && m ? ` from step ${m[2]}` : ''}; ${done} steps logged before): ${what}; run ${id?.slice(0, 8) ?? 'none'}${before !== null && id !== before ? ' (new run)' : ''}`,
  );
}
const last = await launch(args(out, 'resume'), metrics, null);
c.launches++;
if (last.code !== 0) fail(`the final resume failed: ${last.stderr}`);
const weightsSame = last.code === 0 && sameFile(path.join(ref, 'model.safetensors'), path.join(out, 'model.safetensors'));
const curve = (f: string) => readMetrics(f).map((r) => [r.step, r.loss, r.gradNorm, r.lr, r.tokens]);
const curveSame = last.code === 0 && JSON.stringify(curve(metrics)) === JSON.stringify(curve(path.join(ref, 'metrics.jsonl')));
if (!weightsSame) fail('final weights differ from the uninterrupted run');
if (!curveSame) fail('loss / grad norm / lr / tokens curve differs from the uninterrupted run');
const rows: [string, string][] = [
  ['launches', `${c.launches} (${c.resumes} --resume, ${c.overwrites} --overwrite, ${c.fresh} fresh, 1 final --resume)`],
  ['kills (SIGKILL)', `${c.kills} (${c.killsAtStartup} during start-up)`],
  ['runs that finished before their kill', String(c.completed)],
  ['fresh runs into a used folder refused', `${c.freshRefused} of ${c.fresh} (${c.freshKilledEarly} more killed before deciding, folder unchanged)`],
  ['resumes that took another checkpoint than the newest complete one', String(c.resumeWrong)],
  ['complete checkpoints checked after launches', String(c.checkpointsChecked)],
  ['checkpoints of another run than run.json', String(c.foreign)],
  ['unusable checkpoints', String(c.unusable)],
  ['metrics.jsonl with a step missing or twice', String(c.metricsBad)],
  ['final weights vs uninterrupted run', weightsSame ? 'bit-identical' : 'DIFFERENT'],
  ['loss / grad norm / lr / tokens curve', curveSame ? `${o.steps} steps, bit-identical` : 'DIFFERENT'],
  ['wall time', `${((performance.now() - t0) / 1000).toFixed(1)} s`],
];
const w = Math.max(...rows.map((x) => x[0].length));
console.log('\n' + rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n'));
console.log(c.failures.length ? `FAIL (${c.failures.length})` : 'PASS');
if (!o.keep) fs.rmSync(work, { recursive: true, force: true });
else console.log(`work folder: ${work}`);
process.exitCode = c.failures.length ? 1 : 0;
