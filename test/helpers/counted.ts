// A test double for backends and kernel sets: `target` under another name, every method call counted by method
// name (the registry test and the decoder-block test check which kernels a model reached through it).

/** `target` under another name, every method call counted by method name. */
export function counted<T extends object>(target: T, name: string, counts: Map<string, number>): T {
  const out: Record<string, unknown> = { name };
  for (const [key, value] of Object.entries(target)) {
    if (key === 'name') continue;
    out[key] =
      typeof value !== 'function'
        ? value
        : (...args: unknown[]) => {
            counts.set(key, (counts.get(key) ?? 0) + 1);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
  }
  return out as T;
}
