// Symmetric INT8 codec: round half to even (torch's `.round()`, which HALO uses), then clamp to [-127, 127].
// -128 is never produced, so the code range is symmetric and negation is exact. ±inf saturate to ±127;
// NaN has no code and throws E_NUMERIC.
import { HaloError } from '../../core/errors.ts';

export const INT8_MAX = 127;

/** x rounded half to even, clamped to [-127, 127]. */
export function encodeInt8(x: number): number {
  if (x !== x) throw new HaloError('E_NUMERIC', 'int8 has no NaN: cannot encode NaN');
  if (x >= INT8_MAX) return INT8_MAX;
  if (x <= -INT8_MAX) return -INT8_MAX;
  const f = Math.floor(x);
  const d = x - f; // exact for |x| < 2^52
  const r = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
  return r === 0 ? 0 : r; // no -0 from the rounding of small negatives
}

export function decodeInt8(code: number): number {
  return code;
}
