// Range checks for numeric flags, run first thing in a command, before any file is read or written: the
// parser only knows int vs number, so `--epochs 0` used to train at lr 0 and `--grad-accum 0` failed later
// with a message that named no flag. Each command lists its flags' ranges once; the error names the flag.
import { HaloError } from '../core/errors.ts';
import type { ParsedOptions } from './args.ts';

/** Bounds of one flag (all optional): min ≤ v, above < v, v ≤ max, v < below. */
export interface Range {
  min?: number;
  above?: number;
  max?: number;
  below?: number;
  /** Why, or what the edge value means, appended to the error (e.g. '0 = off'). */
  note?: string;
}

export const AT_LEAST_1: Range = { min: 1 };
export const NON_NEGATIVE: Range = { min: 0 };
export const POSITIVE: Range = { above: 0 };
/** [0, 1): a probability that must leave something (dropout, β2, a held-out share). */
export const UNIT_OPEN: Range = { min: 0, below: 1 };

function describe(r: Range): string {
  const lo = r.min !== undefined ? { v: r.min, closed: true } : r.above !== undefined ? { v: r.above, closed: false } : null;
  const hi = r.max !== undefined ? { v: r.max, closed: true } : r.below !== undefined ? { v: r.below, closed: false } : null;
  if (lo && hi) return `in ${lo.closed ? '[' : '('}${lo.v}, ${hi.v}${hi.closed ? ']' : ')'}`;
  if (lo) return lo.closed ? `at least ${lo.v}` : `greater than ${lo.v}`;
  if (hi) return hi.closed ? `at most ${hi.v}` : `less than ${hi.v}`;
  return 'a number';
}

/** Whether `v` lies in `r`. */
export function inRange(v: number, r: Range): boolean {
  return (
    Number.isFinite(v) &&
    !(r.min !== undefined && v < r.min) &&
    !(r.above !== undefined && v <= r.above) &&
    !(r.max !== undefined && v > r.max) &&
    !(r.below !== undefined && v >= r.below)
  );
}

/** E_ARG naming the first given flag outside its range ("--epochs must be greater than 0, got 0"). Absent flags pass. */
export function checkRanges(o: ParsedOptions, ranges: Readonly<Record<string, Range>>): void {
  for (const [flag, r] of Object.entries(ranges)) {
    const v = o[flag];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !inRange(v, r)) {
      throw new HaloError('E_ARG', `--${flag} must be ${describe(r)}, got ${String(v)}${r.note ? ` (${r.note})` : ''}`);
    }
  }
}

/** `--a` and `--b` exclude each other. */
export function checkExclusive(o: ParsedOptions, a: string, b: string, why: string): void {
  if (o[a] === true && o[b] === true) throw new HaloError('E_ARG', `--${a} and --${b} exclude each other: ${why}`);
}

/** A comma-separated list of positive integers, each once ('2048,4096' → [2048, 4096]); E_ARG names the flag. */
export function positiveIntList(value: string, flag: string): number[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new HaloError('E_ARG', `--${flag} names no value`);
  const out = items.map((s) => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n <= 0) throw new HaloError('E_ARG', `--${flag} entry '${s}' is not a positive integer`);
    return n;
  });
  const dup = out.find((n, i) => out.indexOf(n) !== i);
  if (dup !== undefined) throw new HaloError('E_ARG', `--${flag} names ${dup} twice`);
  return out;
}
