// Guards for JSON that comes from files: a nesting-depth check and a bounded preview for error messages.
// JSON.parse is iterative in V8 and accepts any depth, but JSON.stringify, Array.join and most code that walks
// a value recurse, so a file nested a few thousand levels deep overflows the stack far from where it was read.
// Checking depth right after parsing turns that into one clear error; previews keep messages short even for
// a 1 MB value.
import { HaloError } from './errors.ts';

/** Real config / header / tokenizer files nest fewer than 10 levels; 64 leaves room and stays far from the stack limit. */
export const MAX_JSON_DEPTH = 64;

/** Nesting depth of a parsed JSON value (a scalar is 0, `[]` is 1), or `limit + 1` as soon as it passes `limit`. Iterative. */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    const depth = d + 1;
    if (depth > limit) return limit + 1;
    if (depth > max) max = depth;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth]);
    }
  }
  return max;
}

/** Throws E_FORMAT naming `file` when `value` nests deeper than MAX_JSON_DEPTH. */
export function checkJsonDepth(value: unknown, file: string): void {
  if (jsonDepth(value) > MAX_JSON_DEPTH) {
    throw new HaloError('E_FORMAT', `${file}: JSON nested deeper than ${MAX_JSON_DEPTH} levels (no valid file of this kind nests like that)`);
  }
}

/** JSON.parse + depth check; E_FORMAT naming `file` for either failure. */
export function parseJsonChecked(text: string, file: string): unknown {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HaloError('E_FORMAT', `${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  checkJsonDepth(v, file);
  return v;
}

/**
 * A short JSON-like rendering of any value for an error message: the same text as JSON.stringify for small
 * values, cut to `maxChars`, at most 3 levels and 8 entries per level, without recursing into the rest.
 */
export function preview(value: unknown, maxChars = 80): string {
  const s = render(value, 3, maxChars);
  return s.length > maxChars ? `${s.slice(0, maxChars - 1)}…` : s;
}

function render(v: unknown, depth: number, budget: number): string {
  if (typeof v === 'string') return JSON.stringify(v.length > budget ? `${v.slice(0, budget)}…` : v);
  if (typeof v !== 'object' || v === null) return String(v);
  const isArr = Array.isArray(v);
  if (depth === 0) return isArr ? '[…]' : '{…}';
  const keys = isArr ? [] : Object.keys(v);
  const n = isArr ? v.length : keys.length;
  const parts: string[] = [];
  let used = 0;
  for (let i = 0; i < Math.min(n, 8) && used < budget; i++) {
    const p = isArr
      ? render(v[i], depth - 1, budget)
      : `${JSON.stringify(keys[i].slice(0, budget))}:${render((v as Record<string, unknown>)[keys[i]], depth - 1, budget)}`;
    parts.push(p);
    used += p.length + 1;
  }
  if (parts.length < n) parts.push('…');
  return isArr ? `[${parts.join(',')}]` : `{${parts.join(',')}}`;
}
