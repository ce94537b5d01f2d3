// The optimizer update alone, per step, on `halo bench step`'s default shape (its 39 trainable tensors, 110.6M
// values): adamw vs adamw8bit vs adamw-fp8 with the native kernels (the issue asks adamw8bit ≤ 1.3× adamw).
// Each optimizer takes `--reps` steps in turn (interleaved, so a busy machine slows them alike); the median
// after the first is printed with the state bytes. Usage: node --import tsx scripts/optimizer-step-time.ts [--reps 7]
import { nativeBackend } from '../src/backend/native/index.ts';
import { nnKernels } from '../src/backend/nn-kernels.ts';
import { DEFAULT_STEP_SHAPE, modelConfigFor } from '../src/cli/commands/bench-step.ts';
import { Rng } from '../src/core/rng.ts';
import { expectedTensors } from '../src/io/hf-folder.ts';
import { makeOptimizer, OPTIMIZER_KINDS } from '../src/optim/optimizer.ts';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1] || 7);
const nn = nnKernels(nativeBackend);
if (nn.name !== 'native') throw new Error('the native addon is not built (node native/build.mjs)');
const rng = new Rng(1);
const params = expectedTensors(modelConfigFor(DEFAULT_STEP_SHAPE)).map((s) => {
  const n = s.shape.reduce((a, b) => a * b, 1);
  return {
    name: s.name,
    param: rng.fillNormal(new Float32Array(n), 0.02),
    grad: rng.fillNormal(new Float32Array(n), 1e-3),
    weightDecay: s.shape.length < 2 ? 0 : undefined,
  };
});
const total = params.reduce((a, p) => a + p.param.length, 0);
const opts = OPTIMIZER_KINDS.map((kind) => ({
  kind,
  opt: makeOptimizer({ kind }, params, { lr: 1e-4, betas: [0.9, 0.95], update: nn.adamwUpdate, blockUpdate: nn.adamwBlockUpdate }),
  ms: [] as number[],
}));
for (let r = 0; r < reps; r++) {
  for (const o of opts) {
    const t0 = performance.now();
    o.opt.step();
    o.ms.push(performance.now() - t0);
  }
}
const median = (xs: number[]) => [...xs.slice(1)].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const base = median(opts[0]!.ms);
process.stdout.write(`${params.length} tensors, ${(total / 1e6).toFixed(1)}M values, ${reps} steps each\n`);
for (const o of opts) {
  const m = median(o.ms);
  process.stdout.write(
    `${o.kind.padEnd(10)} ${m.toFixed(1).padStart(7)} ms/step  ×${(m / base).toFixed(2)}  state ${(o.opt.stateBytes() / 2 ** 20).toFixed(0)} MiB\n`,
  );
}
