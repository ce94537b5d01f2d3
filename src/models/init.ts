// Fresh weights for pretraining, as transformers' LlamaPreTrainedModel._init_weights makes them: linear and
// embedding weights ~ N(0, initializer_range²), biases 0, RMSNorm weights 1. Seeded.
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { expectedTensors } from '../io/hf-folder.ts';

export function initLlamaWeights(config: ModelConfig, seed: number): Map<string, Tensor> {
  const raw = config.raw.initializer_range;
  const std = typeof raw === 'number' && raw > 0 ? raw : 0.02;
  const rng = new Rng(seed);
  const out = new Map<string, Tensor>();
  for (const spec of expectedTensors(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (spec.name.endsWith('norm.weight')) data.fill(1);
    else if (!spec.name.endsWith('.bias')) for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    out.set(spec.name, new Tensor(spec.shape, 'f32', data));
  }
  return out;
}
