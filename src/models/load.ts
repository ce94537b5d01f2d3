// Loading a Hugging Face folder into a model, tensor by tensor: each weight is read, widened to f32 (bf16 →
// f32 is a shift) and adopted as the parameter without another copy, so the peak is the model plus one tensor,
// never a second whole copy of the checkpoint.
import type { Backend } from '../backend/backend.ts';
import { getBackend, type BackendName } from '../backend/select.ts';
import type { HaloConfig } from '../halo/config.ts';
import { openModelFolder, type OpenModelFolder } from '../io/hf-folder.ts';
import { LlamaModel, type BlockHooks, type LlamaOptions } from './llama.ts';
import type { GradDtype } from '../optim/bf16-grad.ts';

/** What a loaded folder was, without its reader: config, tensor list, storage dtype, tokenizer files. */
export type LoadedFolder = Omit<OpenModelFolder, 'reader' | 'close'>;

export interface LoadLlamaOptions {
  halo: HaloConfig;
  backend?: BackendName;
  trainable?: (name: string) => boolean;
  /** Instruments the backend (e.g. QuantStats.wrap, which counts saturated codes). */
  wrapBackend?: (be: Backend) => Backend;
  blockHooks?: BlockHooks;
  gradCheckpointing?: boolean;
  /** --grad-dtype: bf16 gradients for the 2-D tensors (LlamaOptions.gradDtype). */
  gradDtype?: GradDtype;
  /** Load weights holding NaN/Inf (default: E_NUMERIC naming the first such tensor, found as it is read). */
  allowNonfinite?: boolean;
}

/**
 * Opens `dir`, builds a model from its tensors as they are read (LlamaOptions minus the source), closes it.
 * Each tensor is scanned for NaN/Inf as it is read unless `allowNonfinite`.
 */
export function withModelFolder<T>(
  dir: string,
  build: (folder: OpenModelFolder) => T,
  opts: { allowNonfinite?: boolean } = {},
): { result: T; source: LoadedFolder } {
  const folder = openModelFolder(dir, { allowNonfinite: opts.allowNonfinite });
  try {
    const result = build(folder);
    const { reader: _r, close: _c, ...source } = folder;
    return { result, source };
  } finally {
    folder.close();
  }
}

export function loadLlama(dir: string, opts: LoadLlamaOptions): { model: LlamaModel; source: LoadedFolder } {
  const be = opts.wrapBackend ? opts.wrapBackend(getBackend(opts.backend)) : getBackend(opts.backend);
  const llama: LlamaOptions = {
    halo: opts.halo,
    backend: be,
    trainable: opts.trainable,
    blockHooks: opts.blockHooks,
    gradCheckpointing: opts.gradCheckpointing,
    gradDtype: opts.gradDtype,
    adoptWeights: true,
  };
  const { result: model, source } = withModelFolder(dir, (f) => new LlamaModel(f.config, f.reader, llama), { allowNonfinite: opts.allowNonfinite });
  return { model, source };
}
