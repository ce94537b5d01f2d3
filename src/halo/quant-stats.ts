// Saturation counters per decoder layer: how many quantized values of a training step sit at the format's max
// (src/quant/saturation.ts), next to how many were quantized. It wraps a backend so every rotateQuantize the
// HALO linears make is counted, and uses the model's block hooks to know which decoder layer is running; the
// trainer resets it before a step and writes take() into metrics.jsonl. Nothing is counted unless a model is
// built with these hooks and this backend, so training without it pays nothing.
import type { Backend } from '../backend/backend.ts';
import { countAtMax } from '../quant/saturation.ts';

export type QuantStatsRecord = {
  /** Per decoder layer: quantized values at ±qmax (forward and backward GEMM operands of the step). */
  quantAtMax: number[];
  /** Per decoder layer: quantized values in all. */
  quantValues: number[];
};

export class QuantStats {
  private layer = -1;
  private atMax: number[] = [];
  private values: number[] = [];

  /** Block hooks for LlamaModel (opts.blockHooks): they tell the counter which layer runs. */
  readonly hooks = {
    before: (layer: number) => {
      this.layer = layer;
    },
    after: () => {
      this.layer = -1;
    },
  };

  /** `be` with rotateQuantize counted; every other method is be's own. */
  wrap(be: Backend): Backend {
    const wrapped = Object.create(be) as Backend;
    wrapped.rotateQuantize = (x, rot, format, granularity, opts) => {
      const q = be.rotateQuantize(x, rot, format, granularity, opts);
      const l = this.layer;
      if (l >= 0) {
        while (this.values.length <= l) {
          this.values.push(0);
          this.atMax.push(0);
        }
        this.atMax[l] += countAtMax(q);
        this.values[l] += q.q.data.length;
      }
      return q;
    };
    return wrapped;
  }

  reset(): void {
    this.atMax.fill(0);
    this.values.fill(0);
  }

  /** Counts since the last reset (null if nothing was quantized: a float run). */
  take(): QuantStatsRecord | null {
    if (this.values.every((v) => v === 0)) return null;
    return { quantAtMax: [...this.atMax], quantValues: [...this.values] };
  }
}
