// Picks the kernel backend by name from the registry (registry.ts): the native addon by default; another one
// when asked (`--backend NAME`, or HALO_BACKEND=NAME; E_ARG listing the registered names for an unknown one).
// A backend this machine cannot run (the native one when the addon cannot load) falls back to the reference —
// then ONE warning line on stderr says why (once per process).
import type { Backend } from './backend.ts';
import { resolveBackend } from './registry.ts';

export { backendNames, registerBackend, type BackendEntry, type BackendFactory, type UnavailableBackend } from './registry.ts';

/** A registered backend's name ('native', 'reference', or one a program registered). */
export type BackendName = string;

export const DEFAULT_BACKEND = 'native';
/** What a backend this machine cannot run falls back to: the plain-TypeScript oracle, which runs anywhere. */
export const FALLBACK_BACKEND = 'reference';

const warned = new Set<string>();

export function getBackend(name?: BackendName): Backend {
  const env = process.env.HALO_BACKEND;
  const fromEnv = name === undefined && env !== undefined && env !== '';
  const wanted = name ?? (fromEnv ? env : DEFAULT_BACKEND);
  const entry = resolveBackend(wanted, fromEnv ? 'from HALO_BACKEND' : '');
  if (!('unavailable' in entry)) return entry.backend;
  if (!warned.has(wanted)) {
    warned.add(wanted);
    process.stderr.write(`halo: warning: ${entry.unavailable}; using the ${FALLBACK_BACKEND} backend\n`);
  }
  const fallback = resolveBackend(FALLBACK_BACKEND);
  if ('unavailable' in fallback) throw new Error(`the ${FALLBACK_BACKEND} backend is unavailable: ${fallback.unavailable}`);
  return fallback.backend;
}
