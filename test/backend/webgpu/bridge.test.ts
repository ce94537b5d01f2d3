// The synchronous WebGPU bridge's protocol, tested in Node with worker_threads: a worker blocks on each call of
// BridgedBackend while this thread answers over the shared buffer — here with the reference backend instead of
// the GPU, so every answer must equal the reference computed directly, bit for bit (and the buffer must grow
// for the larger cases). f64 calls must stay in the worker. The GPU kernels themselves are checked in Chromium
// (test/browser/).
import assert from 'node:assert/strict';
import test from 'node:test';
import { Worker } from 'node:worker_threads';
import { referenceBackend } from '../../../src/backend/reference/index.ts';
import { serveBridge, type AsyncKernels, type BridgeHost } from '../../../src/backend/webgpu/bridge-host.ts';
import { HaloError } from '../../../src/core/errors.ts';
import { Tensor } from '../../../src/core/tensor.ts';
import { planHadamard } from '../../../src/hadamard/index.ts';

// Workers do not inherit tsx's loader: the worker's first act is to register it, then import the TypeScript.
const WORKER = new URL('./bridge-worker.ts', import.meta.url).href;
const BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(WORKER)}); });`;
const startWorker = (data: unknown) => new Worker(BOOT, { eval: true, workerData: data });

interface WorkerResult {
  done: any[];
  stats: { gpuCalls: number; cpuCalls: number };
}

/** Runs bridge-worker.ts on `cases` with this thread answering its bridge requests by `kernels`. */
async function runBridged(cases: unknown[], kernels: AsyncKernels): Promise<{ done: WorkerResult; host: BridgeHost }> {
  const worker = startWorker({ cases });
  const listeners: ((e: { data: unknown }) => void)[] = [];
  const host = serveBridge({ addEventListener: (_t, l) => listeners.push(l) }, kernels);
  const done = await new Promise<WorkerResult>((resolve, reject) => {
    worker.on('message', (data) => {
      if (data && typeof data === 'object' && 'done' in data) resolve(data);
      else for (const l of listeners) l({ data });
    });
    worker.on('error', reject);
  });
  await worker.terminate();
  return { done, host };
}

const cases = [
  { M: 3, K: 8, N: 5, seed: 1 },
  { M: 64, K: 256, N: 96, seed: 2 },
  { M: 200, K: 768, N: 300, seed: 3 }, // > 1 MiB of operands: the worker grows its buffer
];

test('BridgedBackend over worker_threads gives the reference results bit for bit', async () => {
  let calls = 0;
  const kernels: AsyncKernels = {
    matmul: async (a, b, opts) => (calls++, referenceBackend.matmul(a, b, opts)),
    rotateQuantize: async (x, rot, f, g, o) => (calls++, referenceBackend.rotateQuantize(x, rot, f, g, o)),
  };
  const { done, host } = await runBridged(cases, kernels);
  assert.equal(done.stats.gpuCalls, cases.length * 4, 'f32 GEMM, two rotate+quantize and the i8 GEMM cross the bridge');
  assert.equal(done.stats.cpuCalls, cases.length, 'the f64 GEMM stays in the worker');
  assert.equal(host.stats.requests, calls);
  cases.forEach((c, i) => {
    const r = done.done[i];
    const a = new Tensor(
      [c.M, c.K],
      'f32',
      new Float32Array(c.M * c.K).map((_, j) => Math.sin(j * 0.37 + c.seed)),
    );
    const b = new Tensor(
      [c.N, c.K],
      'f32',
      new Float32Array(c.K * c.N).map((_, j) => Math.cos(j * 0.11 + c.seed)),
    );
    assert.deepEqual(r.f32, referenceBackend.matmul(a, b, { bT: true, alpha: 0.5 }).data, `case ${i}: f32 GEMM`);
    const qa = referenceBackend.rotateQuantize(a, { plan: planHadamard(c.K), side: 'right', transpose: false }, 'int8', 'row');
    const qb = referenceBackend.rotateQuantize(b, null, 'int8', 'tensor', { transposeOut: true });
    assert.deepEqual(r.qa.q, qa.q.data, `case ${i}: rotated row codes`);
    assert.deepEqual(r.qa.s, qa.scales, `case ${i}: row scales`);
    assert.deepEqual(r.qb.q, qb.q.data, `case ${i}: transposed codes`);
    assert.deepEqual(r.qb.shape, [c.K, c.N]);
    assert.deepEqual(r.i8, referenceBackend.matmul(qa.q, qb.q, { alpha: 0.25 }).data, `case ${i}: i8 GEMM`);
  });
});

test('a kernel that refuses (E_UNSUPPORTED) sends the worker to its reference backend; other failures throw there', async () => {
  const kernels: AsyncKernels = {
    matmul: async () => {
      throw new HaloError('E_UNSUPPORTED', 'no f32 GEMM today');
    },
    rotateQuantize: async (x, rot, f, g, o) => referenceBackend.rotateQuantize(x, rot, f, g, o),
  };
  const { done, host } = await runBridged(cases.slice(0, 1), kernels);
  assert.equal(host.stats.failures, 2, 'the f32 and the i8 GEMM are refused (each once per kind)');
  assert.equal(done.stats.gpuCalls, 2, 'the two rotate+quantize calls');
  assert.equal(done.stats.cpuCalls, 3, 'both GEMMs after their refusal, and f64, on the reference');
});
