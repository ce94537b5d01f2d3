// In-place orthonormal Hadamard rotations of float matrices: the reference the native kernels must match.
//
// Per block of size b = K·P (P = plan.pow2) starting at element o, with u[k·P + j] = x[o + k·P + j]:
//   1. FWHT over j inside each of the K chunks (unnormalised, natural order, butterfly strides 1, 2, 4, …);
//   2. mix the chunks with H_K: y[k·P + j] = Σ_{l=0..K−1} H[k][l]·u[l·P + j]  (H_Kᵀ when transposing),
//      accumulated from 0 in order l = 0, 1, …, K−1;
//   3. scale by s = 1/√b (for Float32Array, s rounded to f32 first).
// Every intermediate is stored in the array's own precision, so on a Float32Array this is exactly IEEE f32
// arithmetic (a sum or product of two f32 values computed in f64 and rounded once equals the f32 result).
// This is HALO's right_had: the row read as [K, P], FWHT over the last dim, then hadK @ (·) — except that HALO
// scales inside the FWHT kernel (before the mix); the values agree to rounding.
//
// With Ĥ = (H_K ⊗ H_P)/√b on each diagonal block:
//   rightHadamard(x, transpose=false): every row ← row·Ĥᵀ   (= Ĥ·rowᵀ)
//   rightHadamard(x, transpose=true):  every row ← row·Ĥ    (the inverse of the above)
//   leftHadamard(x, transpose=false):  X ← Ĥ·X             (over the row dim: each column ← Ĥ·column)
//   leftHadamard(x, transpose=true):   X ← Ĥᵀ·X
// leftHadamard runs the same operations in the same order per column as rightHadamard on Xᵀ, so
// leftHadamard(X) equals transpose(rightHadamard(transpose(X))) bit for bit.
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { isPow2 } from './matrices.ts';
import type { HadamardPlan } from './plan.ts';

/**
 * Unnormalised natural-order fast Walsh–Hadamard transform, in place, of the len elements
 * x[offset + i·stride], i < len (len a power of two): v ← H_len·v with H[i][j] = (−1)^popcount(i&j).
 */
export function fwht(x: FloatArray, offset: number, len: number, stride = 1): void {
  for (let h = 1; h < len; h *= 2) {
    for (let i = 0; i < len; i += 2 * h) {
      for (let j = i; j < i + h; j++) {
        const u = offset + j * stride;
        const v = u + h * stride;
        const a = x[u]!;
        const b = x[v]!;
        x[u] = a + b;
        x[v] = a - b;
      }
    }
  }
}

function blockScale(x: FloatArray, block: number): number {
  const s = 1 / Math.sqrt(block);
  return x instanceof Float32Array ? Math.fround(s) : s;
}

function checkPlan(plan: HadamardPlan): void {
  const { n, block, K, pow2, hadK } = plan;
  if (n % block !== 0 || K * pow2 !== block || !isPow2(pow2) || (K === 1) !== (hadK === null) || (hadK !== null && hadK.length !== K * K)) {
    throw new HaloError('E_ARG', `inconsistent Hadamard plan n=${n} block=${block} K=${K} pow2=${pow2}`);
  }
}

/** H_K[k][l] (or H_K[l][k] when transposing). */
const entry = (hadK: Int8Array, K: number, k: number, l: number, transpose: boolean): number => (transpose ? hadK[l * K + k]! : hadK[k * K + l]!);

/**
 * x [rows, plan.n] row-major: each row ← row·Ĥᵀ (transpose = false) or row·Ĥ (transpose = true).
 */
export function rightHadamard(x: FloatArray, rows: number, plan: HadamardPlan, transpose: boolean): void {
  checkPlan(plan);
  const { n, block, K, pow2: P, hadK } = plan;
  if (x.length !== rows * n) throw new HaloError('E_SHAPE', `rightHadamard: [${rows}, ${n}] needs ${rows * n} elements, got ${x.length}`);
  const s = blockScale(x, block);
  const tmp = hadK ? (x instanceof Float32Array ? new Float32Array(block) : new Float64Array(block)) : null;
  for (let o = 0; o < x.length; o += block) {
    for (let k = 0; k < K; k++) fwht(x, o + k * P, P);
    if (hadK && tmp) {
      tmp.set(x.subarray(o, o + block));
      for (let k = 0; k < K; k++) {
        const dst = o + k * P;
        x.fill(0, dst, dst + P);
        for (let l = 0; l < K; l++) {
          const src = l * P;
          if (entry(hadK, K, k, l, transpose) > 0) for (let j = 0; j < P; j++) x[dst + j] += tmp[src + j]!;
          else for (let j = 0; j < P; j++) x[dst + j] -= tmp[src + j]!;
        }
      }
    }
    for (let i = o; i < o + block; i++) x[i] *= s;
  }
}

