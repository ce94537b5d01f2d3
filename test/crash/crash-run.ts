// The kill -9 crash test: runs `halo finetune` on a tiny synthetic model as a child process, kills it with
// SIGKILL at seeded random moments (during start-up, inside a step, inside a checkpoint save), resumes it with
// --resume each time, and compares the finished run with an uninterrupted one: final weights, and loss /
// gradient norm / learning rate at every step. After every kill it checks each checkpoint folder left behind:
// complete ones must load, incomplete ones must be skipped by resume, and each resume must pick the newest
// complete one. A checkpoint is saved every step right after the step's metrics line; 40% of the in-step kills
// fall in the first tenth of a step, so many land inside a save. The kill plan (at start-up or which step, and
// what fraction of a step after it) is seeded; how far the child got by then varies with machine load.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/core/rng.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { checkpointProblem, latestCheckpoint, loadCheckpoint, pickResumeCheckpoint } from '../../src/train/checkpoint.ts';
import { readMetrics } from '../../src/train/metrics.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(REPO, 'bin/halo.js');

export interface CrashOptions {
  kills: number;
  seed: number;
  /** Optimizer steps of the run (default: kills + 6, at least 10). */
  steps?: number;
  backend?: 'reference' | 'native';
  /** Keep the work folder (default: removed). */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface CrashSummary {
  kills: number;
  killsAtStartup: number;
  /** Kills that left a half-written checkpoint temp folder (the kill landed inside a save). */
  killsInSave: number;
  steps: number;
  backend: string;
  /** Launches after the first (each with --resume). */
  resumes: number;
  /** Launches that got far enough to pick a checkpoint (the rest were killed while loading). */
  resumesJudged: number;
  killedBeforeResume: number;
  /** Launches (the first included) that picked the newest complete checkpoint (and said so on stderr). */
  resumesCorrect: number;
  /** Checkpoint folders inspected after kills (one folder is counted once per kill it survived). */
  checkpointsChecked: number;
  /** Folders without a valid manifest, each skipped by resume. */
  incompleteSkipped: number;
  /** Folders that verified but did not load, or incomplete ones resume did not skip. */
  unusable: number;
  weightsMaxDiff: number;
  weightsBitIdentical: boolean;
  curveMaxDiff: number;
  curveBitIdentical: boolean;
  stepsCompared: number;
  seconds: number;
  workDir: string;
}

/** Short prompt → completion records (arithmetic), so a step takes milliseconds and start-up dominates. */
function writeData(file: string, seed: number): void {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < 48; i++) {
    const a = rng.int(100);
    const b = rng.int(100);
    lines.push(JSON.stringify({ prompt: `What is ${a} plus ${b}?`, completion: `${a + b}` }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

interface Launch {
  code: number | null;
  killed: boolean;
  stderr: string;
}

type KillPlan = { at: 'startup'; ms: number } | { at: 'step'; step: number; ms: number } | null;

/** Largest step logged in metrics.jsonl, counting only a file written after `since` (ms epoch). */
function loggedStep(file: string, since: number): number {
  try {
    if (fs.statSync(file).mtimeMs < since) return -1;
    const rec = readMetrics(file);
    return rec.length ? (rec[rec.length - 1]!.step as number) : 0;
  } catch {
    return -1;
  }
}

function launch(args: string[], metricsFile: string, plan: KillPlan, onStep?: (step: number, ms: number) => void): Promise<Launch> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout | null = null;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    let last = -1;
    const poll = setInterval(() => {
      const s = loggedStep(metricsFile, t0);
      if (s > last) {
        last = s;
        onStep?.(s, Date.now() - t0);
      }
      if (plan?.at === 'step' && timer === null && s >= plan.step) timer = setTimeout(kill, plan.ms);
    }, 2);
    if (plan?.at === 'startup') timer = setTimeout(kill, plan.ms);
    child.on('exit', (code) => {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      resolve({ code, killed, stderr });
    });
  });
}

function compareWeights(a: string, b: string): { max: number; identical: boolean } {
  const x = readSafetensors(a).tensors;
  const y = readSafetensors(b).tensors;
  if (x.size !== y.size) return { max: Infinity, identical: false };
  let max = 0;
  let identical = true;
  for (const [name, t] of x) {
    const u = y.get(name);
    if (!u || u.data.length !== t.data.length) return { max: Infinity, identical: false };
    for (let i = 0; i < t.data.length; i++) {
      const d = Math.abs((t.data[i] as number) - (u.data[i] as number));
      if (!(d <= max)) max = d; // NaN-safe: a NaN difference becomes the max
      if (!Object.is(t.data[i], u.data[i])) identical = false;
    }
  }
  return { max, identical };
}

function compareCurves(a: string, b: string): { max: number; identical: boolean; steps: number } {
  const x = readMetrics(a);
  const y = readMetrics(b);
  if (x.length !== y.length) return { max: Infinity, identical: false, steps: Math.min(x.length, y.length) };
  let max = 0;
  let identical = true;
  x.forEach((r, i) => {
    const s = y[i]!;
    if (r.step !== s.step || r.step !== i + 1) max = Infinity;
    for (const k of ['loss', 'gradNorm', 'lr'] as const) {
      const d = Math.abs((r[k] as number) - (s[k] as number));
      if (!(d <= max)) max = d;
      if (r[k] !== s[k]) identical = false;
    }
  });
  return { max, identical, steps: x.length };
}

export async function runCrashTest(o: CrashOptions): Promise<CrashSummary> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const steps = o.steps ?? Math.max(10, o.kills + 6);
  const backend = o.backend ?? 'reference';
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-crash-'));
  const modelDir = path.join(work, 'tiny');
  writeTinyModelFolder(modelDir, { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, vocab: 512, seed: 7 });
  const data = path.join(work, 'data.jsonl');
  writeData(data, o.seed);
  const args = (out: string) => [
    'finetune',
    '--model',
    modelDir,
    '--data',
    data,
    '--out',
    out,
    '--max-steps',
    String(steps),
    '--save-every',
    '1',
    '--save-total-limit',
    '2',
    '--batch-size',
    '4',
    '--max-seq-len',
    '64',
    '--level',
    'halo2',
    '--format',
    'int8',
    '--lr',
    '3e-3',
    '--warmup-steps',
    '2',
    '--seed',
    '1',
    '--backend',
    backend,
    '--resume',
  ];

