// Williamson matrices: four symmetric circulant ±1 matrices A, B, C, D of odd order t with
// A² + B² + C² + D² = 4t·I (Williamson, Duke Math. J. 11 (1944) 65–81). Put in the Williamson array
//
//      A  B  C  D
//     -B  A -D  C
//     -C  D  A -B
//     -D -C  B  A
//
// they give a Hadamard matrix of order 4t. This covers orders Paley cannot reach, e.g. 156 (t = 39) and 172 (t = 43).
//
// A circulant is given by its first row x (X[i][j] = x[(j − i) mod t]); symmetric means x[i] = x[t − i].
// A² + B² + C² + D² = 4t·I  ⇔  PAF_A(s) + PAF_B(s) + PAF_C(s) + PAF_D(s) = 0 for s = 1..t−1, where
// PAF_x(s) = Σ_i x[i]·x[(i+s) mod t] is the periodic autocorrelation.
//
// searchWilliamson() looks for solutions constant on the orbits of a multiplier group G ⊂ Z_t^* containing −1
// (the classical Baumert–Hall restriction): such a row is fixed by one sign per orbit, its PAF is constant on
// orbits too, so only one shift per orbit needs checking. With r orbits there are 2^(r−1) rows (x[0] = +1 by
// negating A, B, C or D); rows are grouped by |row sum| (a²+b²+c²+d² = 4t, all odd) and A,B pairs are met with
// C,D pairs in a hash table keyed by the PAF sums. For t = 43 the group ⟨6⟩ = {±1, ±6, ±7} (8 orbits, 128 rows)
// gives a solution in a few milliseconds. For t = 39 the groups within reach (orders 24, 12, 8, 6: ≤ 8 orbits)
// have none, nor has {±1, ±14} (14 orbits, tried once offline), so t = 39 comes from the literature (KNOWN).
// Only subgroups ⟨−1, g⟩ are tried; t = 23 and 29 (orders 92, 116) are out of reach with ≤ 10 orbits.
import { HaloError } from '../core/errors.ts';

/** First rows (length t, entries ±1) of the four symmetric circulants A, B, C, D. */
export interface WilliamsonRows {
  readonly t: number;
  readonly rows: readonly [Int8Array, Int8Array, Int8Array, Int8Array];
}

const fromSigns = (s: string): Int8Array => Int8Array.from(s, (c) => (c === '+' ? 1 : -1));

/**
 * Williamson matrices not found by searchWilliamson(). t = 39: the first rows of the four blocks of the 156×156
 * matrix "had.156.will" in N. J. A. Sloane's library of Hadamard matrices (the matrix HALO and QuaRot hard-code
 * as get_had156); Williamson matrices of order 39 were first published by D. Ž. Đoković, "Williamson matrices
 * of order 4n for n = 33, 35, 39", Discrete Math. 115 (1993) 267–271. A is also fixed by the multipliers
 * {±1, ±16, ±22}; B, C, D only by −1. Row sums −9, −5, −5, −5 (81 + 25 + 25 + 25 = 156). Verified by
 * isWilliamson() here and by H·Hᵀ = 156·I in test/hadamard/matrices.test.ts.
 */
const KNOWN: ReadonlyMap<number, readonly [string, string, string, string]> = new Map([
  [
    39,
    [
      '+++--+-+-----+--++----++--+-----+-+--++',
      '++++---+--++----+-+--+-+----++--+---+++',
      '+++--++-+---+-+--+----+--+-+---+-++--++',
      '+---++-+-+-----+++-++-+++-----+-+-++---',
    ],
  ],
]);

/** PAF_x(s) = Σ_i x[i]·x[(i+s) mod t]. */
function paf(x: Int8Array, s: number): number {
  const t = x.length;
  let acc = 0;
  for (let i = 0; i < t; i++) acc += x[i]! * x[(i + s) % t]!;
  return acc;
}

/** True when the rows are ±1, symmetric, of equal odd length t, and Σ PAF(s) = 0 for every shift s ≠ 0. */
export function isWilliamson(w: WilliamsonRows): boolean {
  const { t, rows } = w;
  for (const x of rows) {
    if (x.length !== t) return false;
    for (let i = 0; i < t; i++) if ((x[i] !== 1 && x[i] !== -1) || x[i] !== x[(t - i) % t]) return false;
  }
  for (let s = 1; s < t; s++) {
    let sum = 0;
    for (const x of rows) sum += paf(x, s);
    if (sum !== 0) return false;
  }
  return true;
}

