// HUT (Hadamard Updated Transformation, arXiv 2409.13501) as a weight adapter, in the form spec/HUT.md states:
//   W' = W0 ⊙ (J + s·B·A) = W0 + s·W0 ⊙ (B·A),   A [r, in], B [out, r], s = α/r
// (the same update as HiRA, ICLR 2025). A starts Kaiming-uniform and B at zero, so W' = W0 at step 0. The
// projection's HALO linear multiplies with W' — rotated and quantized anew every step, since W' changes — and
// its weight-gradient GEMM gives G = ∂L/∂W', from which
//   M = s·(G ⊙ W0),   ∂L/∂B = M·Aᵀ,   ∂L/∂A = Bᵀ·M.
import type { FloatArray } from '../core/dtype.ts';
import { floatLike } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Rng } from '../core/rng.ts';
import type { WeightAdapter } from './adapter.ts';
import { accumulate, gemmT, LowRankAdapter, transposed, type LowRankOptions } from './lowrank.ts';

export interface HutOptions extends LowRankOptions {
  /** Seeds A's initialisation. */
  seed: number;
}

export class HutAdapter extends LowRankAdapter implements WeightAdapter {
  readonly kind = 'weight' as const;

  constructor(o: HutOptions) {
    super(o, 'hut', new Rng(o.seed));
  }

  /** W' = W0 + s·W0 ⊙ (B·A) for W0 [out, in]; also the merged weight. */
  effectiveWeight(w0: FloatArray): FloatArray {
    this.checkWeight(w0, 'W0');
    const ba = this.product();
    const w = floatLike(w0, w0.length);
    const s = this.scale;
    for (let i = 0; i < w.length; i++) w[i] = w0[i] + s * w0[i] * ba[i];
    return w;
  }

  /** From G = ∂L/∂W' [out, in]: dB += M·Aᵀ, dA += Bᵀ·M with M = s·(G ⊙ W0). */
  backward(w0: FloatArray, g: FloatArray): void {
    this.checkWeight(w0, 'W0');
    this.checkWeight(g, 'G');
    const { inFeatures: K, outFeatures: M, rank: r } = this;
    const m = floatLike(w0, w0.length);
    for (let i = 0; i < m.length; i++) m[i] = this.scale * g[i] * w0[i];
    if (this.b.grad) accumulate(this.b.grad, gemmT(this.be, m, M, this.a.data, r, K));
    if (this.a.grad) accumulate(this.a.grad, gemmT(this.be, transposed(this.be, this.b.data, M, r), r, transposed(this.be, m, M, K), K, M));
  }

  /** B·A [out, in]. */
  private product(): FloatArray {
    return gemmT(this.be, this.b.data, this.outFeatures, transposed(this.be, this.a.data, this.rank, this.inFeatures), this.inFeatures, this.rank);
  }

  private checkWeight(w: FloatArray, what: string): void {
    if (w.length !== this.outFeatures * this.inFeatures) {
      throw new HaloError('E_SHAPE', `${this.projection} HUT: ${what} has ${w.length} values, expected [${this.outFeatures}, ${this.inFeatures}]`);
    }
  }
}
