// Launching test workers under Open MPI: `mpirun --allow-run-as-root --oversubscribe -np N node --import tsx …`
// with one OpenMP thread per rank (the ranks share the machine's cores). Shared-memory transfers skip the
// kernel's cross-process copy (CMA), which containers often forbid (ptrace), so the tests run in CI containers.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { MPI_ADDON_PATH } from '../../src/dist/mpi.ts';
import { REPO } from './setup.ts';

/** Why the MPI tests cannot run here, or null if they can. */
export function mpiSkipReason(): string | null {
  const probe = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'mpirun not found: apt-get install libopenmpi-dev openmpi-bin';
  if (!existsSync(MPI_ADDON_PATH)) return 'the MPI binding is not built: node native/mpi/build.mjs';
  return null;
}

export function runMpi(n: number, args: string[], env: Record<string, string> = {}): { code: number | null; output: string } {
  const r = spawnSync(
    'mpirun',
    [
      '--allow-run-as-root',
      '--oversubscribe',
      '--mca',
      'btl_vader_single_copy_mechanism',
      'none',
      '-np',
      String(n),
      '-x',
      'OMP_NUM_THREADS=1',
      ...Object.keys(env).flatMap((k) => ['-x', k]),
      process.execPath,
      '--import',
      'tsx',
      ...args,
    ],
    {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 300_000,
    },
  );
  return { code: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}
