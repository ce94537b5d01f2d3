// Loading a Hugging Face folder into a trainable model: weights converted to f32 master copies.
import type { Backend } from '../backend/backend.ts';
import { getBackend, type BackendName } from '../backend/select.ts';
import type { HaloConfig } from '../halo/config.ts';
import { loadModelFolder, type HfModel } from '../io/hf-folder.ts';
import { LlamaModel, type BlockHooks } from './llama.ts';

export interface LoadLlamaOptions {
  halo: HaloConfig;
  backend?: BackendName;
  trainable?: (name: string) => boolean;
  /** Instruments the backend (e.g. QuantStats.wrap, which counts saturated codes). */
  wrapBackend?: (be: Backend) => Backend;
  blockHooks?: BlockHooks;
}

export function loadLlama(dir: string, opts: LoadLlamaOptions): { model: LlamaModel; source: HfModel } {
  const source = loadModelFolder(dir, { dtype: 'f32' });
  const model = new LlamaModel(source.config, source.weights, {
    halo: opts.halo,
    backend: opts.wrapBackend ? opts.wrapBackend(getBackend(opts.backend)) : getBackend(opts.backend),
    trainable: opts.trainable,
    blockHooks: opts.blockHooks,
  });
  return { model, source };
}
