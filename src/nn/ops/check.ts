// Argument checks shared by the ops: every op takes flat typed arrays plus integer dims, so a wrong dim or a
// too-short buffer would silently read garbage. These turn that into a HaloError naming the op, the array,
// the shape it should have had and what it has.
import { HaloError } from '../../core/errors.ts';
import { floatLike, type FloatArray } from '../../core/dtype.ts';

/** Each named dimension must be a positive integer. */
export function checkDims(op: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1) throw new HaloError('E_SHAPE', `${op}: ${name} must be a positive integer, got ${v}`);
  }
}

/** `a` must hold exactly the elements of `shape` (named like '[N, C]'). */
export function checkLen(op: string, name: string, a: ArrayLike<number>, n: number, shape: string): void {
  if (a.length !== n) {
    throw new HaloError('E_SHAPE', `${op}: ${name} has ${a.length} elements but ${shape} needs ${n}`);
  }
}

/** Mixing f32 and f64 would silently change precision mid-op; all float operands share `ref`'s type. */
export function checkSameFloat(op: string, ref: FloatArray, others: Record<string, FloatArray | null | undefined>): void {
  const want = ref instanceof Float64Array ? 'Float64Array' : 'Float32Array';
  for (const [name, a] of Object.entries(others)) {
    if (a == null) continue;
    const is64 = a instanceof Float64Array;
    if (is64 !== ref instanceof Float64Array) {
      throw new HaloError('E_DTYPE', `${op}: ${name} is a ${a.constructor.name} but the inputs are ${want}; pass one precision throughout`);
    }
  }
}

/** A caller-supplied output buffer (checked), or a fresh one of `like`'s precision. */
export function outBuffer(op: string, name: string, given: FloatArray | undefined, like: FloatArray, n: number, shape: string): FloatArray {
  if (given === undefined) return floatLike(like, n);
  checkLen(op, name, given, n, shape);
  checkSameFloat(op, like, { [name]: given });
  return given;
}
