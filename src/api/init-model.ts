// initModel(): a random-initialised HF model folder at a real checkpoint's shapes (a preset of
// src/models/presets.ts), streamed to disk — what `halo init` writes — for trying the API, benchmarks and
// memory tests at real widths with nothing downloaded.
import { HaloError } from '../core/errors.ts';
import { initModelFolder, type InitFolderOptions, type InitFolderResult } from '../models/init-folder.ts';
import { PRESET_NAMES } from '../models/presets.ts';

export interface InitModelOptions extends InitFolderOptions {
  /** One of PRESET_NAMES (e.g. 'smollm2-135m', 'llama-3.2-1b'). */
  preset: string;
  /** Output folder (new or empty unless overwrite). */
  out: string;
}

/** Writes a random model folder for `preset` into `out`. */
export async function initModel(o: InitModelOptions): Promise<InitFolderResult> {
  if (!PRESET_NAMES.includes(o.preset)) throw new HaloError('E_ARG', `unknown preset '${o.preset}'; choose one of ${PRESET_NAMES.join(', ')}`);
  if (o.layers !== undefined && !(Number.isInteger(o.layers) && o.layers >= 1)) throw new HaloError('E_ARG', `layers must be an integer ≥ 1, got ${o.layers}`);
  return initModelFolder(o);
}
