// Small random-choice helpers over the project's seeded Rng, and the hash that gives every case its own seed
// (so case i of a run can be regenerated alone, without replaying cases 0..i-1).
import { Rng } from '../../src/core/rng.ts';

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

export function chance(rng: Rng, p: number): boolean {
  return rng.next() < p;
}

/** Integer in [lo, hi] inclusive. */
export function intIn(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

export function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** Picks one of several weighted alternatives: [[weight, value], …]. */
export function weighted<T>(rng: Rng, options: readonly (readonly [number, T])[]): T {
  const total = options.reduce((s, [w]) => s + w, 0);
  let r = rng.next() * total;
  for (const [w, v] of options) if ((r -= w) < 0) return v;
  return options[options.length - 1]![1];
}

/** murmur3's 32-bit finalizer over the run seed, the target and the case index. */
export function caseSeed(seed: number, target: number, index: number): number {
  let h = (seed ^ Math.imul(target + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function caseRng(seed: number, target: number, index: number): Rng {
  return new Rng(caseSeed(seed, target, index));
}
