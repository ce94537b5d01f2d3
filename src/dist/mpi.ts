// The Open MPI Communicator, over the optional addon native/mpi/build/Release/halo_mpi.node (built by
// native/mpi/build.mjs when Open MPI is installed). Loaded only when the process was started by mpirun, so a
// plain `halo finetune` never touches MPI.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { HaloError } from '../core/errors.ts';
import { checkGather, newStats, type CommBuffer, type Communicator, type Reduction } from './communicator.ts';

export const MPI_ADDON_PATH = fileURLToPath(new URL('../../native/mpi/build/Release/halo_mpi.node', import.meta.url));

interface MpiAddon {
  init(): { rank: number; size: number; threadLevel: number };
  finalize(): void;
  abort(code: number): void;
  allReduce(buf: CommBuffer, op: Reduction): void;
  allGather(send: CommBuffer, recv: CommBuffer): void;
  reduceScatter(send: CommBuffer, recv: CommBuffer, op: Reduction): void;
  broadcast(buf: CommBuffer, root: number): void;
  barrier(): void;
  version(): string;
}

/** True when this process is one rank of an mpirun / mpiexec launch (Open MPI sets these). */
export function launchedByMpirun(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.OMPI_COMM_WORLD_SIZE !== undefined || env.PMIX_RANK !== undefined;
}

let addon: MpiAddon | null = null;

function loadAddon(): MpiAddon {
  if (addon) return addon;
  if (!existsSync(MPI_ADDON_PATH)) {
    throw new HaloError('E_MPI', `the MPI binding ${MPI_ADDON_PATH} is not built: apt-get install libopenmpi-dev openmpi-bin, then node native/mpi/build.mjs`);
  }
  try {
    addon = createRequire(import.meta.url)(MPI_ADDON_PATH) as MpiAddon;
  } catch (e) {
    throw new HaloError('E_MPI', `cannot load ${MPI_ADDON_PATH}: ${(e as Error).message}`);
  }
  return addon;
}

export class MpiCommunicator implements Communicator {
  readonly rank: number;
  readonly size: number;
  readonly kind = 'mpi';
  readonly stats = newStats();
  readonly version: string;
  private readonly mpi: MpiAddon;

  constructor() {
    this.mpi = loadAddon();
    const { rank, size } = this.mpi.init();
    this.rank = rank;
    this.size = size;
    this.version = this.mpi.version().trim();
    // A clean exit finalises; a failing rank aborts the job, or the others would wait in a collective forever.
    process.on('exit', (code) => {
      if (code === 0) this.mpi.finalize();
      else this.mpi.abort(code);
    });
  }

  allReduce(buf: CommBuffer, op: Reduction): void {
    this.stats.calls++;
    this.stats.allReduceBytes += buf.byteLength;
    this.mpi.allReduce(buf, op);
  }

  allGather<T extends CommBuffer>(send: T, recv: T): void {
    checkGather('allGather', send, recv, this.size);
    this.stats.calls++;
    this.stats.allGatherBytes += recv.byteLength;
    this.mpi.allGather(send, recv);
  }

  reduceScatter<T extends CommBuffer>(send: T, recv: T, op: Reduction = 'sum'): void {
    checkGather('reduceScatter', recv, send, this.size);
    this.stats.calls++;
    this.stats.reduceScatterBytes += send.byteLength;
    this.mpi.reduceScatter(send, recv, op);
  }

  broadcast(buf: CommBuffer, root: number): void {
    if (!Number.isInteger(root) || root < 0 || root >= this.size) throw new HaloError('E_ARG', `broadcast: root ${root} is not a rank (size ${this.size})`);
    this.stats.calls++;
    this.mpi.broadcast(buf, root);
  }

  barrier(): void {
    this.mpi.barrier();
  }
}
