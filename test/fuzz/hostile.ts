// Hostile JSON values: the numbers, strings and shapes that break validators (boundaries of safe integers and
// u64, negative and fractional sizes, numbers that only exist as text like 1e999, lone surrogates, prototype
// keys, very long strings, deep nesting, wrong container types). `Raw` carries JSON text that a JS value cannot
// express (1e999, a duplicated key, 100 000 nested brackets), and `jsonText` serializes a tree that holds it.
import type { Rng } from '../../src/core/rng.ts';
import { chance, intIn, pick } from './pick.ts';

/** Literal JSON text spliced into the output of jsonText. */
export class Raw {
  constructor(readonly text: string) {}
}

export const HOSTILE_NUMBERS: readonly number[] = [
  0,
  -0,
  1,
  -1,
  2,
  3,
  7,
  0.5,
  1.5,
  -1.5,
  1e-300,
  5e-324,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  1e9,
  1e12,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  2 ** 64,
  1e21,
  1e300,
  Number.MAX_VALUE,
  -1e12,
  -(2 ** 53),
  -(2 ** 63),
  100_000_001,
  4096.5,
];

/** Numbers only JSON text can hold: overflow to ±Infinity, round past 2^53, underflow to 0. */
export const RAW_NUMBERS: readonly string[] = [
  '1e999',
  '-1e999',
  '1e-999',
  '123456789012345678901234567890',
  '9007199254740993',
  '18446744073709551615',
  '18446744073709551616',
  '-0',
  '1.0',
  '1E2',
  '0.1e1',
  '4.000000000000001',
];

export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '🤗',
  'é',
  '\u202e',
  '\u2028',
  '\ufeff',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '../../etc/passwd',
  '/etc/passwd',
  'NaN',
  'Infinity',
  '1e3',
  '12',
  '-1',
  'null',
  'true',
  '[]',
  '{}',
  '<|eot_id|>',
  '{{',
  '{%',
  '%s%s%s',
  '\r\n',
  'a\u0000b',
  'F32',
  'BF16',
  'silu',
  'llama3',
];

/** A string of `n` copies of a short unit (ASCII, multi-byte, or surrogate pairs). */
export function longString(rng: Rng, n: number): string {
  return pick(rng, ['a', 'é', '🤗', ' ', '\\', '"', 'ab\u0000'] as const).repeat(n);
}

/** `depth` nested arrays or objects, as text (built without recursion, parsed by V8 without recursion). */
export function deepNesting(rng: Rng, depth: number): Raw {
  if (chance(rng, 0.5)) return new Raw('['.repeat(depth) + ']'.repeat(depth));
  return new Raw('{"a":'.repeat(depth) + 'null' + '}'.repeat(depth));
}

/** A value that is wrong for almost any field: a hostile scalar, a long string, a deep or odd container. */
export function hostileValue(rng: Rng): unknown {
  switch (rng.int(12)) {
    case 0:
    case 1:
      return pick(rng, HOSTILE_NUMBERS);
    case 2:
      return new Raw(pick(rng, RAW_NUMBERS));
    case 3:
    case 4:
      return pick(rng, HOSTILE_STRINGS);
    case 5:
      return longString(rng, pick(rng, [1000, 100_000, 1_000_000]));
    case 6:
      return pick(rng, [null, true, false]);
    case 7:
      return pick(rng, [[], {}, [null], [[]], [{}], { '': null }, [1, 'a', null], { length: 3 }]);
    case 8:
      return deepNesting(rng, pick(rng, [10, 1000, 5000, 100_000]));
    case 9:
      return new Raw(
        `[${Array(pick(rng, [1000, 100_000]))
          .fill(pick(rng, ['0', '1', 'null', '1e999', '-1']))
          .join(',')}]`,
      );
    case 10:
      return bigObject(rng, pick(rng, [100, 10_000]));
    default:
      return [pick(rng, HOSTILE_NUMBERS), pick(rng, HOSTILE_STRINGS)];
  }
}

function bigObject(rng: Rng, n: number): Raw {
  const base = intIn(rng, 0, 1000);
  return new Raw(`{${Array.from({ length: n }, (_, i) => `"k${base + i}":${i}`).join(',')}}`);
}

/** JSON.stringify for trees that may hold Raw nodes; own keys only, so a '__proto__' key stays a key. */
export function jsonText(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return `[${v.map((x) => jsonText(x)).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const parts = Object.keys(v).map((k) => `${JSON.stringify(k)}:${jsonText((v as Record<string, unknown>)[k])}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Sets an own property, even one named '__proto__' (plain assignment would replace the prototype). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
