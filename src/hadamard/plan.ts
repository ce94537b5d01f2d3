// Which orthonormal Hadamard rotation a dimension n gets (HALO.md §2).
//
// Full rotation (HALO's only mode): n = K·2^p, Ĥ = (H_K ⊗ H_{2^p})/√n with H_{2^p} the Sylvester–Walsh matrix
// (done by the FWHT) and H_K a small dense ±1 matrix (matrices.ts). K is the smallest constructible order with
// n = K·2^p: 1 for a power of two, else odd(n)·2^j for the least j ≥ 2 that has a construction.
// HALO tries a fixed list K ∈ {172, 156, 140, 108, 100, 60, 52, 36, 28, 40, 20, 12, 44} and asserts otherwise;
// here any K up to MAX_ORDER with a construction works (e.g. Qwen2.5-0.5B's 4864 = 76·64, Paley II with q = 37).
//
// Block-diagonal rotation (not in HALO): Ĥ = I_{n/b} ⊗ Ĥ_b rotates each consecutive b-sized chunk of the
// dimension, so any n divisible by b works. It mixes less (outliers spread over b channels, not n) but costs
// less and never fails for a dimension with a large power-of-two factor.
import { HaloError } from '../core/errors.ts';
import { hasHadamardMatrix, hadamardMatrix, isPow2, MAX_ORDER } from './matrices.ts';

export interface HadamardPlan {
  readonly n: number; // the rotated dimension
  readonly block: number; // size of each diagonal block (= n for a full rotation)
  readonly K: number; // order of the dense factor of a block (1 when block is a power of two)
  readonly pow2: number; // block / K, the FWHT length
  readonly hadK: Int8Array | null; // H_K [K, K] row-major ±1, null when K = 1
}

export interface PlanOptions {
  /**
   * 'auto' (default): full if n is supported, else blocks of the largest power of two dividing n (≥ 8).
   * 'full': full rotation or E_UNSUPPORTED. A number b: blocks of size b (b divides n, b a supported order).
   */
  block?: number | 'auto' | 'full';
}

/** Smallest auto fallback block: a rotation over fewer channels hardly spreads an outlier. */
export const MIN_AUTO_BLOCK = 8;

/** n = K·pow2 with the smallest constructible K, or null. */
export function decompose(n: number): { K: number; pow2: number } | null {
  if (!Number.isInteger(n) || n < 1) return null;
  const pow2Part = n & -n;
  const odd = n / pow2Part;
  if (odd === 1) return { K: 1, pow2: n };
  for (let k = odd * 4; k <= Math.min(n, MAX_ORDER); k *= 2) {
    if (n % k === 0 && hasHadamardMatrix(k)) return { K: k, pow2: n / k };
  }
  return null;
}

/** Whether a full rotation of dimension n exists. */
export function isSupportedOrder(n: number): boolean {
  return decompose(n) !== null;
}

/** Smallest supported m ≥ n (pads token counts for HALO-2's left rotation). */
export function nextSupportedOrder(n: number): number {
  let m = Math.max(1, Math.ceil(n));
  while (!isSupportedOrder(m)) m++;
  return m;
}

/** Largest supported m ≤ n, or null when n < 1. */
export function previousSupportedOrder(n: number): number | null {
  for (let m = Math.floor(n); m >= 1; m--) if (isSupportedOrder(m)) return m;
  return null;
}

/** Every supported order 1..limit. */
export function supportedOrders(limit: number): number[] {
  const out: number[] = [];
  for (let m = 1; m <= limit; m++) if (isSupportedOrder(m)) out.push(m);
  return out;
}

/** "2^8·19", "3·5^2", "1". */
export function factorize(n: number): string {
  const parts: string[] = [];
  let r = n;
  for (let p = 2; p * p <= r; p++) {
    let e = 0;
    while (r % p === 0) {
      r /= p;
      e++;
    }
    if (e) parts.push(e === 1 ? `${p}` : `${p}^${e}`);
  }
  if (r > 1) parts.push(`${r}`);
  return parts.length ? parts.join('·') : '1';
}