/** Columns per tile in leftHadamard: a block's rows × TILE_ELEMS/block columns stay in cache. */
const TILE_ELEMS = 1 << 14;
/** …but at least this many, so the inner loops run over contiguous runs worth vectorising. */
const MIN_TILE = 16;

/**
 * x [rows, cols] row-major with rows = plan.n: X ← Ĥ·X (transpose = false) or Ĥᵀ·X (transpose = true).
 * Works on column tiles so the butterflies run along contiguous memory without transposing copies.
 */
export function leftHadamard(x: FloatArray, rows: number, cols: number, plan: HadamardPlan, transpose: boolean): void {
  checkPlan(plan);
  const { n, block, K, pow2: P, hadK } = plan;
  if (rows !== n) throw new HaloError('E_SHAPE', `leftHadamard: plan is for ${n} rows, matrix has ${rows}`);
  if (x.length !== rows * cols) throw new HaloError('E_SHAPE', `leftHadamard: [${rows}, ${cols}] needs ${rows * cols} elements, got ${x.length}`);
  const s = blockScale(x, block);
  const tw = Math.min(cols, Math.max(MIN_TILE, Math.floor(TILE_ELEMS / block)));
  const tmp = hadK ? (x instanceof Float32Array ? new Float32Array(block * tw) : new Float64Array(block * tw)) : null;
  for (let r0 = 0; r0 < rows; r0 += block) {
    for (let c0 = 0; c0 < cols; c0 += tw) {
      const w = Math.min(tw, cols - c0);
      // 1. FWHT down each chunk of P rows, whole tile rows at a time
      for (let k = 0; k < K; k++) {
        const base = r0 + k * P;
        for (let h = 1; h < P; h *= 2) {
          for (let i = 0; i < P; i += 2 * h) {
            for (let j = i; j < i + h; j++) {
              const u = (base + j) * cols + c0;
              const v = u + h * cols;
              for (let c = 0; c < w; c++) {
                const a = x[u + c]!;
                const b = x[v + c]!;
                x[u + c] = a + b;
                x[v + c] = a - b;
              }
            }
          }
        }
      }
      // 2. mix the K chunks: tile rows copied to tmp [block, w]
      if (hadK && tmp) {
        for (let i = 0; i < block; i++) tmp.set(x.subarray((r0 + i) * cols + c0, (r0 + i) * cols + c0 + w), i * w);
        for (let k = 0; k < K; k++) {
          for (let j = 0; j < P; j++) {
            const dst = (r0 + k * P + j) * cols + c0;
            x.fill(0, dst, dst + w);
            for (let l = 0; l < K; l++) {
              const src = (l * P + j) * w;
              if (entry(hadK, K, k, l, transpose) > 0) for (let c = 0; c < w; c++) x[dst + c] += tmp[src + c]!;
              else for (let c = 0; c < w; c++) x[dst + c] -= tmp[src + c]!;
            }
          }
        }
      }
      // 3. scale
      for (let i = 0; i < block; i++) {
        const row = (r0 + i) * cols + c0;
        for (let c = 0; c < w; c++) x[row + c] *= s;
      }
    }
  }
}

/** The dense n×n Ĥ of a plan (block-diagonal when block < n), row-major f64. For tests and analysis. */
export function denseHadamard(plan: HadamardPlan): Float64Array {
  checkPlan(plan);
  const { n, block, K, pow2: P, hadK } = plan;
  const out = new Float64Array(n * n);
  const s = 1 / Math.sqrt(block);
  for (let o = 0; o < n; o += block) {
    for (let i = 0; i < block; i++) {
      for (let j = 0; j < block; j++) {
        const hk = hadK ? hadK[Math.floor(i / P) * K + Math.floor(j / P)]! : 1;
        let v = (i % P) & (j % P),
          parity = 0;
        for (; v; v &= v - 1) parity ^= 1;
        out[(o + i) * n + o + j] = (parity ? -hk : hk) * s;
      }
    }
  }
  return out;
}
