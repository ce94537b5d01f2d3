// Loading a Hugging Face folder as a frozen base with adapters: new ones for fine-tuning (`--peft lora|hut`),
// or saved ones from an adapter folder for eval / generate without merging. The base is read tensor by
// tensor; with `base8bit` each frozen projection becomes rotated 8-bit codes as it arrives, so its f32 copy
// never exists for the whole model at once, and a bf16 embedding / lm_head stays bf16.
import { getBackend, type BackendName } from '../backend/select.ts';
import { HaloError } from '../core/errors.ts';
import type { HaloConfig } from '../halo/config.ts';
import { withModelFolder, type LoadedFolder } from '../models/load.ts';
import type { PeftOptions } from './build.ts';
import { loadPeft, specOfAdapters, type PeftSpec } from './io.ts';
import { createPeftModel, type PeftModel } from './peft-model.ts';

export interface LoadPeftOptions {
  halo: HaloConfig;
  backend?: BackendName;
  /** Fresh adapters with these settings … */
  peft?: PeftOptions;
  /** … or the adapters saved in this folder. */
  adapter?: string;
  /** Keep the frozen base projections as rotated 8-bit codes only (LoRA, quantized format), bf16 tables bf16. */
  base8bit?: boolean;
  gradCheckpointing?: boolean;
  /** Load base weights or saved adapters holding NaN/Inf (default: E_NUMERIC naming the tensor). */
  allowNonfinite?: boolean;
}

export function loadPeftLlama(modelDir: string, o: LoadPeftOptions): { model: PeftModel; source: LoadedFolder; spec: PeftSpec } {
  if ((o.peft === undefined) === (o.adapter === undefined)) {
    throw new HaloError('E_ARG', 'give either new PEFT settings (--peft lora|hut) or an adapter folder (--adapter DIR), not both or neither');
  }
  const backend = getBackend(o.backend);
  // The memory-lean base: projections as 8-bit codes, and a bf16 checkpoint's embedding and head kept bf16.
  const lean = o.base8bit === true;
  const common = {
    halo: o.halo,
    backend,
    adoptWeights: true,
    gradCheckpointing: o.gradCheckpointing,
    frozenProjections: lean ? ('codes' as const) : ('f32' as const),
    frozenTables: lean ? ('bf16' as const) : ('f32' as const),
  };
  if (o.adapter !== undefined) {
    const adapterDir = o.adapter;
    const { result, source } = withModelFolder(
      modelDir,
      (f) => {
        const { adapters, spec } = loadPeft(adapterDir, f.config, { backend }, { allowNonfinite: o.allowNonfinite });
        return { model: createPeftModel(f.config, f.reader, { ...common, adapters }).eval(), spec };
      },
      { allowNonfinite: o.allowNonfinite },
    );
    return { ...result, source };
  }
  const { result: model, source } = withModelFolder(modelDir, (f) => createPeftModel(f.config, f.reader, { ...common, peft: o.peft }), {
    allowNonfinite: o.allowNonfinite,
  });
  return { model, source, spec: specOfAdapters(model.adapters, modelDir) };
}
