// LoRA as an output adapter: y = base(x) + Δ(x), Δ(x) = s·B·A·dropout(x), s = α/r (Hu et al. 2021, as in HF
// peft's lora.Linear). The base projection keeps running through the HALO linear; the adapter runs in high
// precision beside it, so a frozen base needs only its input-gradient GEMM in backward.
//
// Dropout acts on the input of A only and is inverted (kept values scaled by 1/(1−p)), like nn.Dropout; it is
// seeded per adapter and applied only while `training` is true.
import type { FloatArray } from '../core/dtype.ts';
import { floatLike } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Rng } from '../core/rng.ts';
import type { OutputAdapter } from './adapter.ts';
import { accumulate, gemmT, LowRankAdapter, transposed, type LowRankOptions } from './lowrank.ts';

export interface LoraOptions extends LowRankOptions {
  /** Dropout probability on the adapter's input, in [0, 1). */
  dropout: number;
  /** Seeds A's initialisation and the dropout masks. */
  seed: number;
}

// The tape keeps the input x itself (shared by q/k/v and by gate/up, which read the same x) and a 1-byte
// dropout mask, not a dropped-out f32 copy per adapter; backward rebuilds dropout(x) from the two.
interface LoraTape {
  x: FloatArray; // [N, in] the adapter's input, before dropout
  mask: Uint8Array | null; // [N, in] 1 = kept, when dropout ran
  u: FloatArray; // [N, r] dropout(x)·Aᵀ
}

export class LoraAdapter extends LowRankAdapter implements OutputAdapter {
  readonly kind = 'output' as const;
  readonly dropout: number;
  /** Dropout runs only while true (set false for evaluation and generation). */
  training = true;
  private readonly rng: Rng;

  constructor(o: LoraOptions) {
    if (!(o.dropout >= 0 && o.dropout < 1)) throw new HaloError('E_ARG', `${o.projection}: LoRA dropout must be in [0, 1), got ${o.dropout}`);
    const rng = new Rng(o.seed);
    super(o, 'lora', rng);
    this.rng = rng;
    this.dropout = o.dropout;
  }

  randomState(): unknown {
    return this.rng.state();
  }

  setRandomState(state: unknown): void {
    this.rng.restore(state as ReturnType<Rng['state']>);
  }

  /** Δ(x) for x [N, in] → [N, out]. */
  forward(x: FloatArray, N: number): { y: FloatArray; tape: LoraTape } {
    const { inFeatures: K, outFeatures: M, rank: r } = this;
    if (x.length !== N * K) throw new HaloError('E_SHAPE', `${this.projection} LoRA: input has ${x.length} values, expected [${N}, ${K}]`);
    let xd = x;
    let mask: Uint8Array | null = null;
    if (this.training && this.dropout > 0) {
      const p = this.dropout;
      const keep = 1 / (1 - p);
      xd = floatLike(x, x.length);
      mask = new Uint8Array(x.length);
      for (let i = 0; i < x.length; i++) {
        if (this.rng.next() >= p) {
          mask[i] = 1;
          xd[i] = x[i] * keep;
        }
      }
    }
    const u = gemmT(this.be, xd, N, this.a.data, r, K); // [N, r]
    const y = gemmT(this.be, u, N, this.b.data, M, r, this.scale); // [N, out]
    return { y, tape: { x, mask, u } };
  }

  /** dB += s·dyᵀ·u, dA += (s·dy·B)ᵀ·xd with xd = dropout(x); returns dx [N, in] (through the dropout mask). */
  backward(tape: unknown, dy: FloatArray, N: number): FloatArray {
    const t = tape as LoraTape;
    const { inFeatures: K, outFeatures: M, rank: r } = this;
    const be = this.be;
    const keep = 1 / (1 - this.dropout);
    let xd = t.x;
    if (t.mask) {
      xd = floatLike(t.x, t.x.length);
      for (let i = 0; i < xd.length; i++) if (t.mask[i]) xd[i] = t.x[i] * keep;
    }
    const dyT = transposed(be, dy, N, M); // [out, N]
    if (this.b.grad) accumulate(this.b.grad, gemmT(be, dyT, M, transposed(be, t.u, N, r), r, N, this.scale));
    const du = gemmT(be, dy, N, transposed(be, this.b.data, M, r), r, M, this.scale); // [N, r]
    if (this.a.grad) accumulate(this.a.grad, gemmT(be, transposed(be, du, N, r), r, transposed(be, xd, N, K), K, N));
    const dx = gemmT(be, du, N, transposed(be, this.a.data, r, K), K, r); // [N, in]
    if (t.mask) for (let i = 0; i < dx.length; i++) dx[i] = t.mask[i] ? dx[i] * keep : 0;
    return dx;
  }

  /** ΔW = s·B·A [out, in]: what merging adds to the base weight. */
  delta(): FloatArray {
    return gemmT(this.be, this.b.data, this.outFeatures, transposed(this.be, this.a.data, this.rank, this.inFeatures), this.inFeatures, this.rank, this.scale);
  }
}
