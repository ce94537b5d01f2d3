// ±1 Hadamard matrices H_K (K×K, Int8Array row-major, H·Hᵀ = K·I) built from first principles instead of
// HALO's hard-coded tables (qllmt/functional/hadamard.py copies N. J. A. Sloane's library):
//   Sylvester   K = 2^p, natural (Walsh) order H[i][j] = (−1)^popcount(i & j) — the FWHT's matrix.
//   Paley I     K = q + 1 for a prime power q ≡ 3 (mod 4).            12, 20, 28 (q = 27), 44, 60, 108, 140, …
//   Paley II    K = 2(q + 1) for a prime power q ≡ 1 (mod 4).          36, 52 (q = 25), 76, 100 (q = 49), …
//   Williamson  K = 4t from Williamson matrices of odd order t.        156 (t = 39), 172 (t = 43), …
//   doubling    H_2K = [[H, H], [H, −H]] = H_2 ⊗ H_K.                   40 = 2·20, 24 = 2·12, …
// hadamardMatrix(K) tries them in that order (Paley I, Paley II, Williamson, doubling) and caches the result.
// Any construction is equally good for HALO: only orthogonality matters, so our matrices need not (and do
// not) equal HALO's; what later kernels must match is the matrix this module returns.
import { HaloError } from '../core/errors.ts';
import { gf, primePower } from './gf.ts';
import { williamsonArray, williamsonRows } from './williamson.ts';

/**
 * Largest order K built. The dense K×K mix costs K operations per element, and Paley needs GF(K−1) tables,
 * so much larger factors would make the "fast" transform slow; sizes needing more are reported unsupported.
 */
export const MAX_ORDER = 1024;

export const isPow2 = (n: number): boolean => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;

/** Sylvester–Walsh matrix of order n (a power of two), natural order. */
export function sylvester(n: number): Int8Array {
  if (!isPow2(n)) throw new HaloError('E_ARG', `Sylvester Hadamard order must be a power of two, got ${n}`);
  const h = new Int8Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let v = i & j,
        parity = 0;
      for (; v; v &= v - 1) parity ^= 1;
      h[i * n + j] = parity ? -1 : 1;
    }
  }
  return h;
}

/** [[H, H], [H, −H]]: a Hadamard matrix of order 2K from one of order K. */
export function kroneckerDouble(h: Int8Array, k: number): Int8Array {
  const n = 2 * k;
  const out = new Int8Array(n * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const v = h[i * k + j]!;
      out[i * n + j] = v;
      out[i * n + j + k] = v;
      out[(i + k) * n + j] = v;
      out[(i + k) * n + j + k] = -v;
    }
  }
  return out;
}

function checkPaleyQ(q: number, residue: 1 | 3, kind: string): void {
  if (!primePower(q) || q % 4 !== residue) {
    throw new HaloError('E_ARG', `${kind} needs a prime power q ≡ ${residue} (mod 4), got ${q}`);
  }
}

/**
 * Paley I, order q + 1, q ≡ 3 (mod 4): H = I + S with S = [[0, 1ᵀ], [−1, Q]], Q[i][j] = χ(a_i − a_j) the
 * Jacobsthal matrix (antisymmetric since χ(−1) = −1). Row/column 0 is the point at infinity.
 */
export function paley1(q: number): Int8Array {
  checkPaleyQ(q, 3, 'Paley I');
  const f = gf(q);
  const n = q + 1;
  const h = new Int8Array(n * n);
  for (let j = 0; j < n; j++) h[j] = 1;
  for (let i = 1; i < n; i++) {
    h[i * n] = -1;
    for (let j = 1; j < n; j++) h[i * n + j] = i === j ? 1 : f.chi(f.sub(i - 1, j - 1));
  }
  return h;
}

/**
 * Paley II, order 2(q + 1), q ≡ 1 (mod 4): from the symmetric conference matrix C = [[0, 1ᵀ], [1, Q]],
 * H = C ⊗ [[1, 1], [1, −1]] + I ⊗ [[1, −1], [−1, −1]].
 */
