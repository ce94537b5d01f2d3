// Backends by name (tfjs-core's registerBackend idea): a backend is one folder (its Backend, optionally its own
// NnKernels) plus one registerBackend line — the built-in ones at the bottom of this file; a program or a test
// may register more. select.ts's getBackend() picks among them (the --backend choices are backendNames()), and
// nnKernels() hands a backend the kernels its registration supplies. Factories run on first use (the native
// one loads the addon then), once per process.
import type { Backend } from './backend.ts';
import type { NnKernels } from './nn-kernels.ts';
import { nativeEntry } from './native/entry.ts';
import { referenceBackend } from './reference/index.ts';
import { HaloError } from '../core/errors.ts';

/** A registered backend once built: its kernels, and its element-wise ops/attention/AdamW (default: the reference's). */
export interface BackendEntry {
  backend: Backend;
  nn?: NnKernels;
}

/** What a factory gives when this machine cannot run the backend (getBackend then falls back to the reference). */
export interface UnavailableBackend {
  unavailable: string;
}

export type BackendFactory = () => BackendEntry | UnavailableBackend;

const factories = new Map<string, BackendFactory>();
const built = new Map<string, BackendEntry | UnavailableBackend>();

/** Adds a backend under `name` (lower case, digits, '-'); E_ARG when the name is taken or malformed. */
export function registerBackend(name: string, factory: BackendFactory): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) {
    throw new HaloError('E_ARG', `registerBackend: name '${name}' must be lower-case letters, digits and '-', starting with a letter`);
  }
  if (factories.has(name)) throw new HaloError('E_ARG', `registerBackend: a backend named '${name}' is already registered`);
  factories.set(name, factory);
}

/** The registered names, in registration order. */
export function backendNames(): string[] {
  return [...factories.keys()];
}

/**
 * The built backend `name`, or why this machine cannot run it. E_ARG naming the registered backends when
 * nothing is registered under `name`; `from` says where the name came from (e.g. "from HALO_BACKEND").
 */
export function resolveBackend(name: string, from = ''): BackendEntry | UnavailableBackend {
  const done = built.get(name);
  if (done) return done;
  const factory = factories.get(name);
  if (!factory) {
    throw new HaloError('E_ARG', `unknown backend '${name}'${from ? ` (${from})` : ''}; registered backends: ${backendNames().join(', ')}`);
  }
  const entry = factory();
  if (!('unavailable' in entry) && entry.backend.name !== name) {
    // nnKernels() finds a backend's kernels by its name, so the two must agree.
    throw new HaloError('E_ARG', `backend registered as '${name}' calls itself '${entry.backend.name}'; the names must match`);
  }
  built.set(name, entry);
  return entry;
}

/** The kernels registered with backend `name`, if it is registered, available and supplies its own. */
export function registeredKernels(name: string): NnKernels | undefined {
  if (!factories.has(name)) return undefined;
  const entry = resolveBackend(name);
  return 'unavailable' in entry ? undefined : entry.nn;
}

// The built-in backends, one line each.
registerBackend('native', nativeEntry);
registerBackend('reference', () => ({ backend: referenceBackend }));
