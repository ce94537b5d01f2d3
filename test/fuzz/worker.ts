// Worker side of the fuzz driver. It boots once (seeds arrive in workerData), then runs jobs "cases [from, to)
// of target T" sent by the main thread, posting 'start' before each case and 'done' after it, so the main
// thread can kill it when a case hangs and go on after that case in a fresh worker.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { TARGET_NAMES, type FuzzTarget, type TargetName } from './case.ts';
import { caseRng } from './pick.ts';
import { isFinding, runCase, writeCase, writeRepro, type CaseLimits, type CaseResult } from './run-case.ts';
import type { Seeds } from './seeds.ts';
import { makeTarget } from './targets/index.ts';

export interface WorkerSetup {
  seeds: Seeds;
  /** Scratch folder of this worker (cases are written under it). */
  workDir: string;
  reproRoot: string;
  limits: CaseLimits;
}

export interface Job {
  target: TargetName;
  seed: number;
  from: number;
  to: number;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'start'; index: number; dir: string; note: string; inputBytes: number }
  | { type: 'done'; result: CaseResult }
  | { type: 'finished' };

const setup = workerData as WorkerSetup;
// Libraries under test log to the console on odd input (e.g. "Unknown pattern type"); outcomes travel as
// messages, so the chatter would only bury the summary.
for (const k of ['log', 'info', 'warn', 'error', 'debug'] as const) console[k] = () => {};
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const targets = new Map<TargetName, FuzzTarget>();

function runJob(job: Job): void {
  let target = targets.get(job.target);
  if (!target) targets.set(job.target, (target = makeTarget(job.target, setup.seeds)));
  const targetIndex = TARGET_NAMES.indexOf(job.target);
  for (let i = job.from; i < job.to; i++) {
    const c = target.generate(caseRng(job.seed, targetIndex, i));
    const dir = path.join(setup.workDir, `${job.target}-${i}`);
    const inputBytes = writeCase(dir, c);
    post({ type: 'start', index: i, dir, note: c.note, inputBytes });
    const r = runCase(target, dir, i, c, inputBytes, setup.limits);
    if (isFinding(r)) r.repro = writeRepro(setup.reproRoot, job.target, job.seed, dir, r);
    fs.rmSync(dir, { recursive: true, force: true });
    post({ type: 'done', result: r });
  }
  post({ type: 'finished' });
}

parentPort!.on('message', runJob);
post({ type: 'ready' });
