// The quantizer formats as one typed table (ggml's type_traits idea): for each format, the dtype its codes
// are stored in, the largest magnitude a code can hold (the absmax scale maps the tensor's absmax onto it),
// and the scalar codec. Adding a format is one row here plus its codec file.
import { HaloError } from '../core/errors.ts';
import { BF16, bf16Table, decodeBf16, encodeBf16, f16Table } from './codecs/bf16.ts';
import { decodeE3M2, E3M2, E3M2_TABLE, encodeE3M2 } from './codecs/fp6.ts';
import { decodeE4M3, decodeE5M2, E4M3, E4M3_TABLE, E5M2, E5M2_TABLE, encodeE4M3, encodeE5M2 } from './codecs/fp8.ts';
import { decodeInt8, encodeInt8, INT8_MAX } from './codecs/int8.ts';

export const QUANT_FORMAT_NAMES = ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2', 'bf16'] as const;
export type QuantFormat = (typeof QUANT_FORMAT_NAMES)[number];

/** The dtype (src/core/dtype.ts) each format's codes are stored in. */
export interface CodeDTypeOf {
  int8: 'i8';
  fp8e4m3: 'fp8e4m3';
  fp8e5m2: 'fp8e5m2';
  fp6e3m2: 'fp6e3m2';
  bf16: 'bf16';
}
export type CodeDType = CodeDTypeOf[QuantFormat];

export interface FormatTraits<F extends QuantFormat = QuantFormat> {
  readonly format: F;
  readonly dtype: CodeDTypeOf[F];
  /** Bits of information per code (storage is one byte per code for every 8- and 6-bit format, 2 for bf16). */
  readonly bits: number;
  /**
   * The largest finite magnitude a code holds: absmax scale = absmax / qmax. Infinity for bf16, which is a
   * cast (scale always 1).
   */
  readonly qmax: number;
  /** Code of the representable value nearest x (ties to even), saturating at ±qmax (bf16: IEEE cast). */
  encode(x: number): number;
  /** Value of a code. */
  decode(code: number): number;
}

export const QUANT_FORMATS: { readonly [F in QuantFormat]: FormatTraits<F> } = {
  int8: { format: 'int8', dtype: 'i8', bits: 8, qmax: INT8_MAX, encode: encodeInt8, decode: decodeInt8 },
  fp8e4m3: { format: 'fp8e4m3', dtype: 'fp8e4m3', bits: E4M3.bits, qmax: E4M3.max, encode: encodeE4M3, decode: decodeE4M3 },
  fp8e5m2: { format: 'fp8e5m2', dtype: 'fp8e5m2', bits: E5M2.bits, qmax: E5M2.max, encode: encodeE5M2, decode: decodeE5M2 },
  fp6e3m2: { format: 'fp6e3m2', dtype: 'fp6e3m2', bits: E3M2.bits, qmax: E3M2.max, encode: encodeE3M2, decode: decodeE3M2 },
  bf16: { format: 'bf16', dtype: 'bf16', bits: BF16.bits, qmax: Infinity, encode: encodeBf16, decode: decodeBf16 },
};

/** The traits of a format, or E_ARG naming the formats that exist. */
export function formatTraits<F extends QuantFormat>(format: F): FormatTraits<F> {
  if (!Object.hasOwn(QUANT_FORMATS, format))
    throw new HaloError('E_ARG', `unknown quantization format '${format}'; use one of ${QUANT_FORMAT_NAMES.join(', ')}`);
  return QUANT_FORMATS[format];
}

/** Float-coded dtypes whose codes decode through a lookup table. */
export type TableDType = 'bf16' | 'f16' | 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2';

/** The value of every code of a float-coded dtype, indexed by code (bf16 and f16 tables are built on first use). */
export function decodeTable(dtype: TableDType): Float32Array {
  switch (dtype) {
    case 'bf16':
      return bf16Table();
    case 'f16':
      return f16Table();
    case 'fp8e4m3':
      return E4M3_TABLE;
    case 'fp8e5m2':
      return E5M2_TABLE;
    case 'fp6e3m2':
      return E3M2_TABLE;
  }
}
