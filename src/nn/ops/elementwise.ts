// The residual stream's two operations. A residual add y = a + b has the identity as backward for both
// inputs, so the model only ever needs "add this gradient into that one": addInPlace.
import type { FloatArray } from '../../core/dtype.ts';
import { checkLen, checkSameFloat, outBuffer } from './check.ts';

/** dst += src, elementwise (any shape, equal lengths). */
export function addInPlace(dst: FloatArray, src: FloatArray): void {
  checkLen('addInPlace', 'src', src, dst.length, "dst's shape");
  checkSameFloat('addInPlace', dst, { src });
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/** out = a + b, elementwise; out may be a or b. */
export function add(a: FloatArray, b: FloatArray, out?: FloatArray): FloatArray {
  checkLen('add', 'b', b, a.length, "a's shape");
  checkSameFloat('add', a, { b });
  const y = outBuffer('add', 'out', out, a, a.length, "a's shape");
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}
