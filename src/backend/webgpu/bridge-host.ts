// The page side of the synchronous WebGPU bridge (bridge-protocol.ts): answers a training worker's requests
// with asynchronous GPU kernels, one at a time (the worker is blocked until each answer), writing each result
// into the shared buffer and waking the worker. A kernel that throws is answered FAILED with its message, so
// the worker falls back to its reference backend (E_UNSUPPORTED) or stops with the error.
import type { FloatTensor, GemmOptions, Rotation } from '../backend.ts';
import { HaloError } from '../../core/errors.ts';
import { Tensor } from '../../core/tensor.ts';
import type { Granularity, QuantFormat, Quantized } from '../../quant/index.ts';
import { DATA_START, ERROR_BYTES, FAILED, OK, STATE, type BridgeMessage, type BridgeRequest, type SharedArray } from './bridge-protocol.ts';

/** The asynchronous kernels the host runs requests on (kernels.ts's host-array wrappers fit this). */
export interface AsyncKernels {
  matmul(a: Tensor, b: Tensor, opts: GemmOptions): Promise<FloatTensor>;
  rotateQuantize(x: FloatTensor, rot: Rotation | null, format: QuantFormat, granularity: Granularity, opts: { transposeOut?: boolean }): Promise<Quantized>;
}

/** What can carry messages from a worker: a Worker, or a test double. */
export interface MessageSource {
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
}

export interface BridgeHost {
  /** Requests answered so far, and the milliseconds spent in kernels (copies included). */
  readonly stats: { requests: number; failures: number; ms: number };
}

function copyOut(buf: SharedArrayBuffer, s: SharedArray): Tensor {
  const n = s.shape.reduce((a, b) => a * b, 1);
  // A copy: WebGPU's writeBuffer does not take views of shared memory.
  return s.dtype === 'f32'
    ? new Tensor(s.shape, 'f32', new Float32Array(buf, s.offset, n).slice())
    : new Tensor(s.shape, 'i8', new Int8Array(buf, s.offset, n).slice());
}

async function run(kernels: AsyncKernels, buf: SharedArrayBuffer, req: BridgeRequest): Promise<void> {
  if (req.kind === 'matmul') {
    const out = await kernels.matmul(copyOut(buf, req.a), copyOut(buf, req.b), req.opts);
    const [M, N] = req.outShape;
    if (out.data.length !== M * N) throw new HaloError('E_SHAPE', `matmul gave ${out.data.length} values, expected ${M}×${N}`);
    new Float32Array(buf, req.out, M * N).set(out.data);
    return;
  }
  const x = copyOut(buf, req.x) as FloatTensor;
  const rot: Rotation | null = req.rot ? { plan: req.rot.plan, side: req.rot.side, transpose: req.rot.transpose } : null;
  const q = await kernels.rotateQuantize(x, rot, req.format, req.granularity, { transposeOut: req.transposeOut });
  new Int8Array(buf, req.codes, q.q.data.length).set(q.q.data as Int8Array);
  new Float32Array(buf, req.scales, q.scales.length).set(q.scales);
}

function describe(r: BridgeRequest): string {
  if (r.kind === 'matmul') return `matmul ${r.a.dtype} [${r.a.shape}]${r.opts.aT ? 'ᵀ' : ''} · [${r.b.shape}]${r.opts.bT ? 'ᵀ' : ''}`;
  return `rotateQuantize [${r.x.shape}] ${r.rot ? `${r.rot.side} n=${r.rot.plan.n} block=${r.rot.plan.block}` : 'no rotation'} ${r.granularity}${r.transposeOut ? ' transposed' : ''}`;
}

/** Answers `worker`'s bridge requests with `kernels` (other messages are left to the caller's listeners). */
export function serveBridge(worker: MessageSource, kernels: AsyncKernels, opts: { log?: (line: string) => void } = {}): BridgeHost {
  const stats = { requests: 0, failures: 0, ms: 0 };
  let buf: SharedArrayBuffer | null = null;
  worker.addEventListener('message', (e) => {
    const msg = e.data as Partial<BridgeMessage> | null;
    if (!msg || typeof msg !== 'object' || !('halobridge' in msg)) return;
    if (msg.buffer) buf = msg.buffer;
    const shared = buf;
    if (!shared) return; // cannot answer: the worker's first message always carries its buffer
    const control = new Int32Array(shared, 0, 16);
    const t0 = performance.now();
    const req = msg.halobridge!;
    opts.log?.(`bridge ${stats.requests + stats.failures}: ${describe(req)} …`);
    run(kernels, shared, req).then(
      () => {
        opts.log?.(`bridge ${stats.requests + stats.failures}: done in ${(performance.now() - t0).toFixed(1)} ms`);
        stats.requests++;
        stats.ms += performance.now() - t0;
        Atomics.store(control, STATE, OK);
        Atomics.notify(control, STATE);
      },
      (err: unknown) => {
        stats.failures++;
        const code = err instanceof HaloError ? err.code : 'E_DEVICE';
        const text = new TextEncoder().encode(`${code}: ${(err as Error)?.message ?? String(err)}`).subarray(0, 4096);
        new Uint8Array(shared, DATA_START, text.length).set(text);
        Atomics.store(control, ERROR_BYTES, text.length);
        Atomics.store(control, STATE, FAILED);
        Atomics.notify(control, STATE);
      },
    );
  });
  return { stats };
}
