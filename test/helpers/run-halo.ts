// Runs bin/halo.js as a separate process, as a user would, on the reference backend (so CLI tests do not
// depend on the native build): the exit code and everything it printed.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function halo(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, 'bin/halo.js'), ...args],
      { cwd: repoRoot, env: { ...process.env, HALO_BACKEND: 'reference' } },
      (e, out, err) => {
        resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
      },
    );
  });
}
