// The quantization formats as WGSL: for each of src/quant's formats, the functions the quantize and
// dequantize kernels (quantize.ts) are generated around —
//   scale_of(absmax_bits) -> f32      the group's scale, fround(absmax/qmax) exactly (bf16: always 1)
//   encode(x, s) -> u32               the code of x/s, rounded to nearest even and saturating as the codec does
//   decode(code) -> f32               the code's value (int8 by arithmetic, minifloats through the codec's table
//                                     bound at binding 4, bf16 by a shift), so scale·decode is the reference's
// — and how many codes share a u32 word. Minifloat rounding is decided exactly like int8's (exact.ts): the f32
// quotient picks a grid value, then x is compared with the midpoints to its neighbours times the scale exactly
// (midpoints have at most manBits + 2 significant bits). Codes of values rounding to zero keep x's sign, as
// encodeMinifloat does.
import { E3M2 } from '../../../quant/codecs/fp6.ts';
import { E4M3, E5M2 } from '../../../quant/codecs/fp8.ts';
import type { Minifloat } from '../../../quant/codecs/minifloat.ts';
import type { QuantFormat } from '../../../quant/index.ts';
import { WGSL_EXACT_QUANT } from './exact.ts';

export interface WgslCodec {
  readonly format: QuantFormat;
  /** Codes per u32 word: 4 one-byte codes, or 2 bf16 codes. */
  readonly perWord: 4 | 2;
  /** decode() reads the codec's 256-entry table at binding 4 (dequantize binds src/quant's decodeTable). */
  readonly table: boolean;
  readonly wgsl: string;
}

/** An f32 WGSL literal for a power of two (exact in decimal). */
const lit = (v: number) => (Number.isInteger(v) ? `${v}.0` : `${v}`);

function minifloatWgsl(f: Minifloat): string {
  const emin = 1 - f.bias;
  // qmax = 7·2^j for all three minifloats (448, 57344, 28); absmax_scale_bits wants the odd part
  let qodd = f.max,
    qshift = 0;
  while (qodd % 2 === 0) {
    qodd /= 2;
    qshift++;
  }
  return /* wgsl */ `
${WGSL_EXACT_QUANT}
const MB = ${f.manBits}u;
const EMIN = ${emin};
const BIAS = ${f.bias};
const MAXCODE = ${f.maxCode}u;
const SIGNBIT = ${f.signBit}u;
const MAXV = ${lit(f.max)};
const MIN_NORMAL = ${lit(f.minNormal)};
const INV_MIN_SUB = ${lit(1 / f.minSubnormal)};

fn scale_of(ab: u32) -> f32 { return bitcast<f32>(absmax_scale_bits(ab, ${qodd}u, ${qshift})); }

// floor(log2 v) of a grid value v ≥ 0, or EMIN in the subnormal range.
fn mf_exp(v: f32) -> i32 {
  if (v < MIN_NORMAL) { return EMIN; }
  return i32((bitcast<u32>(v) >> 23u) & 0xffu) - 127;
}

// The code of grid value v ≥ 0 before saturation (its low bit is the mantissa's parity).
fn mf_code(v: f32) -> u32 {
  if (v < MIN_NORMAL) { return u32(v * INV_MIN_SUB); } // a power-of-two product: exact
  let e = mf_exp(v);
  return (u32(e + BIAS) << MB) | ((bitcast<u32>(v) >> (23u - MB)) & ((1u << MB) - 1u));
}

fn even_of(a: f32, b: f32) -> f32 {
  return select(b, a, (mf_code(a) & 1u) == 0u);
}

fn encode(x: f32, s: f32) -> u32 {
  let a = abs(x);
  let sign = select(0u, SIGNBIT, (bitcast<u32>(x) >> 31u) == 1u);
  let q = a / s;
  if (!(q < 2.0 * MAXV)) { return sign | MAXCODE; }
  let ulp = ldexp(1.0, mf_exp(q) - i32(MB));
  var v = round(q * (1.0 / ulp)) * ulp;
  let up = ldexp(1.0, mf_exp(v) - i32(MB));
  let cu = cmp_mul(a, v + 0.5 * up, s);
  if (cu > 0) {
    v = v + up;
  } else if (cu == 0) {
    v = even_of(v, v + up);
  } else if (v > 0.0) {
    // below a power of two the grid is twice as fine (except at the subnormal floor)
    let pow2 = (bitcast<u32>(v) & 0x7fffffu) == 0u && v > MIN_NORMAL;
    let dn = select(up, 0.5 * up, pow2);
    let cd = cmp_mul(a, v - 0.5 * dn, s);
    if (cd < 0) {
      v = v - dn;
    } else if (cd == 0) {
      v = even_of(v - dn, v);
    }
  }
  return sign | min(mf_code(v), MAXCODE);
}

@group(0) @binding(4) var<storage, read> T: array<f32>;
fn decode(code: u32) -> f32 { return T[code & 0xffu]; }
`;
}

const INT8 = /* wgsl */ `
${WGSL_EXACT_QUANT}
fn scale_of(ab: u32) -> f32 { return bitcast<f32>(absmax_scale_bits(ab, 127u, 0)); }
fn encode(x: f32, s: f32) -> u32 { return bitcast<u32>(encode_int8(x, s)) & 0xffu; }
fn decode(code: u32) -> f32 { return f32(bitcast<i32>(code << 24u) >> 24u); }
`;

// bf16 is a cast (scale 1): round to nearest even on the low 16 bits of the f32 (inputs are finite here).
const BF16 = /* wgsl */ `
fn scale_of(ab: u32) -> f32 { return 1.0; }
fn encode(x: f32, s: f32) -> u32 {
  let b = bitcast<u32>(x);
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}
fn decode(code: u32) -> f32 { return bitcast<f32>((code & 0xffffu) << 16u); }
`;

export function wgslCodec(format: QuantFormat): WgslCodec {
  switch (format) {
    case 'int8':
      return { format, perWord: 4, table: false, wgsl: INT8 };
    case 'fp8e4m3':
      return { format, perWord: 4, table: true, wgsl: minifloatWgsl(E4M3) };
    case 'fp8e5m2':
      return { format, perWord: 4, table: true, wgsl: minifloatWgsl(E5M2) };
    case 'fp6e3m2':
      return { format, perWord: 4, table: true, wgsl: minifloatWgsl(E3M2) };
    case 'bf16':
      return { format, perWord: 2, table: false, wgsl: BF16 };
  }
}
