// An exclusive lock on a command's output folder, so two runs can never write one folder at once (two
// trainers on one --out interleave metrics lines and prune each other's checkpoints). The lock is the file
// OUT/.halo.lock, created with O_EXCL and holding who took it: pid, host, command, start time, a random token
// and (Linux) the process's start time from /proc, which tells a live holder from a reused pid.
//
// Released on return and on errors (release() in a finally, and a process 'exit' hook). A process killed by a
// signal runs no JavaScript — and a signal handler would only run once the synchronous training loop ended —
// so a watchdog does it instead: a tiny /bin/sh child, in its own process group, ignoring INT/TERM/HUP, that
// blocks on a pipe from this process and removes the lock (if it still holds this token) when the pipe closes,
// which the kernel does however this process dies (SIGINT, SIGTERM, SIGKILL, OOM). If even that fails (the
// machine went down), a lock whose pid is dead on this host, or alive with another start time, is stale and
// the next run takes it over, saying so. A lock held on another host cannot be checked and is refused.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';

export const LOCK_FILE = '.halo.lock';

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  started: string;
  token: string;
  /** Field 22 of /proc/PID/stat (start time in clock ticks since boot); absent off Linux. */
  procStart?: string;
}

export interface OutLock {
  readonly file: string;
  readonly holder: LockHolder;
  /** Removes the lock if this process still holds it; idempotent. */
  release(): void;
}

/** The start time of `pid` from /proc (Linux), or undefined. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Why `h` is stale (its process is gone), or null when it may still be running (or cannot be checked). */
export function staleReason(h: LockHolder): string | null {
  if (h.host !== os.hostname()) return null;
  if (!pidAlive(h.pid)) return `pid ${h.pid} is not running`;
  const now = processStartTime(h.pid);
  if (h.procStart !== undefined && now !== undefined && now !== h.procStart) return `pid ${h.pid} is now another process`;
  return null;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h === 'object' && h !== null && Number.isSafeInteger(h.pid) && typeof h.host === 'string' && typeof h.token === 'string' ? h : null;
  } catch {
    return null;
  }
}

function readHolder(file: string): { holder: LockHolder | null; ageMs: number } | null {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return { holder: parseHolder(text), ageMs: Date.now() - fs.statSync(file).mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new HaloError('E_IO', `cannot read the lock ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Takes a stale lock away: renamed to a name of our own first, so of two processes reaping at once only one
 * gets the file; if what we got is not the lock we judged stale (a new holder took it meanwhile), it goes back.
 */
function reap(file: string, staleToken: string | null): void {
  const mine = `${file}.stale-${process.pid}-${randomUUID().slice(0, 8)}`;
  try {
    fs.renameSync(file, mine);
  } catch {
    return; // someone else reaped it
  }
  const got = parseHolder(fs.readFileSync(mine, 'utf8'));
  if ((got?.token ?? null) !== staleToken) {
    try {
      fs.linkSync(mine, file);
    } catch {
      /* a third process locked meanwhile: it holds the folder */
    }
  }
  fs.rmSync(mine, { force: true });
}

/** A /bin/sh child that removes the lock when this process dies, however it dies (see the header). */
function startWatchdog(file: string, token: string): ChildProcess | null {
  if (process.platform === 'win32' || !fs.existsSync('/bin/sh')) return null;
  try {
    const script = 'trap "" INT TERM HUP; cat >/dev/null; grep -qF "$1" "$2" 2>/dev/null && rm -f "$2"';
    const child = spawn('/bin/sh', ['-c', script, 'halo-lock-watchdog', token, file], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', () => {});
    child.stdin!.on('error', () => {});
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return child;
  } catch {
    return null;
  }
}

function describeHolder(h: LockHolder): string {
  return `halo ${h.command} (pid ${h.pid} on ${h.host}, since ${h.started})`;
}

/**
 * Creates `out` if needed and locks it for `command`; E_IO naming the holder when another live process has it.
 * `onNote` hears about a stale lock that was taken over.
 */
export function lockOutDir(out: string, command: string, onNote: (line: string) => void = () => {}): OutLock {
  const file = path.join(out, LOCK_FILE);
  // A folder this call made is removed again on release if nothing else was written (a run that failed early).
  let made = false;
  const holder: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    command,
    started: new Date().toISOString(),
    token: randomUUID(),
    procStart: processStartTime(process.pid),
  };
  const text = JSON.stringify(holder) + '\n';
  for (let attempt = 0; ; attempt++) {
    if (attempt > 100) throw new HaloError('E_IO', `cannot lock ${out}: ${file} keeps changing; is another halo starting there?`);
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && attempt < 100) {
        try {
          made = fs.mkdirSync(out, { recursive: true }) !== undefined || made;
        } catch (m) {
          throw new HaloError('E_IO', `cannot create --out folder ${out}: ${(m as NodeJS.ErrnoException).code ?? (m as Error).message}`, { cause: m });
        }
        continue;
      }
      if (code !== 'EEXIST') throw new HaloError('E_IO', `cannot lock ${out}: ${(e as Error).message}`, { cause: e });
      const seen = readHolder(file);
      if (seen === null) continue; // released meanwhile
      if (seen.holder === null) {
        // Empty or cut short: being written right now, or left by a process killed between create and write.
        if (seen.ageMs < 5000) {
          sleepMs(20);
          continue;
        }
        onNote(`removed the unreadable lock ${file} (${Math.round(seen.ageMs / 1000)} s old)`);
        reap(file, null);
        continue;
      }
      const why = staleReason(seen.holder);
      if (why === null) {
        const elsewhere = seen.holder.host !== holder.host;
        throw new HaloError(
          'E_IO',
          `--out ${out} is in use by ${describeHolder(seen.holder)}; wait for it to finish or write to another folder` +
            (elsewhere ? ` (that host cannot be checked from here: if the process is gone, delete ${file})` : ''),
        );
      }
      onNote(`took over the stale lock of ${describeHolder(seen.holder)}: ${why}`);
      reap(file, seen.holder.token);
      continue;
    }
    try {
      fs.writeSync(fd, text);
    } finally {
      fs.closeSync(fd);
    }
    break;
  }
  const watchdog = startWatchdog(file, holder.token);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    try {
      if (parseHolder(fs.readFileSync(file, 'utf8'))?.token === holder.token) fs.rmSync(file, { force: true });
    } catch {
      /* already gone */
    }
    watchdog?.stdin?.destroy();
    if (made) {
      try {
        fs.rmdirSync(out); // only if empty
      } catch {
        /* the run wrote something: keep it */
      }
    }
  };
  process.on('exit', release);
  return { file, holder, release };
}
