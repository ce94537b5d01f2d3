// The --out lock (src/io/out-lock.ts): one holder at a time, the refusal names it; release removes only our own
// lock; stale locks (dead pid, reused pid, an unreadable file left long ago) are taken over with a note; a lock
// of another host is refused with how to clear it; and a holder killed by SIGINT, SIGTERM or SIGKILL leaves no
// lock behind (its watchdog removes it).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaloError } from '../../src/core/errors.ts';
import { LOCK_FILE, lockOutDir, processStartTime } from '../../src/io/out-lock.ts';
import { repoRoot } from '../helpers/run-halo.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-lock-'));
let n = 0;
const fresh = () => path.join(tmp, `out${n++}`);
const writeLock = (out: string, holder: Record<string, unknown>) => {
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify({ command: 'finetune', started: '2020-01-01T00:00:00.000Z', token: 'old', ...holder }));
};

describe('lockOutDir', () => {
  test('one holder at a time; the refusal names it; release removes the lock and the folder it made', () => {
    const out = fresh();
    const lock = lockOutDir(out, 'finetune');
    const held = JSON.parse(fs.readFileSync(lock.file, 'utf8'));
    assert.equal(held.pid, process.pid);
    assert.equal(held.host, os.hostname());
    assert.throws(
      () => lockOutDir(out, 'pretrain'),
      (e: unknown) => {
        assert.ok(e instanceof HaloError && e.code === 'E_IO');
        assert.match(e.message, new RegExp(`in use by halo finetune \\(pid ${process.pid} on ${os.hostname()}, since `));
        return true;
      },
    );
    lock.release();
    lock.release();
    assert.equal(fs.existsSync(out), false, 'the folder this lock made, empty again, is removed');
    const kept = fresh();
    fs.mkdirSync(kept);
    lockOutDir(kept, 'merge').release();
    assert.ok(fs.existsSync(kept), 'a folder that existed before stays');
  });

  test('release leaves a lock that is no longer ours', () => {
    const out = fresh();
    const lock = lockOutDir(out, 'finetune');
    fs.writeFileSync(lock.file, JSON.stringify({ ...lock.holder, token: 'someone-else' }));
    lock.release();
    assert.ok(fs.existsSync(lock.file));
  });

  test('a lock of a dead pid on this host is taken over, with a note', () => {
    const out = fresh();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeLock(out, { pid: dead, host: os.hostname() });
    const notes: string[] = [];
    const lock = lockOutDir(out, 'finetune', (l) => notes.push(l));
    assert.equal(JSON.parse(fs.readFileSync(lock.file, 'utf8')).pid, process.pid);
    assert.match(notes.join('\n'), new RegExp(`took over the stale lock of halo finetune \\(pid ${dead} .*pid ${dead} is not running`));
    lock.release();
  });

  test('a live pid with another start time is a reused pid: stale', { skip: processStartTime(process.pid) === undefined ? 'no /proc' : false }, () => {
    const out = fresh();
    writeLock(out, { pid: process.pid, host: os.hostname(), procStart: '1' });
    const notes: string[] = [];
    lockOutDir(out, 'finetune', (l) => notes.push(l)).release();
    assert.match(notes.join('\n'), /is now another process/);
  });

  test('a lock held on another host is refused, saying how to clear it', () => {
    const out = fresh();
    writeLock(out, { pid: 1, host: 'some-other-host' });
    assert.throws(() => lockOutDir(out, 'finetune'), /in use by halo finetune \(pid 1 on some-other-host.*delete .*\.halo\.lock/);
  });

  test('an unreadable lock file left long ago is taken over', () => {
    const out = fresh();
    fs.mkdirSync(out);
    const file = path.join(out, LOCK_FILE);
    fs.writeFileSync(file, '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    const notes: string[] = [];
    lockOutDir(out, 'finetune', (l) => notes.push(l)).release();
    assert.match(notes.join('\n'), /removed the unreadable lock/);
  });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
    test(`a holder killed by ${signal} leaves no lock behind`, async () => {
      const out = fresh();
      const script = `import { lockOutDir } from ${JSON.stringify(path.join(repoRoot, 'src/io/out-lock.ts'))}; lockOutDir(${JSON.stringify(out)}, 'finetune'); process.stdout.write('locked\\n'); for (;;) {}`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      assert.ok(fs.existsSync(path.join(out, LOCK_FILE)), 'locked while running');
      child.kill(signal);
      await new Promise((resolve) => child.once('exit', resolve));
      // The watchdog wakes when the pipe closes; give it up to 10 s on a loaded machine.
      for (let i = 0; i < 200 && fs.existsSync(path.join(out, LOCK_FILE)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(fs.existsSync(path.join(out, LOCK_FILE)), false);
    });
  }
});
