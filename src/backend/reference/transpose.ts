// A 2-D transpose of any dtype, as a real copy (kernels want the contraction dimension contiguous).
import { DTYPES, type Storage } from '../../core/dtype.ts';
import { Tensor } from '../../core/tensor.ts';

export function transpose<T extends Tensor>(a: T): T {
  const [r, c] = a.dims2('transpose input');
  const src = a.data as Storage & { [i: number]: number };
  const dst = DTYPES[a.dtype].make(r * c) as Storage & { [i: number]: number };
  for (let i = 0; i < r; i++) {
    const o = i * c;
    for (let j = 0; j < c; j++) dst[j * r + i] = src[o + j];
  }
  return new Tensor([c, r], a.dtype, dst) as T;
}
