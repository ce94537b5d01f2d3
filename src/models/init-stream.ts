// Fresh weights for a whole checkpoint, produced tensor by tensor and chunk by chunk for the streaming
// safetensors writer (src/io/safetensors-stream.ts), so an 8B model never has to fit in memory. The recipe is
// transformers' _init_weights, as in init.ts: linear and embedding weights ~ N(0, initializer_range²), biases
// 0, RMSNorm weights 1. The normals come from NormalStream (src/core/fast-normal.ts), one stream per tensor
// name: ~200 M values/s instead of Rng.normal's ~30 M, and a tensor's values depend only on (seed, name), so
// `--layers 1` gives the same layer 0 as the full model, and bf16 values are the f32 ones rounded.
import { NormalStream } from '../core/fast-normal.ts';
import { HaloError } from '../core/errors.ts';
import { numel } from '../core/tensor.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { expectedTensors } from '../io/hf-folder.ts';
import type { ProduceTensor, StreamedTensor } from '../io/safetensors-stream.ts';

export type InitDType = 'bf16' | 'f32';

/** Values generated per chunk: 32 MB of bf16, 64 MB of f32. */
const CHUNK_VALUES = 1 << 24;

/** The std of the random weights: config.json's initializer_range (transformers' default 0.02). */
export function initStd(config: ModelConfig): number {
  const raw = config.raw.initializer_range;
  return typeof raw === 'number' && raw > 0 ? raw : 0.02;
}

/** How a tensor is initialised, from its name (the names are transformers' state-dict keys). */
export function initKind(name: string): 'ones' | 'zeros' | 'normal' {
  if (name.endsWith('norm.weight')) return 'ones';
  if (name.endsWith('.bias')) return 'zeros';
  return 'normal';
}

/** Every tensor the config implies, stored as `dtype`. */
export function initTensorPlan(config: ModelConfig, dtype: InitDType): StreamedTensor[] {
  return expectedTensors(config).map((t) => ({ name: t.name, dtype, shape: t.shape }));
}

/** A ProduceTensor that writes each tensor's fresh values; `seed` picks them. Reuses one chunk buffer. */
export function initTensorProducer(config: ModelConfig, seed: number, chunkValues = CHUNK_VALUES): ProduceTensor {
  if (!Number.isInteger(seed)) throw new HaloError('E_ARG', `seed must be an integer, got ${seed}`);
  const std = initStd(config);
  let buf16: Uint16Array | null = null;
  let buf32: Float32Array | null = null;
  return (t, write) => {
    if (t.dtype !== 'bf16' && t.dtype !== 'f32') throw new HaloError('E_DTYPE', `tensor '${t.name}': init writes bf16 or f32, not ${t.dtype}`);
    const n = numel(t.shape);
    const kind = initKind(t.name);
    const stream = new NormalStream(seed, t.name);
    const m = Math.min(chunkValues, n);
    for (let at = 0; at < n; at += m) {
      const len = Math.min(m, n - at);
      let chunk: Uint16Array | Float32Array;
      if (t.dtype === 'bf16') {
        buf16 = buf16 && buf16.length >= m ? buf16 : new Uint16Array(m);
        const c = buf16.subarray(0, len);
        if (kind === 'normal') stream.fillBf16(c, std);
        else c.fill(kind === 'ones' ? 0x3f80 : 0); // bf16 bits of 1.0 and 0.0
        chunk = c;
      } else {
        buf32 = buf32 && buf32.length >= m ? buf32 : new Float32Array(m);
        const c = buf32.subarray(0, len);
        if (kind === 'normal') stream.fillF32(c, std);
        else c.fill(kind === 'ones' ? 1 : 0);
        chunk = c;
      }
      write(chunk);
    }
  };
}
