// Picks the communicator: Open MPI when this process is a rank of an mpirun launch, else one process.
import type { Communicator } from './communicator.ts';
import { LocalCommunicator } from './local.ts';
import { launchedByMpirun, MpiCommunicator } from './mpi.ts';

export type { CommBuffer, Communicator, CommStats, Reduction } from './communicator.ts';
export { LocalCommunicator } from './local.ts';
export { launchedByMpirun, MpiCommunicator } from './mpi.ts';

let world: Communicator | null = null;

/** The process's communicator (created once: MPI may be initialised only once per process). */
export function worldCommunicator(): Communicator {
  world ??= launchedByMpirun() ? new MpiCommunicator() : new LocalCommunicator();
  return world;
}
