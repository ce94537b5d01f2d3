// The reference backend: every kernel in plain TypeScript, composed from the readable modules in
// src/hadamard and src/quant. It is the executable specification the native backend is tested against,
// and the backend that runs when the addon is unavailable.
import type { Backend, FloatTensor, Rotation } from '../backend.ts';
import type { FloatDType } from '../../core/dtype.ts';
import { Tensor } from '../../core/tensor.ts';
import { leftHadamard, rightHadamard } from '../../hadamard/index.ts';
import { dequantize, quantize, type Granularity, type QuantFormat, type Quantized } from '../../quant/index.ts';
import { matmul, matmulT } from './matmul.ts';
import { transpose } from './transpose.ts';

export function rotate(x: FloatTensor, rot: Rotation): FloatTensor {
  const [r, c] = x.dims2('rotation input');
  const data = x.data.slice();
  if (rot.side === 'right') rightHadamard(data, r, rot.plan, rot.transpose);
  else leftHadamard(data, r, c, rot.plan, rot.transpose);
  return new Tensor([r, c], x.dtype, data) as FloatTensor;
}

export const referenceBackend: Backend = {
  name: 'reference',
  matmul: (a, b, opts) => matmul(a, b, opts),
  matmulT,
  transpose,
  rotate,
  rotateQuantize(x: FloatTensor, rot: Rotation | null, format: QuantFormat, granularity: Granularity, opts = {}): Quantized {
    return quantize(rot ? rotate(x, rot) : x, format, granularity, opts);
  },
  dequantize(q: Quantized, dtype: FloatDType): FloatTensor {
    return dequantize(q, dtype) as FloatTensor;
  },
};
