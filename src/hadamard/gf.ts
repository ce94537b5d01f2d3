// Finite fields GF(q), q = p^m, for the Paley constructions of Hadamard matrices (matrices.ts).
//
// An element is an integer e in [0, q): its base-p digits are the coefficients of a polynomial of degree < m
// (digit i ↔ x^i), so 0 is the zero, 1 the one, and for m = 1 the element is the residue itself. GF(p^m) is
// GF(p)[x] / (f) with f the first monic irreducible polynomial of degree m found by a plain search
// (coefficients counted up in base p, checked against every monic polynomial of degree ≤ m/2).
// Addition, negation and multiplication are q×q / q tables (typed arrays), built once per field; fields are
// small here (q ≤ MAX_FIELD_ORDER), so the tables cost at most a few MiB.
import { HaloError } from '../core/errors.ts';

/** Largest field built (tables are q² entries); Hadamard orders in this module stay well below it. */
export const MAX_FIELD_ORDER = 2048;

/** q = p^m with p prime, or null when q is not a prime power. */
export function primePower(q: number): { p: number; m: number } | null {
  if (!Number.isInteger(q) || q < 2) return null;
  let p = 2;
  while (p * p <= q && q % p !== 0) p++;
  if (q % p !== 0) p = q; // no factor up to √q: q is prime
  let m = 0;
  let r = q;
  while (r % p === 0) {
    r /= p;
    m++;
  }
  return r === 1 ? { p, m } : null;
}

export class GF {
  readonly p: number;
  readonly m: number;
  /** The modulus f as coefficients, lowest degree first (length m+1, monic). [x] i.e. [0, 1] when m = 1. */
  readonly modulus: readonly number[];
  /** addTable[a*q + b] = a + b */
  readonly addTable: Uint16Array;
  /** mulTable[a*q + b] = a · b */
  readonly mulTable: Uint16Array;
  /** negTable[a] = −a */
  readonly negTable: Uint16Array;
  /** chiTable[a] = χ(a): 0 for 0, +1 for a nonzero square, −1 otherwise (the quadratic character). */
  readonly chiTable: Int8Array;

  constructor(readonly q: number) {
    const pm = primePower(q);
    if (!pm) throw new HaloError('E_ARG', `GF(${q}): ${q} is not a prime power`);
    if (q > MAX_FIELD_ORDER) throw new HaloError('E_UNSUPPORTED', `GF(${q}): field order above ${MAX_FIELD_ORDER} is not built`);
    const { p, m } = pm;
    this.p = p;
    this.m = m;
    this.modulus = m === 1 ? [0, 1] : findIrreducible(p, m);

    const digits = (e: number): number[] => {
      const d = new Array<number>(m).fill(0);
      for (let i = 0; i < m; i++, e = Math.floor(e / p)) d[i] = e % p;
      return d;
    };
    const fromDigits = (d: readonly number[]): number => {
      let e = 0;
      for (let i = m - 1; i >= 0; i--) e = e * p + d[i]!;
      return e;
    };
    const dig = Array.from({ length: q }, (_, e) => digits(e));

    this.addTable = new Uint16Array(q * q);
    this.mulTable = new Uint16Array(q * q);
    this.negTable = new Uint16Array(q);
    for (let a = 0; a < q; a++) {
      this.negTable[a] = fromDigits(dig[a]!.map((c) => (p - c) % p));
      for (let b = 0; b < q; b++) {
        if (m === 1) {
          this.addTable[a * q + b] = (a + b) % p;
          this.mulTable[a * q + b] = (a * b) % p;
        } else {
          this.addTable[a * q + b] = fromDigits(dig[a]!.map((c, i) => (c + dig[b]![i]!) % p));
          this.mulTable[a * q + b] = fromDigits(polyMulMod(dig[a]!, dig[b]!, this.modulus, p));
        }
      }
    }

    this.chiTable = new Int8Array(q).fill(-1);
    this.chiTable[0] = 0;
    for (let a = 1; a < q; a++) this.chiTable[this.mulTable[a * q + a]!] = 1;
  }

  add(a: number, b: number): number {
    return this.addTable[a * this.q + b]!;
  }
  neg(a: number): number {
    return this.negTable[a]!;
  }
  sub(a: number, b: number): number {
    return this.addTable[a * this.q + this.negTable[b]!]!;
  }
  mul(a: number, b: number): number {
    return this.mulTable[a * this.q + b]!;
  }
  /** Multiplicative inverse (a ≠ 0), by scanning a's row of the table. */
  inv(a: number): number {
    if (a === 0) throw new HaloError('E_ARG', `GF(${this.q}): 0 has no inverse`);
    for (let b = 1; b < this.q; b++) if (this.mulTable[a * this.q + b] === 1) return b;
    throw new Error(`GF(${this.q}): no inverse of ${a} (modulus not irreducible?)`);
  }
  chi(a: number): number {
    return this.chiTable[a]!;
  }
}

const fieldCache = new Map<number, GF>();

/** The field of order q, built once and cached. */
export function gf(q: number): GF {
  let f = fieldCache.get(q);
  if (!f) fieldCache.set(q, (f = new GF(q)));
  return f;
}

// ---- polynomials over GF(p): arrays of coefficients, lowest degree first ----

function trim(a: number[]): number[] {
  while (a.length > 0 && a[a.length - 1] === 0) a.pop();
  return a;
}

/** Remainder of a mod b over GF(p) (b monic or not; p prime). */
function polyMod(a: readonly number[], b: readonly number[], p: number): number[] {
  const r = trim([...a]);
  const bb = trim([...b]);
  const db = bb.length - 1;
  const lead = bb[db]!;
  let leadInv = 1;
  while ((lead * leadInv) % p !== 1) leadInv++;
  while (r.length - 1 >= db) {
    const shift = r.length - 1 - db;
    const c = (r[r.length - 1]! * leadInv) % p;
    for (let i = 0; i <= db; i++) r[shift + i] = (((r[shift + i]! - c * bb[i]!) % p) + p) % p;
    trim(r);
  }
  return r;
}

/** (a·b) mod f, padded to deg f coefficients. */
function polyMulMod(a: readonly number[], b: readonly number[], f: readonly number[], p: number): number[] {
  const prod = new Array<number>(a.length + b.length - 1).fill(0);
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) prod[i + j] = (prod[i + j]! + a[i]! * b[j]!) % p;
  const r = polyMod(prod, f, p);
  const m = f.length - 1;
  while (r.length < m) r.push(0);
  return r;
}

/** Every monic polynomial of degree d over GF(p), in counting order of the lower coefficients. */
function* monicPolys(p: number, d: number): Generator<number[]> {
  const total = p ** d;
  for (let e = 0; e < total; e++) {
    const c = new Array<number>(d + 1).fill(0);
    for (let i = 0, r = e; i < d; i++, r = Math.floor(r / p)) c[i] = r % p;
    c[d] = 1;
    yield c;
  }
}

function isIrreducible(f: readonly number[], p: number): boolean {
  const m = f.length - 1;
  for (let d = 1; 2 * d <= m; d++) {
    for (const g of monicPolys(p, d)) if (polyMod(f, g, p).length === 0) return false;
  }
  return true;
}

/** The first monic irreducible polynomial of degree m over GF(p) in counting order. */
export function findIrreducible(p: number, m: number): number[] {
  for (const f of monicPolys(p, m)) if (f[0] !== 0 && isIrreducible(f, p)) return f;
  throw new Error(`no irreducible polynomial of degree ${m} over GF(${p})`); // cannot happen: one always exists
}
