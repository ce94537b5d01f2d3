// Shared fixtures for the PEFT tests: a tiny seeded Llama config + weights, random token batches, and
// randomised adapter factors (B = 0 at init would hide every bug in A's gradient and in the merge).
import { Rng } from '../../src/core/rng.ts';
import { parseModelConfig, type ModelConfig } from '../../src/io/hf-config.ts';
import { tinyConfigJson, tinyWeights } from '../../src/io/testing/tiny-model.ts';
import type { Tensor } from '../../src/core/tensor.ts';
import type { Adapter } from '../../src/peft/adapter.ts';
export { batchOf } from '../helpers/random-batch.ts';

export function tinyModel(seed = 5): { config: ModelConfig; weights: Map<string, Tensor> } {
  const config = parseModelConfig(tinyConfigJson({ hidden: 16, layers: 2, heads: 4, kvHeads: 2, intermediate: 24, vocab: 270, seed: 3 }));
  return { config, weights: tinyWeights(config, seed, 'f32', 0.3) };
}

/** Overwrites every adapter factor with N(0, std²) values. */
export function randomizeAdapters(adapters: ReadonlyMap<string, Adapter>, seed: number, std = 0.2): void {
  const rng = new Rng(seed);
  for (const a of adapters.values()) for (const p of a.params()) rng.fillNormal(p.data, std);
}

export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}