  // The uninterrupted run; its step times set the kill windows.
  const ref = path.join(work, 'ref');
  const stepAt: number[] = [];
  const whole = await launch(args(ref), path.join(ref, 'metrics.jsonl'), null, (s, ms) => (stepAt[s] = ms));
  if (whole.code !== 0) throw new Error(`the uninterrupted run failed (exit ${whole.code}):\n${whole.stderr}`);
  const startupMs = stepAt[1] ?? 2000;
  const gaps = stepAt
    .slice(2)
    .map((t, i) => t - (stepAt[i + 1] ?? t))
    .filter((g) => g > 0)
    .sort((a, b) => a - b);
  const stepMs = Math.max(5, gaps[gaps.length >> 1] ?? 50);
  log(`uninterrupted: ${steps} steps, first step logged after ${startupMs} ms, ${stepMs} ms per step (median)`);

  const out = path.join(work, 'killed');
  const metricsFile = path.join(out, 'metrics.jsonl');
  const rng = new Rng(o.seed);
  const s: CrashSummary = {
    kills: 0,
    killsAtStartup: 0,
    killsInSave: 0,
    steps,
    backend,
    resumes: 0,
    resumesJudged: 0,
    killedBeforeResume: 0,
    resumesCorrect: 0,
    checkpointsChecked: 0,
    incompleteSkipped: 0,
    unusable: 0,
    weightsMaxDiff: NaN,
    weightsBitIdentical: false,
    curveMaxDiff: NaN,
    curveBitIdentical: false,
    stepsCompared: 0,
    seconds: 0,
    workDir: work,
  };
  const checkResume = (r: Launch, expected: string | null) => {
    const m = /resuming from (\S+) \(step (\d+)\)/.exec(r.stderr);
    const fresh = /no complete checkpoint/.test(r.stderr);
    if (!m && !fresh) {
      if (r.killed)
        s.killedBeforeResume++; // killed while loading, before the trainer said anything
      else log(`  the launch said nothing about resuming`);
      return;
    }
    s.resumesJudged++;
    if (expected === null ? fresh : m?.[1] === expected) s.resumesCorrect++;
    else log(`  resume picked ${m?.[1] ?? 'nothing'}, expected ${expected}`);
  };
  let attempts = 0;
  while (s.kills < o.kills) {
    if (++attempts > o.kills * 4) throw new Error(`only ${s.kills} of ${o.kills} kills landed in ${attempts - 1} launches`);
    const expected = latestCheckpoint(out);
    const resumedStep = expected ? Number(/step-(\d+)$/.exec(expected)![1]) : 0;
    const planned = Math.round(((s.kills + 1) * (steps - 1)) / (o.kills + 1));
    const plan: KillPlan =
      rng.next() < 0.15
        ? { at: 'startup', ms: Math.floor(rng.next() * startupMs) }
        : { at: 'step', step: Math.max(planned, resumedStep + 1), ms: Math.floor(rng.next() * stepMs * (rng.next() < 0.4 ? 0.1 : 1)) };
    const root = path.join(out, 'checkpoints');
    const listRoot = () => (fs.existsSync(root) ? fs.readdirSync(root) : []);
    const tmpBefore = new Set(listRoot().filter((n) => n.startsWith('.tmp-')));
    const r = await launch(args(out), metricsFile, plan);
    s.resumes = attempts - 1;
    checkResume(r, expected);
    if (!r.killed) {
      if (r.code === 0) throw new Error(`the run finished after ${s.kills} kills; use more --steps`);
      throw new Error(`the run failed on its own (exit ${r.code}):\n${r.stderr}`);
    }
    s.kills++;
    if (plan!.at === 'startup') s.killsAtStartup++;
    const names = listRoot();
    const inSave = names.some((n) => n.startsWith('.tmp-') && !tmpBefore.has(n));
    if (inSave) s.killsInSave++;
    const pick = pickResumeCheckpoint(out);
    for (const n of names.filter((x) => /^step-\d+$/.test(x))) {
      const dir = path.join(root, n);
      s.checkpointsChecked++;
      const problem = checkpointProblem(dir);
      if (problem) {
        if (pick.skipped.some((k) => k.dir === dir) || (pick.checkpoint && pick.checkpoint.dir > dir)) s.incompleteSkipped++;
        else s.unusable++;
        log(`  incomplete: ${dir}: ${problem}`);
        continue;
      }
      try {
        loadCheckpoint(dir);
      } catch (e) {
        s.unusable++;
        log(`  unusable: ${dir}: ${(e as Error).message}`);
      }
    }
    const where = plan!.at === 'startup' ? `during start-up (${plan!.ms} ms)` : `${plan!.ms} ms after step ${plan!.step} was logged`;
    log(
      `kill ${s.kills}: ${where}; checkpoints ${names.filter((x) => !x.startsWith('.')).join(', ') || 'none'}${inSave ? ' + a half-written temp folder (killed inside a save)' : ''}`,
    );
  }
  const expected = latestCheckpoint(out);
  const last = await launch(args(out), metricsFile, null);
  if (last.code !== 0) throw new Error(`the final resumed run failed (exit ${last.code}):\n${last.stderr}`);
  s.resumes = attempts;
  checkResume(last, expected);

