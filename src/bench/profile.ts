// A backend wrapper that times every call (wall clock around the synchronous call), per op kind, with the
// GEMMs split by operand dtype and their achieved TOPS: where a training step or a linear layer spends its
// time (bench step --profile, bench linear). Name and behaviour are unchanged, so everything that picks
// kernels by backend name (nnKernels) makes the same choices as without it.
import type { Backend } from '../backend/backend.ts';
import type { NnKernels } from '../backend/nn-kernels.ts';

/** Time a step spends in one kind of backend call (GEMMs split by operand dtype). */
export interface OpProfile {
  op: string; // 'gemm i8', 'gemm f32', 'rotateQuantize', 'cast bf16', 'rotate', 'transpose', 'dequantize', 'nn <kernel>'
  calls: number; // per step
  msPerStep: number;
  tops: number | null; // GEMMs: 2·M·N·K / time, in 10^12 per second
}

/**
 * The same backend with every call timed; take(n) returns the totals divided by n and clears them.
 * kernels(k) wraps a model's NnKernels the same way, as ops named 'nn <kernel>' (e.g. 'nn rmsnormForward'),
 * each timed exclusive of the backend calls it makes itself (the reference attention runs backend GEMMs), so
 * no time is counted twice.
 */
export function profiledBackend(be: Backend): { backend: Backend; kernels(k: NnKernels): NnKernels; take(steps: number): OpProfile[] } {
  const acc = new Map<string, { calls: number; ms: number; flops: number }>();
  let backendMs = 0; // every backend call's time so far, to make the kernels' times exclusive
  const add = (op: string, ms: number, flops: number) => {
    const e = acc.get(op) ?? { calls: 0, ms: 0, flops: 0 };
    e.calls++;
    e.ms += ms;
    e.flops += flops;
    acc.set(op, e);
  };
  const record = (op: string, t0: number, flops = 0) => {
    const ms = performance.now() - t0;
    backendMs += ms;
    add(op, ms, flops);
  };
  const kernels = (k: NnKernels): NnKernels => {
    const out: Record<string, unknown> = { name: k.name };
    for (const [key, f] of Object.entries(k)) {
      if (typeof f !== 'function') continue;
      out[key] = (...args: unknown[]) => {
        const before = backendMs;
        const t0 = performance.now();
        const r = (f as (...a: unknown[]) => unknown)(...args);
        add(`nn ${key}`, performance.now() - t0 - (backendMs - before), 0);
        return r;
      };
    }
    return out as unknown as NnKernels;
  };
  const backend: Backend = {
    name: be.name,
    matmul(a, b, opts) {
      const t0 = performance.now();
      const r = be.matmul(a, b, opts);
      record(`gemm ${a.dtype}`, t0, 2 * r.shape[0]! * r.shape[1]! * (opts?.aT ? a.shape[0]! : a.shape[1]!));
      return r;
    },
    matmulT(a, b, alpha) {
      const t0 = performance.now();
      const r = be.matmulT(a, b, alpha);
      record(`gemm ${a.dtype}`, t0, 2 * a.shape[0]! * b.shape[0]! * a.shape[1]!);
      return r;
    },
    transpose(a) {
      const t0 = performance.now();
      const r = be.transpose(a);
      record('transpose', t0);
      return r;
    },
    rotate(x, rot) {
      const t0 = performance.now();
      const r = be.rotate(x, rot);
      record('rotate', t0);
      return r;
    },
    rotateQuantize(x, rot, format, granularity, opts) {
      const t0 = performance.now();
      const r = be.rotateQuantize(x, rot, format, granularity, opts);
      record(format === 'bf16' ? 'cast bf16' : 'rotateQuantize', t0); // a bf16 'quantization' is a cast (lm_head, BF16 linears)
      return r;
    },
    dequantize(q, dtype) {
      const t0 = performance.now();
      const r = be.dequantize(q, dtype);
      record('dequantize', t0);
      return r;
    },
  };
  return {
    backend,
    kernels,
    /** The profile so far divided by `steps`, then cleared. */
    take(steps: number): OpProfile[] {
      const out = [...acc].map(([op, e]) => ({
        op,
        calls: e.calls / steps,
        msPerStep: e.ms / steps,
        tops: e.flops > 0 ? e.flops / (e.ms * 1e-3) / 1e12 : null,
      }));
      acc.clear();
      return out.sort((x, y) => y.msPerStep - x.msPerStep);
    },
  };
}
