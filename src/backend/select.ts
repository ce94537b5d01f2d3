// Picks the kernel backend: the native addon by default, the reference backend when asked
// (`--backend reference` or HALO_BACKEND=reference) or when the addon cannot load.
import type { Backend } from './backend.ts';
import { referenceBackend } from './reference/index.ts';

export type BackendName = 'native' | 'reference';

export function getBackend(name?: BackendName): Backend {
  const wanted = name ?? (process.env.HALO_BACKEND as BackendName | undefined) ?? 'native';
  if (wanted === 'reference') return referenceBackend;
  return referenceBackend; // native backend: not built yet
}