  const w = compareWeights(path.join(ref, 'model.safetensors'), path.join(out, 'model.safetensors'));
  const c = compareCurves(path.join(ref, 'metrics.jsonl'), metricsFile);
  Object.assign(s, { weightsMaxDiff: w.max, weightsBitIdentical: w.identical, curveMaxDiff: c.max, curveBitIdentical: c.identical, stepsCompared: c.steps });
  s.seconds = (performance.now() - t0) / 1000;
  if (!o.keep) fs.rmSync(work, { recursive: true, force: true });
  return s;
}

/** The summary as aligned text lines. */
export function describeCrash(s: CrashSummary): string {
  const rows: [string, string][] = [
    ['kills (SIGKILL)', `${s.kills} (${s.killsAtStartup} during start-up, ${s.killsInSave} inside a checkpoint save)`],
    ['run', `${s.steps} steps, checkpoint every step, keep 2, backend ${s.backend}`],
    [
      'resumes picking the newest complete checkpoint',
      `${s.resumesCorrect} of ${s.resumesJudged} (${s.resumes + 1} launches; ${s.killedBeforeResume} killed while loading, before choosing)`,
    ],
    ['checkpoint folders checked after kills', String(s.checkpointsChecked)],
    ['incomplete folders (skipped by resume)', String(s.incompleteSkipped)],
    ['unusable checkpoints', String(s.unusable)],
    ['final weights vs uninterrupted run', `max |diff| ${s.weightsMaxDiff}${s.weightsBitIdentical ? ' (bit-identical)' : ''}`],
    ['loss / grad norm / lr curve', `${s.stepsCompared} steps, max |diff| ${s.curveMaxDiff}${s.curveBitIdentical ? ' (bit-identical)' : ''}`],
    ['wall time', `${s.seconds.toFixed(1)} s`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** Whether the summary meets the bar: every kill resumed correctly, no unusable checkpoint, diffs ≤ 1e-6. */
export function crashPassed(s: CrashSummary): boolean {
  return (
    s.unusable === 0 &&
    s.resumesCorrect === s.resumesJudged &&
    s.resumesJudged + s.killedBeforeResume === s.resumes + 1 &&
    s.weightsMaxDiff <= 1e-6 &&
    s.curveMaxDiff <= 1e-6 &&
    s.stepsCompared === s.steps
  );
}
