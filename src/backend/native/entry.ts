// The native backend's registration (src/backend/registry.ts): the addon's backend and, when the loaded addon
// has them (one built before they existed does not), its f32 NnKernels; unavailable, with the loader's reason,
// when the addon cannot load.
import type { BackendEntry, UnavailableBackend } from '../registry.ts';
import { loadAddon } from './binding.ts';
import { nativeBackend } from './index.ts';
import { hasNnKernels, makeNativeKernels } from './nn-kernels.ts';

export function nativeEntry(): BackendEntry | UnavailableBackend {
  const { addon, error } = loadAddon();
  if (!addon) return { unavailable: error };
  return { backend: nativeBackend, nn: hasNnKernels(addon) ? makeNativeKernels(addon) : undefined };
}
