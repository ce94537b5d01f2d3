// Loading a Hugging Face folder into a trainable model: weights converted to f32 master copies.
import { getBackend, type BackendName } from '../backend/select.ts';
import type { HaloConfig } from '../halo/config.ts';
import { loadModelFolder, type HfModel } from '../io/hf-folder.ts';
import { LlamaModel } from './llama.ts';

export interface LoadLlamaOptions {
  halo: HaloConfig;
  backend?: BackendName;
  trainable?: (name: string) => boolean;
}

export function loadLlama(dir: string, opts: LoadLlamaOptions): { model: LlamaModel; source: HfModel } {
  const source = loadModelFolder(dir, { dtype: 'f32' });
  const model = new LlamaModel(source.config, source.weights, { halo: opts.halo, backend: getBackend(opts.backend), trainable: opts.trainable });
  return { model, source };
}
