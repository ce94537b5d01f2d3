// Main side of the fuzz driver: runs N cases of each target in a worker thread, so that a true hang can be cut
// off (worker.terminate()) and an out-of-memory case kills only the worker. After a kill the run goes on from
// the next case in a spare worker booted in the background (booting one costs about a second). Sums up
// outcomes, the slowest case and the largest memory growth per target.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { TARGET_NAMES, type TargetName } from './case.ts';
import { DEFAULT_LIMITS, isFinding, writeRepro, type CaseLimits, type CaseResult } from './run-case.ts';
import { buildSeeds } from './seeds.ts';
import type { Job, WorkerMessage, WorkerSetup } from './worker.ts';

export interface FuzzOptions {
  targets?: readonly TargetName[];
  /** Cases per target (a number for all, or per target). */
  iterations: number | Partial<Record<TargetName, number>>;
  seed: number;
  limits?: Partial<CaseLimits>;
  /** Where reproducers go (default: <os.tmpdir()>/halo-fuzz). */
  reproRoot?: string;
  /** Worker JS heap cap; a case that needs more dies alone and is counted as a crash. */
  maxHeapMb?: number;
}

export interface TargetSummary {
  target: TargetName;
  cases: number;
  ok: number;
  rejected: number;
  crashes: number;
  /** Accepted inputs whose result broke an invariant (wrong sizes, fd leak, …). */
  bad: number;
  hangs: number;
  memFlags: number;
  maxMs: number;
  maxMemDelta: number;
  findings: CaseResult[];
  seconds: number;
}

