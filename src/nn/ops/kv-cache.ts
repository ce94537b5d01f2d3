// Per-layer key/value cache for generation: keys and values of every position seen so far, laid out
// [B, capacity, Hkv, D] — the same layout as attention's k/v with T = capacity — so attentionDecode reads it
// with the same loops as the full forward. Memory: 2 · B · capacity · Hkv · D floats per layer.
import { HaloError } from '../../core/errors.ts';
import type { FloatArray, FloatDType } from '../../core/dtype.ts';
import { checkDims, checkLen, checkSameFloat } from './check.ts';

export interface KvCache {
  /** [B, capacity, Hkv, D] keys (after RoPE) */
  readonly k: FloatArray;
  /** [B, capacity, Hkv, D] values */
  readonly v: FloatArray;
  readonly B: number;
  readonly capacity: number;
  readonly Hkv: number;
  readonly D: number;
  /** positions filled so far, the same for every sequence of the batch */
  length: number;
}

export function createKvCache(B: number, capacity: number, Hkv: number, D: number, precision: FloatDType = 'f32'): KvCache {
  checkDims('createKvCache', { B, capacity, Hkv, D });
  const n = B * capacity * Hkv * D;
  const make = (): FloatArray => (precision === 'f64' ? new Float64Array(n) : new Float32Array(n));
  return { k: make(), v: make(), B, capacity, Hkv, D, length: 0 };
}

/**
 * Appends Tn new positions for every sequence.
 * @param k [B, Tn, Hkv, D] new keys (after RoPE)
 * @param v [B, Tn, Hkv, D] new values
 */
export function kvCacheAppend(cache: KvCache, k: FloatArray, v: FloatArray, Tn: number): void {
  const op = 'kvCacheAppend';
  const { B, capacity, Hkv, D } = cache;
  checkDims(op, { Tn });
  checkLen(op, 'k', k, B * Tn * Hkv * D, '[B, Tn, Hkv, D]');
  checkLen(op, 'v', v, B * Tn * Hkv * D, '[B, Tn, Hkv, D]');
  checkSameFloat(op, cache.k, { k, v });
  if (cache.length + Tn > capacity) {
    throw new HaloError(
      'E_ARG',
      `${op}: the KV cache holds ${capacity} positions and has ${cache.length}; ${Tn} more do not fit — create it with capacity ≥ prompt length + max new tokens`,
    );
  }
  const row = Hkv * D;
  for (let b = 0; b < B; b++) {
    const src = b * Tn * row;
    const dst = (b * capacity + cache.length) * row;
    cache.k.set(k.subarray(src, src + Tn * row), dst);
    cache.v.set(v.subarray(src, src + Tn * row), dst);
  }
  cache.length += Tn;
}
