// Loading a Hugging Face folder as a frozen base with adapters: new ones for fine-tuning (`--peft lora|hut`),
// or saved ones from an adapter folder for eval / generate without merging.
import { getBackend, type BackendName } from '../backend/select.ts';
import { HaloError } from '../core/errors.ts';
import type { HaloConfig } from '../halo/config.ts';
import { loadModelFolder, type HfModel } from '../io/hf-folder.ts';
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
}

export function loadPeftLlama(modelDir: string, o: LoadPeftOptions): { model: PeftModel; source: HfModel; spec: PeftSpec } {
  if ((o.peft === undefined) === (o.adapter === undefined)) {
    throw new HaloError('E_ARG', 'give either new PEFT settings (--peft lora|hut) or an adapter folder (--adapter DIR), not both or neither');
  }
  const source = loadModelFolder(modelDir, { dtype: 'f32' });
  const backend = getBackend(o.backend);
  if (o.adapter !== undefined) {
    const { adapters, spec } = loadPeft(o.adapter, source.config, { backend });
    const model = createPeftModel(source.config, source.weights, { halo: o.halo, backend, adapters }).eval();
    return { model, source, spec };
  }
  const model = createPeftModel(source.config, source.weights, { halo: o.halo, backend, peft: o.peft });
  return { model, source, spec: specOfAdapters(model.adapters, modelDir) };
}
