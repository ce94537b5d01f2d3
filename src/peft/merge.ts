// Folding adapters into the base weights, so the result is one plain Hugging Face model with no inference
// overhead: LoRA W + (α/r)·B·A (peft's merge_and_unload), HUT W0 + s·W0⊙(B·A). The sums are formed in f32
// and stored in the base checkpoint's dtype unless asked otherwise.
import type { Backend } from '../backend/backend.ts';
import type { DType, FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { assertFiniteTensor } from '../core/finite.ts';
import { Tensor } from '../core/tensor.ts';
import { castTensor } from '../io/cast.ts';
import { loadModelFolder, saveModelFolder } from '../io/hf-folder.ts';
import { checkOutDir } from '../io/out-dir.ts';
import type { Adapter } from './adapter.ts';
import { loadPeft, type PeftSpec } from './io.ts';
import { LoraAdapter } from './lora.ts';

/** W' [out, in] of one projection with its adapter folded in. */
export function mergedWeight(w0: FloatArray, adapter: Adapter, name: string): FloatArray {
  if (adapter.kind === 'weight') return adapter.effectiveWeight(w0);
  if (!(adapter instanceof LoraAdapter)) throw new HaloError('E_UNSUPPORTED', `${name}: this output adapter has no merge rule (only LoRA's is known)`);
  const d = adapter.delta();
  if (d.length !== w0.length)
    throw new HaloError('E_SHAPE', `${name}: the adapter is [${adapter.outFeatures}, ${adapter.inFeatures}], the weight has ${w0.length} values`);
  const out = Float32Array.from(w0);
  for (let i = 0; i < out.length; i++) out[i] += d[i];
  return out;
}

/** A copy of `weights` with every adapted projection merged (f32); untouched tensors are shared, not copied. */
export function mergeWeights(weights: ReadonlyMap<string, Tensor>, adapters: ReadonlyMap<string, Adapter>): Map<string, Tensor> {
  const out = new Map(weights);
  for (const [name, adapter] of adapters) {
    const w = weights.get(name);
    if (!w) throw new HaloError('E_FORMAT', `the adapter targets ${name}, which the base model does not have`);
    const w32 = castTensor(w, 'f32', name).data;
    out.set(name, new Tensor(w.shape, 'f32', Float32Array.from(mergedWeight(w32, adapter, name))));
  }
  return out;
}

export interface MergeFolderOptions {
  model: string;
  adapter: string;
  out: string;
  /** Storage dtype of the merged weights (default: the base checkpoint's). */
  dtype?: DType;
  backend?: Backend;
  /** Load NaN/Inf weights and write a non-finite merge (default: E_NUMERIC naming the tensor, nothing written). */
  allowNonfinite?: boolean;
}

/** Base folder + adapter folder → a full HF folder (config, weights, tokenizer files) with the adapter merged. */
export function mergeAdapterFolder(o: MergeFolderOptions): { spec: PeftSpec; files: string[]; dtype: DType } {
  checkOutDir(o.out, [
    { flag: '--model', dir: o.model },
    { flag: '--adapter', dir: o.adapter },
  ]);
  const allow = o.allowNonfinite === true;
  const source = loadModelFolder(o.model, { dtype: 'f32', allowNonfinite: allow });
  const { adapters, spec } = loadPeft(o.adapter, source.config, { backend: o.backend }, { allowNonfinite: allow });
  const dtype = o.dtype ?? source.dtype;
  const weights = mergeWeights(source.weights, adapters);
  // Checked in the dtype that is written: a sum that is finite in f32 can still overflow f16 (max 65504).
  for (const name of adapters.keys()) {
    const w = castTensor(weights.get(name)!, dtype, name);
    weights.set(name, w);
    if (!allow)
      assertFiniteTensor(
        name,
        w,
        `merging ${o.adapter} (lora_alpha ${spec.alpha}, r ${spec.rank}) into ${o.model}`,
        `nothing was written; check the adapter's lora_alpha and weights${dtype === 'f32' ? '' : `, or merge with --dtype f32`}`,
      );
  }
  const files = saveModelFolder(o.out, { config: source.config, weights, dtype, tokenizerFrom: o.model });
  return { spec, files, dtype };
}
