// The one-process Communicator (size 1): every collective is the identity (or a copy between buffers).
import { checkGather, newStats, type CommBuffer, type Communicator, type Reduction } from './communicator.ts';
import { HaloError } from '../core/errors.ts';

export class LocalCommunicator implements Communicator {
  readonly rank = 0;
  readonly size = 1;
  readonly kind = 'local';
  readonly stats = newStats();

  allReduce(buf: CommBuffer, _op: Reduction): void {
    this.stats.calls++;
    this.stats.allReduceBytes += buf.byteLength;
  }

  allGather<T extends CommBuffer>(send: T, recv: T): void {
    checkGather('allGather', send, recv, 1);
    this.stats.calls++;
    this.stats.allGatherBytes += recv.byteLength;
    if (recv !== send) recv.set(send as never);
  }

  reduceScatter<T extends CommBuffer>(send: T, recv: T, _op: Reduction = 'sum'): void {
    checkGather('reduceScatter', recv, send, 1);
    this.stats.calls++;
    this.stats.reduceScatterBytes += send.byteLength;
    if (recv !== send) recv.set(send as never);
  }

  broadcast(_buf: CommBuffer, root: number): void {
    if (root !== 0) throw new HaloError('E_ARG', `broadcast: root ${root} is not a rank of a 1-process run`);
    this.stats.calls++;
  }

  barrier(): void {}
}
