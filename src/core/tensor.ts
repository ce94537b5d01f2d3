// Tensor = shape + dtype + one typed array, row-major and contiguous. No views with strides, no hidden
// copies: an op that needs another layout (a transpose) makes it explicitly, so its cost is visible.
import { DTYPES, type DType, type Storage } from './dtype.ts';
import { HaloError } from './errors.ts';

export class Tensor<D extends DType = DType> {
  readonly shape: readonly number[];
  constructor(
    shape: readonly number[],
    readonly dtype: D,
    readonly data: Storage<D>,
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new HaloError('E_SHAPE', `invalid dimension ${d} in shape [${shape.join(', ')}]`);
    }
    this.shape = Object.freeze([...shape]);
    const n = numel(shape);
    if (data.length !== n) {
      throw new HaloError('E_SHAPE', `shape [${shape.join(', ')}] needs ${n} elements, storage has ${data.length}`);
    }
  }

  static zeros<D extends DType>(shape: readonly number[], dtype: D): Tensor<D> {
    return new Tensor(shape, dtype, DTYPES[dtype].make(numel(shape)) as Storage<D>);
  }

  get numel(): number {
    return this.data.length;
  }

  get bytes(): number {
    return this.data.length * DTYPES[this.dtype].bytes;
  }

  /** [rows, cols] of a 2-D tensor; a clear error otherwise. */
  dims2(what = 'tensor'): [number, number] {
    if (this.shape.length !== 2) throw new HaloError('E_SHAPE', `${what} must be 2-D, got shape [${this.shape.join(', ')}]`);
    return [this.shape[0]!, this.shape[1]!];
  }

  reshape(shape: readonly number[]): Tensor<D> {
    return new Tensor(shape, this.dtype, this.data);
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
