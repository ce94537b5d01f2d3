// The native backend's attention for its NnKernels: in f32 the addon's tiled kernel (native/src/nn_attention.cc:
// no T×T tensor, no JavaScript passes over the scores); f64 gradient checks and an addon built before the kernel
// existed run the GEMM-tile path of ../attention-gemm.ts over the native GEMMs, which is what the model ran
// before the kernel. Both save only lse [B, Hq, T] and recompute the scores in backward.
import { gemmAttention, type AttentionKernels } from '../attention-kernels.ts';
import { callAddon as call, type NativeNnAddon } from './binding.ts';
import { nativeBackend } from './index.ts';
import type { FloatArray } from '../../core/dtype.ts';
import { backwardBuffers, checkAttentionArgs, type attentionBackward, type attentionForward, type KeyMask } from '../../nn/ops/attention.ts';
import { checkLen, checkSameFloat, outBuffer } from '../../nn/ops/check.ts';

/** The native kernel behind the reference op's argument checks (same HaloError codes and messages). */
export function nativeAttention(lib: NativeNnAddon): AttentionKernels {
  const fallback = gemmAttention(nativeBackend);
  const f32 = (a: FloatArray) => a as Float32Array; // after checkSameFloat against an f32 array
  // The kernel reads a Uint8Array mask (nonzero = real key); an Int32Array one is converted (B·T bytes).
  const mask8 = (m: KeyMask | null | undefined) => (m == null ? null : m instanceof Uint8Array ? m : Uint8Array.from(m, (x) => (x !== 0 ? 1 : 0)));

  const forward: typeof attentionForward = (q, k, v, B, T, Hq, Hkv, D, opts = {}, buffers = {}) => {
    const fwd = lib.attentionForward;
    if (!fwd || !(q instanceof Float32Array)) return fallback.attentionForward(q, k, v, B, T, Hq, Hkv, D, opts, buffers);
    const op = 'attentionForward';
    const { scale, window } = checkAttentionArgs(op, B, T, Hq, Hkv, D, opts);
    checkLen(op, 'q', q, B * T * Hq * D, '[B, T, Hq, D]');
    checkLen(op, 'k', k, B * T * Hkv * D, '[B, T, Hkv, D]');
    checkLen(op, 'v', v, B * T * Hkv * D, '[B, T, Hkv, D]');
    checkSameFloat(op, q, { k, v });
    const out = outBuffer(op, 'out', buffers.out, q, B * T * Hq * D, '[B, T, Hq, D]');
    const lse = outBuffer(op, 'lse', buffers.lse, q, B * Hq * T, '[B, Hq, T]');
    call(() => fwd.call(lib, q, f32(k), f32(v), mask8(opts.keyMask), B, T, Hq, Hkv, D, window ?? 0, scale, f32(out), f32(lse)));
    return { out, lse };
  };

  const backward: typeof attentionBackward = (dout, q, k, v, lse, B, T, Hq, Hkv, D, opts = {}, buffers = {}) => {
    const bwd = lib.attentionBackward;
    if (!bwd || !(q instanceof Float32Array)) return fallback.attentionBackward(dout, q, k, v, lse, B, T, Hq, Hkv, D, opts, buffers);
    const op = 'attentionBackward';
    const { scale, window } = checkAttentionArgs(op, B, T, Hq, Hkv, D, opts);
    const { dq, dk, dv } = backwardBuffers(op, dout, q, k, v, lse, B, T, Hq, Hkv, D, buffers);
    call(() => bwd.call(lib, f32(dout), q, f32(k), f32(v), f32(lse), mask8(opts.keyMask), B, T, Hq, Hkv, D, window ?? 0, scale, f32(dq), f32(dk), f32(dv)));
    return { dq, dk, dv };
  };

  return { attentionForward: forward, attentionBackward: backward };
}
