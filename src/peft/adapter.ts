// How a parameter-efficient adapter plugs into a projection of the model, without the model knowing which
// method it is. Two shapes cover LoRA and HUT:
//   output adapters add to the projection's output:    y = base(x) + Δ(x)          (LoRA: Δ(x) = s·B·A·x)
//   weight adapters replace the weight the base uses:  y = x·W'ᵀ, W' = f(W0, θ)    (HUT: W' = W0 + s·W0⊙(B·A))
// The base projection keeps running through the HALO linear either way.
import type { FloatArray } from '../core/dtype.ts';
import type { Param } from '../models/causal-lm.ts';

export interface OutputAdapter {
  kind: 'output';
  params(): readonly Param[];
  /** Δ(x) for x [N, in] → [N, out]; `tape` is whatever backward needs. */
  forward(x: FloatArray, N: number): { y: FloatArray; tape: unknown };
  /** Accumulates the adapter's parameter gradients; returns its contribution to dx [N, in]. */
  backward(tape: unknown, dy: FloatArray, N: number): FloatArray;
  /** The state of its random draws (dropout), so a recomputed forward draws the same masks. */
  randomState?(): unknown;
  setRandomState?(state: unknown): void;
}

export interface WeightAdapter {
  kind: 'weight';
  params(): readonly Param[];
  /** W' [out, in] from the frozen W0 [out, in]. */
  effectiveWeight(w0: FloatArray): FloatArray;
  /** Given G = ∂L/∂W' [out, in], accumulates the adapter's parameter gradients. */
  backward(w0: FloatArray, g: FloatArray): void;
}

export type Adapter = OutputAdapter | WeightAdapter;
