// The worker half of bridge.test.ts: runs backend calls through BridgedBackend (the host answers them on the
// reference backend, as the page answers with WebGPU) and posts each result back for comparison.
import { parentPort, workerData } from 'node:worker_threads';
import { BridgedBackend } from '../../../src/backend/webgpu/bridge-client.ts';
import { Tensor } from '../../../src/core/tensor.ts';
import { planHadamard } from '../../../src/hadamard/index.ts';

const port = parentPort!;
// Thresholds 0: every supported call crosses, however small.
const be = new BridgedBackend((m) => port.postMessage(m), { minGpuMacs: 0, minGpuElements: 0 });
const { cases } = workerData as { cases: { M: number; K: number; N: number; seed: number }[] };
const results: unknown[] = [];
for (const c of cases) {
  const a = new Float32Array(c.M * c.K).map((_, i) => Math.sin(i * 0.37 + c.seed));
  const b = new Float32Array(c.K * c.N).map((_, i) => Math.cos(i * 0.11 + c.seed));
  const ta = new Tensor([c.M, c.K], 'f32', a);
  const tb = new Tensor([c.N, c.K], 'f32', b);
  const f32 = be.matmul(ta, tb, { bT: true, alpha: 0.5 });
  const qa = be.rotateQuantize(ta, { plan: planHadamard(c.K), side: 'right', transpose: false }, 'int8', 'row');
  const qb = be.rotateQuantize(tb, null, 'int8', 'tensor', { transposeOut: true });
  const i8 = be.matmul(qa.q, qb.q, { alpha: 0.25 });
  const f64 = be.matmul(new Tensor([c.M, c.K], 'f64', Float64Array.from(a)), new Tensor([c.K, c.N], 'f64', Float64Array.from(b)));
  results.push({ f32: f32.data, qa: { q: qa.q.data, s: qa.scales }, qb: { q: qb.q.data, s: qb.scales, shape: qb.q.shape }, i8: i8.data, f64: f64.data });
}
port.postMessage({ done: results, stats: be.stats });
