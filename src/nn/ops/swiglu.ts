// SwiGLU gate of LlamaMLP: h = silu(gate) ⊙ up, silu(g) = g·σ(g) (config hidden_act 'silu'); the projections
// around it are linears. Saves nothing: backward recomputes σ from gate, and gate/up are the outputs of
// gate_proj/up_proj, which the caller keeps for those linears' backward anyway. Elementwise over any shape.
import type { FloatArray } from '../../core/dtype.ts';
import { checkLen, checkSameFloat, outBuffer } from './check.ts';

/**
 * @param gate [N, F] gate_proj output (F = intermediate_size; any shape of n elements works)
 * @param up   [N, F] up_proj output
 * @param out  [N, F] optional output buffer
 * @returns    h [N, F]
 */
export function swigluForward(gate: FloatArray, up: FloatArray, out?: FloatArray): FloatArray {
  const op = 'swigluForward';
  const n = gate.length;
  checkLen(op, 'up', up, n, "gate's shape");
  checkSameFloat(op, gate, { up });
  const h = outBuffer(op, 'out', out, gate, n, "gate's shape");
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    h[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
  return h;
}

/**
 * dgate = dh ⊙ up ⊙ σ(g)·(1 + g·(1 − σ(g))),  dup = dh ⊙ silu(g). WRITES both (either may be dh itself).
 * @param dh   [N, F] gradient of h
 * @param gate [N, F] the forward's gate
 * @param up   [N, F] the forward's up
 * @param buffers optional outputs dgate, dup [N, F]
 */
export function swigluBackward(
  dh: FloatArray,
  gate: FloatArray,
  up: FloatArray,
  buffers: { dgate?: FloatArray; dup?: FloatArray } = {},
): { dgate: FloatArray; dup: FloatArray } {
  const op = 'swigluBackward';
  const n = gate.length;
  checkLen(op, 'dh', dh, n, "gate's shape");
  checkLen(op, 'up', up, n, "gate's shape");
  checkSameFloat(op, gate, { dh, up });
  const dgate = outBuffer(op, 'dgate', buffers.dgate, gate, n, "gate's shape");
  const dup = outBuffer(op, 'dup', buffers.dup, gate, n, "gate's shape");
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const d = dh[i];
    const sig = 1 / (1 + Math.exp(-g));
    dgate[i] = d * up[i] * sig * (1 + g * (1 - sig));
    dup[i] = d * g * sig;
  }
  return { dgate, dup };
}
