// Loading a HF folder as one rank of an FSDP / HQ-FSDP job (src/dist/fsdp.ts): the whole f32 weights are read,
// then the wrapper keeps this rank's row shards. Used by `halo finetune --fsdp` and the API's finetune().
import { getBackend, type BackendName } from '../backend/select.ts';
import type { HaloConfig } from '../halo/config.ts';
import { loadModelFolder, type HfModel } from '../io/hf-folder.ts';
import { FsdpModel, type FsdpMode } from './fsdp.ts';
import { worldCommunicator } from './index.ts';

export function loadFsdpLlama(
  dir: string,
  opts: { halo: HaloConfig; backend?: BackendName; mode: FsdpMode; allowNonfinite?: boolean },
): { model: FsdpModel; source: HfModel } {
  const source = loadModelFolder(dir, { dtype: 'f32', allowNonfinite: opts.allowNonfinite });
  const model = new FsdpModel(worldCommunicator(), source.config, source.weights, { halo: opts.halo, backend: getBackend(opts.backend), mode: opts.mode });
  return { model, source };
}
