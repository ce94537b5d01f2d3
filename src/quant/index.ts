// Public API of src/quant: dtype codecs, the format table and the absmax quantizers.
export {
  BLOCK,
  GRANULARITIES,
  absmaxScale,
  countNonFinite,
  dequantize,
  fakeQuantize,
  quantize,
  scaleCount,
  scaleIndex,
  type Granularity,
  type QuantizeOptions,
  type Quantized,
} from './quantize.ts';
export {
  QUANT_FORMATS,
  QUANT_FORMAT_NAMES,
  decodeTable,
  formatTraits,
  type CodeDType,
  type CodeDTypeOf,
  type FormatTraits,
  type QuantFormat,
  type TableDType,
} from './formats.ts';
export {
  BF16,
  F16,
  bf16Table,
  decodeBf16,
  decodeBf16Array,
  decodeF16,
  decodeF16Array,
  encodeBf16,
  encodeBf16Array,
  encodeF16,
  encodeF16Array,
  f16Table,
} from './codecs/bf16.ts';
export { E4M3, E4M3_TABLE, E5M2, E5M2_TABLE, decodeE4M3, decodeE5M2, encodeE4M3, encodeE5M2 } from './codecs/fp8.ts';
export { E3M2, E3M2_TABLE, decodeE3M2, encodeE3M2 } from './codecs/fp6.ts';
export { INT8_MAX, decodeInt8, encodeInt8 } from './codecs/int8.ts';
export type { Minifloat, MinifloatLayout } from './codecs/minifloat.ts';