export function paley2(q: number): Int8Array {
  checkPaleyQ(q, 1, 'Paley II');
  const f = gf(q);
  const m = q + 1;
  const n = 2 * m;
  const conf = (i: number, j: number): number => (i === j ? 0 : i === 0 || j === 0 ? 1 : f.chi(f.sub(i - 1, j - 1)));
  const h = new Int8Array(n * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const c = conf(i, j);
      // 2×2 block: c·[[1, 1], [1, −1]] off the diagonal, [[1, −1], [−1, −1]] on it
      const blk = c === 0 ? [1, -1, -1, -1] : [c, c, c, -c];
      h[2 * i * n + 2 * j] = blk[0]!;
      h[2 * i * n + 2 * j + 1] = blk[1]!;
      h[(2 * i + 1) * n + 2 * j] = blk[2]!;
      h[(2 * i + 1) * n + 2 * j + 1] = blk[3]!;
    }
  }
  return h;
}

/** How H_k is obtained, decided without building it (cheap except for a first Williamson search). */
type Recipe = { kind: 'sylvester' } | { kind: 'paley1' | 'paley2'; q: number } | { kind: 'williamson'; t: number } | { kind: 'double'; half: number };

const recipes = new Map<number, Recipe | null>();
const matrices = new Map<number, Int8Array>();

function findRecipe(k: number): Recipe | null {
  if (!Number.isInteger(k) || k < 1 || k > MAX_ORDER) return null;
  if (isPow2(k)) return { kind: 'sylvester' };
  if (k % 4 !== 0) return null;
  if (primePower(k - 1)) return { kind: 'paley1', q: k - 1 };
  if (k % 8 === 4 && primePower(k / 2 - 1)) return { kind: 'paley2', q: k / 2 - 1 };
  if (k % 8 === 4 && williamsonRows(k / 4)) return { kind: 'williamson', t: k / 4 };
  if (k % 8 === 0 && recipe(k / 2)) return { kind: 'double', half: k / 2 };
  return null;
}

function recipe(k: number): Recipe | null {
  if (!recipes.has(k)) recipes.set(k, findRecipe(k));
  return recipes.get(k)!;
}

function describe(k: number, r: Recipe): string {
  switch (r.kind) {
    case 'sylvester':
      return `Sylvester ${k}`;
    case 'paley1':
      return `Paley I, q = ${r.q}`;
    case 'paley2':
      return `Paley II, q = ${r.q}`;
    case 'williamson':
      return `Williamson, t = ${r.t}`;
    case 'double':
      return `doubling of ${r.half} (${describe(r.half, recipe(r.half)!)})`;
  }
}

function construct(k: number, r: Recipe): Int8Array {
  switch (r.kind) {
    case 'sylvester':
      return sylvester(k);
    case 'paley1':
      return paley1(r.q);
    case 'paley2':
      return paley2(r.q);
    case 'williamson':
      return williamsonArray(williamsonRows(r.t)!);
    case 'double':
      return kroneckerDouble(shared(r.half), r.half);
  }
}

/** The cached H_k (callers must not modify it); throws E_UNSUPPORTED when no construction applies. */
function shared(k: number): Int8Array {
  let h = matrices.get(k);
  if (h) return h;
  const r = recipe(k);
  if (!r) {
    throw new HaloError(
      'E_UNSUPPORTED',
      `no Hadamard matrix of order ${k} is built here (orders 1, 2 and multiples of 4 up to ${MAX_ORDER} reachable by ` +
        `Sylvester, Paley I/II, Williamson or doubling)`,
    );
  }
  matrices.set(k, (h = construct(k, r)));
  return h;
}

/** Whether hadamardMatrix(k) succeeds (decided without building the matrix). */
export function hasHadamardMatrix(k: number): boolean {
  return recipe(k) !== null;
}

/** How H_k is built ("Paley I, q = 11", "Williamson, t = 43", …), or null when it is not. */
export function hadamardConstruction(k: number): string | null {
  const r = recipe(k);
  return r ? describe(k, r) : null;
}

/** A fresh copy of H_k (k×k, ±1, row-major, H·Hᵀ = k·I). Throws E_UNSUPPORTED when no construction applies. */
export function hadamardMatrix(k: number): Int8Array {
  return shared(k).slice();
}
