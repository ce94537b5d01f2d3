// Picks the kernel backend: the native addon by default; the reference backend when asked (`--backend
// reference`, or HALO_BACKEND=reference) or when the addon cannot load — then ONE warning line on stderr
// says why (once per process).
import type { Backend } from './backend.ts';
import { HaloError } from '../core/errors.ts';
import { nativeAvailable, nativeBackend } from './native/index.ts';
import { referenceBackend } from './reference/index.ts';

export type BackendName = 'native' | 'reference';
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'reference'];

let warned = false;

export function getBackend(name?: BackendName): Backend {
  const env = process.env.HALO_BACKEND;
  const wanted = name ?? (env === '' ? undefined : env) ?? 'native';
  if (wanted !== 'native' && wanted !== 'reference') {
    throw new HaloError('E_ARG', `unknown backend '${wanted}'${name ? '' : ' (from HALO_BACKEND)'}; use native or reference`);
  }
  if (wanted === 'reference') return referenceBackend;
  const avail = nativeAvailable();
  if (avail.ok) return nativeBackend;
  if (!warned) {
    warned = true;
    process.stderr.write(`halo: warning: ${avail.reason}; using the reference backend\n`);
  }
  return referenceBackend;
}
