// The attention op (src/nn/ops/attention.ts's signatures and semantics) for NnKernels: the GEMM-tile path of
// attention-gemm.ts over a backend's GEMMs, what the reference kernels run (and what a backend without its own
// kernel can reuse over its GEMMs); the native backend's tiled kernel is native/attention.ts. Both save only
// lse [B, Hq, T] and recompute the scores in backward.
import type { Backend } from './backend.ts';
import { referenceBackend } from './reference/index.ts';
import { attentionGemmBackward, attentionGemmForward } from './attention-gemm.ts';
import type { attentionBackward, attentionForward } from '../nn/ops/attention.ts';

export interface AttentionKernels {
  attentionForward: typeof attentionForward;
  attentionBackward: typeof attentionBackward;
}

/** attention-gemm.ts over `be`'s GEMMs, in the reference op's signatures. */
export function gemmAttention(be: Backend): AttentionKernels {
  return {
    attentionForward: (q, k, v, B, T, Hq, Hkv, D, opts, buffers) => attentionGemmForward(be, q, k, v, B, T, Hq, Hkv, D, opts, buffers),
    attentionBackward: (dout, q, k, v, lse, B, T, Hq, Hkv, D, opts, buffers) =>
      attentionGemmBackward(be, dout, q, k, v, { lse }, B, T, Hq, Hkv, D, opts, buffers),
  };
}

export const referenceAttention: AttentionKernels = gemmAttention(referenceBackend);
