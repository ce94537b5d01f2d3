// Runs one case: writes its files into an empty folder, runs the target's parsers on it while timing it and
// measuring the memory it makes the process take, and classifies the outcome. A case that crashes, breaks an
// invariant, leaks a file descriptor, runs too long or allocates more than its input justifies leaves a
// reproducer folder (the input files + REPRO.md with the error and the command that re-runs it alone).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../src/core/errors.ts';
import { InvariantViolation, type FuzzCase, type FuzzTarget, type Outcome } from './case.ts';

export interface CaseError {
  name: string;
  message: string;
  stack?: string;
}

export interface CaseResult {
  index: number;
  outcome: Outcome;
  ms: number;
  /** Largest of: RSS growth, JS heap + ArrayBuffer growth, peak-RSS growth, while the parsed result is alive. */
  memDelta: number;
  inputBytes: number;
  /** memDelta exceeded inputBytes + the allowed slack. */
  memFlag: boolean;
  note: string;
  error?: CaseError;
  repro?: string;
}

export interface CaseLimits {
  /** A case slower than this is a hang. */
  hangMs: number;
  /** Allocation allowed beyond the input's own size. */
  memSlackBytes: number;
}

export const DEFAULT_LIMITS: CaseLimits = { hangMs: 2000, memSlackBytes: 64 << 20 };

/** A finding: anything but a clean parse or a HaloError, or an allocation the input does not justify. */
export function isFinding(r: CaseResult): boolean {
  return (r.outcome !== 'ok' && r.outcome !== 'rejected') || r.memFlag;
}

/** Writes a case into `dir` (created empty); returns the total input bytes. */
export function writeCase(dir: string, c: FuzzCase): number {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  let bytes = 0;
  for (const [name, content] of Object.entries(c.files)) {
    const p = path.join(dir, name);
    if (name.endsWith('/')) {
      fs.mkdirSync(p, { recursive: true });
      continue;
    }
    fs.writeFileSync(p, content);
    bytes += typeof content === 'string' ? Buffer.byteLength(content) : content.length;
  }
  return bytes;
}

const openFds = (): number => {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return 0; // no procfs: leak check off
  }
};

/** Name, message (cut: some embed a whole 100 kB input) and the stack frames, which say where it threw. */
function asCaseError(e: unknown): CaseError {
  if (!(e instanceof Error)) return { name: typeof e, message: String(e).slice(0, 2000) };
  const frames = (e.stack ?? '')
    .split('\n')
    .filter((l) => l.startsWith('    at '))
    .slice(0, 20);
  const message = e.message.length > 2000 ? `${e.message.slice(0, 2000)}… (${e.message.length} chars)` : e.message;
  return { name: e.constructor.name, message, stack: [`${e.constructor.name}: ${message.slice(0, 300)}`, ...frames].join('\n') };
}

/** Runs the target on a written case folder and classifies the outcome. */
export function runCase(target: FuzzTarget, dir: string, index: number, c: FuzzCase, inputBytes: number, limits: CaseLimits): CaseResult {
  const fds0 = openFds();
  const m0 = process.memoryUsage();
  const peak0 = process.resourceUsage().maxRSS * 1024;
  let outcome: Outcome;
  let error: CaseError | undefined;
  let kept: unknown;
  const t0 = performance.now();
  try {
    kept = target.run(dir);
    outcome = 'ok';
  } catch (e) {
    outcome = e instanceof HaloError ? 'rejected' : e instanceof InvariantViolation ? 'bad' : 'crash';
    if (outcome !== 'rejected') error = asCaseError(e);
    kept = e;
  }
  const ms = performance.now() - t0;
  const m1 = process.memoryUsage();
  const peak1 = process.resourceUsage().maxRSS * 1024;
  const memDelta = Math.max(m1.rss - m0.rss, m1.heapUsed + m1.arrayBuffers - m0.heapUsed - m0.arrayBuffers, peak1 - peak0, 0);
  kept = undefined;
  void kept;
  const leaked = openFds() - fds0;
  if (leaked > 0 && outcome !== 'crash') {
    outcome = 'bad';
    error = {
      name: 'InvariantViolation',
      message: `${leaked} file descriptor(s) left open after the case${error ? ` (${error.name}: ${error.message})` : ''}`,
    };
  }
  if (ms > limits.hangMs) {
    outcome = 'hang';
    error = { name: 'Hang', message: `took ${ms.toFixed(0)} ms (limit ${limits.hangMs} ms)` };
  }
  const memFlag = memDelta > inputBytes + limits.memSlackBytes;
  return { index, outcome, ms, memDelta, inputBytes, memFlag, note: c.note, error };
}

/** Copies a case folder to `<root>/<target>-seed<seed>-case<index>/` with a REPRO.md; returns that folder. */
export function writeRepro(root: string, targetName: string, seed: number, caseDir: string, r: CaseResult): string {
  const dst = path.join(root, `${targetName}-seed${seed}-case${r.index}`);
  fs.rmSync(dst, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  if (fs.existsSync(caseDir)) fs.cpSync(caseDir, dst, { recursive: true });
  else fs.mkdirSync(dst, { recursive: true });
  const lines = [
    `# halo fuzz reproducer: ${targetName} case ${r.index} (seed ${seed})`,
    '',
    `outcome: ${r.outcome}${r.memFlag ? ` (and allocated ${(r.memDelta / 2 ** 20).toFixed(1)} MiB for ${r.inputBytes} input bytes)` : ''}`,
    `time: ${r.ms.toFixed(1)} ms`,
    `mutation: ${r.note}`,
    '',
    'Re-run alone (in-process, full stack):',
    `  node --import tsx test/fuzz/fuzz.ts --target ${targetName} --seed ${seed} --case ${r.index}`,
    '',
    r.error ? `${r.error.name}: ${r.error.message}\n\n${r.error.stack ?? ''}` : '',
  ];
  fs.writeFileSync(path.join(dst, 'REPRO.md'), lines.join('\n'));
  return dst;
}