const WORKER_URL = new URL('./worker.ts', import.meta.url).href;
const TSX_API = import.meta.resolve('tsx/esm/api');
// Workers do not inherit the --import tsx loader: the bootstrap registers it, then loads the TS worker.
const BOOT = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); });`;

// The main thread's V8 stack is about 1 MB (--stack-size=984 KB), a worker's 4 MB by default. Parsers run on
// the main thread in real use, so the worker gets the same stack: recursion depth limits then match.
const WORKER_STACK_MB = 1;

function emptySummary(target: TargetName): TargetSummary {
  return { target, cases: 0, ok: 0, rejected: 0, crashes: 0, bad: 0, hangs: 0, memFlags: 0, maxMs: 0, maxMemDelta: 0, findings: [], seconds: 0 };
}

function add(s: TargetSummary, r: CaseResult): void {
  s.cases++;
  if (r.outcome === 'ok') s.ok++;
  else if (r.outcome === 'rejected') s.rejected++;
  else if (r.outcome === 'crash') s.crashes++;
  else if (r.outcome === 'bad') s.bad++;
  else s.hangs++;
  if (r.memFlag) s.memFlags++;
  s.maxMs = Math.max(s.maxMs, r.ms);
  s.maxMemDelta = Math.max(s.maxMemDelta, r.memDelta);
  if (isFinding(r)) s.findings.push(r);
}

/** Boots workers; keeps one spare booting in the background once a worker has had to be killed. */
class WorkerPool {
  private spare: Promise<Worker> | null = null;
  constructor(
    private readonly setup: WorkerSetup,
    private readonly maxHeapMb: number,
  ) {}

  private boot(): Promise<Worker> {
    return new Promise((resolve, reject) => {
      const w = new Worker(BOOT, {
        eval: true,
        workerData: this.setup,
        resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb, stackSizeMb: WORKER_STACK_MB },
      });
      const fail = (e: unknown) => reject(e instanceof Error ? e : new Error(`fuzz worker exited with code ${String(e)} while booting`));
      w.once('message', () => {
        w.off('error', fail).off('exit', fail);
        resolve(w);
      });
      w.once('error', fail).once('exit', fail);
    });
  }

  take(): Promise<Worker> {
    const w = this.spare ?? this.boot();
    this.spare = null;
    return w;
  }

  /** After a kill: another kill is likely (one bug, many inputs), so boot its replacement now. */
  prepareSpare(): void {
    this.spare ??= this.boot();
    this.spare.catch(() => {}); // a failed spare reports when taken
  }

  async close(current: Worker | null): Promise<void> {
    await current?.terminate();
    if (this.spare) await (await this.spare).terminate();
  }
}

/** Runs one job in `w`; resolves with the index to resume from and whether the worker survived. */
function runJob(w: Worker, job: Job, s: TargetSummary, setup: WorkerSetup): Promise<{ next: number; alive: boolean }> {
  return new Promise((resolve, reject) => {
    let current: { index: number; dir: string; note: string; inputBytes: number; t0: number } | null = null;
    const finish = (r: { next: number; alive: boolean } | Error) => {
      clearInterval(watchdog);
      w.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    // The case never returned (or took the worker down): record it with its files, go on after it.
    const lost = (outcome: 'hang' | 'crash', message: string) => {
      const c = current!;
      const r: CaseResult = {
        index: c.index,
        outcome,
        ms: performance.now() - c.t0,
        memDelta: 0,
        inputBytes: c.inputBytes,
        memFlag: false,
        note: c.note,
        error: { name: outcome === 'hang' ? 'Hang' : 'WorkerDied', message },
      };
      r.repro = writeRepro(setup.reproRoot, job.target, job.seed, c.dir, r);
      fs.rmSync(c.dir, { recursive: true, force: true });
      add(s, r);
      finish({ next: c.index + 1, alive: false });
    };
    const watchdog = setInterval(() => {
      if (current && performance.now() - current.t0 > setup.limits.hangMs) {
        const ms = performance.now() - current.t0;
        void w.terminate();
        lost('hang', `still running after ${ms.toFixed(0)} ms (limit ${setup.limits.hangMs} ms); worker terminated`);
      }
    }, 20);
    const onMessage = (m: WorkerMessage) => {
      if (m.type === 'start') current = { index: m.index, dir: m.dir, note: m.note, inputBytes: m.inputBytes, t0: performance.now() };
      else if (m.type === 'done') {
        current = null;
        add(s, m.result);
      } else if (m.type === 'finished') finish({ next: job.to, alive: true });
    };
    const onError = (e: Error) => {
      if (current) lost('crash', `worker died: ${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`);
      else finish(e); // outside a case: a bug in the driver itself
    };
    const onExit = (code: number) => {
      if (current) lost('crash', `worker exited with code ${code} during the case`);
      else finish(new Error(`fuzz worker exited with code ${code} outside a case`));
    };
    w.on('message', onMessage).on('error', onError).on('exit', onExit);
    w.postMessage(job);
  });
}

/** Fuzzes each target; returns one summary per target. */
export async function runFuzz(opts: FuzzOptions): Promise<TargetSummary[]> {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const reproRoot = opts.reproRoot ?? path.join(os.tmpdir(), 'halo-fuzz');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-fuzz-work-'));
  const setup: WorkerSetup = {
    seeds: buildSeeds(path.join(scratch, 'seeds')),
    workDir: path.join(scratch, 'cases'),
    reproRoot,
    limits,
  };
  const pool = new WorkerPool(setup, opts.maxHeapMb ?? 2048);
  let w: Worker | null = null;
  try {
    const out: TargetSummary[] = [];
    for (const target of opts.targets ?? TARGET_NAMES) {
      const n = typeof opts.iterations === 'number' ? opts.iterations : (opts.iterations[target] ?? 0);
      const s = emptySummary(target);
      const t0 = performance.now();
      for (let next = 0; next < n; ) {
        w ??= await pool.take();
        const r = await runJob(w, { target, seed: opts.seed, from: next, to: n }, s, setup);
        next = r.next;
        if (!r.alive) {
          w = null;
          if (next < n) pool.prepareSpare();
        }
      }
      s.seconds = (performance.now() - t0) / 1000;
      out.push(s);
    }
    return out;
  } finally {
    await pool.close(w);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
