// The GEMM floor of a training step: what the step would take if every GEMM ran at the standalone rate of its
// operand type on this machine and nothing else cost anything. The rates are measured in the same process and
// run (a square 2048³ GEMM per type, best of a few), so the floor moves with the machine's load like the step
// does; "step = k× floor" then says how much of the step is not GEMM work at full speed.
import type { Backend } from '../backend/backend.ts';
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import type { OpProfile } from './profile.ts';

const SIZE = 2048;

function operand(dtype: string, rng: Rng): Tensor {
  const n = SIZE * SIZE;
  switch (dtype) {
    case 'i8':
      return new Tensor(
        [SIZE, SIZE],
        'i8',
        Int8Array.from({ length: n }, () => rng.int(255) - 127),
      );
    case 'bf16':
      return new Tensor(
        [SIZE, SIZE],
        'bf16',
        Uint16Array.from({ length: n }, () => 0x3f80 | rng.int(128)),
      );
    case 'f32':
      return new Tensor(
        [SIZE, SIZE],
        'f32',
        Float32Array.from({ length: n }, () => rng.next() - 0.5),
      );
    default:
      // fp8/fp6 codes: any byte pattern in range decodes; use small codes (finite in every format).
      return new Tensor(
        [SIZE, SIZE],
        dtype as 'fp8e4m3',
        Uint8Array.from({ length: n }, () => rng.int(64)),
      );
  }
}

/** Tera-operations per second of a standalone SIZE³ GEMM of each dtype (best of `reps`). */
export function standaloneGemmRates(be: Backend, dtypes: readonly string[], reps = 3): Record<string, number> {
  const rng = new Rng(1);
  const out: Record<string, number> = {};
  for (const d of dtypes) {
    const a = operand(d, rng);
    const b = operand(d, rng);
    be.matmulT(a, b, 1); // primitive creation, page faults
    let best = Infinity;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      be.matmulT(a, b, 1);
      best = Math.min(best, performance.now() - t0);
    }
    out[d] = (2 * SIZE ** 3) / (best * 1e-3) / 1e12;
  }
  return out;
}

/** Σ over the step's GEMM types of their operations at the standalone rate, in ms per step. */
export function gemmFloorMs(profile: readonly OpProfile[], rates: Record<string, number>): number {
  let ms = 0;
  for (const p of profile) {
    if (!p.op.startsWith('gemm ') || p.tops === null) continue;
    const rate = rates[p.op.slice(5)];
    if (!rate) continue;
    const teraOps = p.tops * (p.msPerStep * 1e-3); // the profile's achieved rate × its time = its operations
    ms += (teraOps / rate) * 1e3;
  }
  return ms;
}