/** Largest supported order dividing n that is not a power of two, or null. */
function largestSupportedDivisor(n: number): number | null {
  let best: number | null = null;
  for (let d = 1; d * d <= n; d++) {
    if (n % d !== 0) continue;
    for (const e of [d, n / d]) if (!isPow2(e) && isSupportedOrder(e) && (best === null || e > best)) best = e;
  }
  return best;
}

function unsupported(n: number, why: string): HaloError {
  const options: string[] = [];
  const p2 = n & -n;
  if (p2 >= 2)
    options.push(`block: ${p2} (the largest power of two dividing it${p2 < MIN_AUTO_BLOCK ? `; below ${MIN_AUTO_BLOCK}, so 'auto' will not pick it` : ''})`);
  const div = largestSupportedDivisor(n);
  if (div !== null) options.push(`block: ${div}`);
  const prev = previousSupportedOrder(n);
  const next = nextSupportedOrder(n);
  options.push(`a dimension of ${prev !== null ? `${prev} or ` : ''}${next} (nearest supported sizes)`);
  const odd = n / p2;
  const candidates: number[] = [];
  for (let k = 4 * odd; k <= Math.min(n, MAX_ORDER); k *= 2) candidates.push(k);
  const reason =
    p2 < 4
      ? `${n} is not divisible by 4`
      : candidates.length === 0
        ? `4·${odd} = ${4 * odd} exceeds the largest order built, ${MAX_ORDER}`
        : `no construction (Paley I/II, Williamson, doubling) gives K = ${candidates.join(', ')}`;
  return new HaloError(
    'E_UNSUPPORTED',
    `dimension ${n} = ${factorize(n)} ${why}: n = K·2^p needs a ±1 Hadamard matrix of order K = 1 or ` +
      `${odd}·2^j (j ≥ 2, K ≤ ${MAX_ORDER}), and ${reason}. What would work: ${options.join('; ')}.`,
  );
}

function makePlan(n: number, block: number, d: { K: number; pow2: number }): HadamardPlan {
  return { n, block, K: d.K, pow2: d.pow2, hadK: d.K === 1 ? null : hadamardMatrix(d.K) };
}

/** The rotation plan for dimension n (see the header). Errors: E_ARG for a malformed argument, E_UNSUPPORTED for a size. */
export function planHadamard(n: number, opts: PlanOptions = {}): HadamardPlan {
  if (!Number.isInteger(n) || n < 1) throw new HaloError('E_ARG', `Hadamard dimension must be a positive integer, got ${n}`);
  const block = opts.block ?? 'auto';
  if (block === 'full' || block === 'auto') {
    const d = decompose(n);
    if (d) return makePlan(n, n, d);
    const p2 = n & -n;
    if (block === 'auto' && p2 >= MIN_AUTO_BLOCK) return makePlan(n, p2, { K: 1, pow2: p2 });
    throw unsupported(n, block === 'full' ? 'has no full Hadamard rotation' : 'has no Hadamard rotation (full or block ≥ 8)');
  }
  if (!Number.isInteger(block) || block < 1) {
    throw new HaloError('E_ARG', `Hadamard block must be 'auto', 'full' or a positive integer, got ${String(block)}`);
  }
  if (n % block !== 0) {
    throw new HaloError(
      'E_UNSUPPORTED',
      `Hadamard block ${block} does not divide dimension ${n} = ${factorize(n)}; a power of two dividing it (largest ${n & -n}) would work`,
    );
  }
  const d = decompose(block);
  if (!d) {
    throw new HaloError(
      'E_UNSUPPORTED',
      `Hadamard block ${block} = ${factorize(block)} is not a supported order (dimension ${n}); ` +
        `use a power of two dividing ${n} (largest ${n & -n})${isSupportedOrder(n) ? ` or 'full'` : ''}`,
    );
  }
  return makePlan(n, block, d);
}