/** The 4t×4t Hadamard matrix of the Williamson array above, row-major ±1. */
export function williamsonArray(w: WilliamsonRows): Int8Array {
  const { t, rows } = w;
  // LAYOUT[bi][bj] = [which of A..D, sign]
  const LAYOUT: readonly (readonly [number, number])[][] = [
    [
      [0, 1],
      [1, 1],
      [2, 1],
      [3, 1],
    ],
    [
      [1, -1],
      [0, 1],
      [3, -1],
      [2, 1],
    ],
    [
      [2, -1],
      [3, 1],
      [0, 1],
      [1, -1],
    ],
    [
      [3, -1],
      [2, -1],
      [1, 1],
      [0, 1],
    ],
  ];
  const n = 4 * t;
  const h = new Int8Array(n * n);
  for (let bi = 0; bi < 4; bi++) {
    for (let bj = 0; bj < 4; bj++) {
      const [which, sign] = LAYOUT[bi]![bj]!;
      const x = rows[which]!;
      for (let i = 0; i < t; i++) {
        for (let j = 0; j < t; j++) h[(bi * t + i) * n + bj * t + j] = sign * x[(j - i + t) % t]!;
      }
    }
  }
  return h;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Subgroups ⟨−1, g⟩ of Z_t^*, each as its orbit partition of Z_t (orbit 0 is {0}), fewest orbits first. */
function multiplierOrbits(t: number): number[][][] {
  const seen = new Set<string>();
  const out: number[][][] = [];
  for (let g = 1; g < t; g++) {
    if (gcd(g, t) !== 1) continue;
    const group = new Set<number>([1]);
    for (let frontier = [1]; frontier.length > 0; ) {
      const next: number[] = [];
      for (const a of frontier) {
        for (const m of [t - 1, g]) {
          const c = (a * m) % t;
          if (!group.has(c)) {
            group.add(c);
            next.push(c);
          }
        }
      }
      frontier = next;
    }
    const key = [...group].sort((a, b) => a - b).join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    const orbitOf = new Int32Array(t).fill(-1);
    const orbits: number[][] = [];
    for (let i = 0; i < t; i++) {
      if (orbitOf[i] !== -1) continue;
      const o = [...new Set([...group].map((m) => (i * m) % t))].sort((a, b) => a - b);
      for (const j of o) orbitOf[j] = orbits.length;
      orbits.push(o);
    }
    out.push(orbits);
  }
  return out.sort((a, b) => a.length - b.length);
}

/** Row sums (a ≤ b ≤ c ≤ d), positive odd, with a² + b² + c² + d² = 4t. */
function rowSumQuads(t: number): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  const top = Math.floor(Math.sqrt(4 * t));
  for (let a = 1; a <= top; a += 2)
    for (let b = a; b <= top; b += 2)
      for (let c = b; c <= top; c += 2) for (let d = c; d <= top; d += 2) if (a * a + b * b + c * c + d * d === 4 * t) out.push([a, b, c, d]);
  return out;
}

/**
 * Williamson matrices of odd order t constant on multiplier orbits, or null. Only groups with at most maxOrbits
 * orbits are tried (2^(maxOrbits−1) rows each; the default keeps every call under ~50 ms). Deterministic.
 */
export function searchWilliamson(t: number, maxOrbits = 10): WilliamsonRows | null {
  if (!Number.isInteger(t) || t < 1 || t % 2 === 0) throw new HaloError('E_ARG', `Williamson order must be odd, got ${t}`);
  if (t === 1) return { t, rows: [fromSigns('+'), fromSigns('+'), fromSigns('+'), fromSigns('+')] };
  const quads = rowSumQuads(t);
  for (const orbits of multiplierOrbits(t)) {
    const r = orbits.length;
    if (r > maxOrbits) break;
    const reps = orbits.slice(1).map((o) => o[0]!); // one shift per nonzero orbit
    const count = 1 << (r - 1);
    const seqs: Int8Array[] = [];
    const pafs: Int32Array[] = [];
    const byRowSum = new Map<number, number[]>();
    for (let bits = 0; bits < count; bits++) {
      const x = new Int8Array(t);
      x[0] = 1;
      for (let k = 1; k < r; k++) {
        const v = (bits >> (k - 1)) & 1 ? -1 : 1;
        for (const i of orbits[k]!) x[i] = v;
      }
      let sum = 0;
      for (let i = 0; i < t; i++) sum += x[i]!;
      const idx = seqs.length;
      seqs.push(x);
      pafs.push(Int32Array.from(reps, (s) => paf(x, s)));
      const key = Math.abs(sum);
      const list = byRowSum.get(key);
      if (list) list.push(idx);
      else byRowSum.set(key, [idx]);
    }
    for (const [a, b, c, d] of quads) {
      const la = byRowSum.get(a) ?? [],
        lb = byRowSum.get(b) ?? [];
      const lc = byRowSum.get(c) ?? [],
        ld = byRowSum.get(d) ?? [];
      const table = new Map<string, [number, number]>();
      for (const i of la) {
        for (const j of lb) {
          const key = pafs[i]!.map((v, s) => v + pafs[j]![s]!).join(',');
          if (!table.has(key)) table.set(key, [i, j]);
        }
      }
      for (const i of lc) {
        for (const j of ld) {
          const hit = table.get(pafs[i]!.map((v, s) => -(v + pafs[j]![s]!)).join(','));
          if (hit) {
            const w: WilliamsonRows = { t, rows: [seqs[hit[0]]!, seqs[hit[1]]!, seqs[i]!, seqs[j]!] };
            if (isWilliamson(w)) return w; // always true by construction; checked anyway
          }
        }
      }
    }
  }
  return null;
}

const cache = new Map<number, WilliamsonRows | null>();

/** Williamson matrices of order t: the literature table first, else searchWilliamson(t). Cached. */
export function williamsonRows(t: number): WilliamsonRows | null {
  if (cache.has(t)) return cache.get(t)!;
  const known = KNOWN.get(t);
  const w = known ? { t, rows: known.map(fromSigns) as [Int8Array, Int8Array, Int8Array, Int8Array] } : searchWilliamson(t);
  if (w && !isWilliamson(w)) throw new Error(`Williamson rows for t = ${t} fail the check`); // a corrupted table
  cache.set(t, w);
  return w;
}
