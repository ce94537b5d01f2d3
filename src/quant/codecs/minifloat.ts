// One small-float codec, parameterised by bit layout, shared by bf16, f16, FP8 (E4M3FN, E5M2) and FP6 (E3M2).
// Every one of them is "sign | exponent | mantissa" with a bias, subnormals at exponent code 0 and
// round-to-nearest-even; they differ only in field widths and in what the top exponent code means
// (IEEE inf/NaN, E4M3FN's single NaN pattern, or nothing at all for FP6). Writing the rounding once keeps
// the five formats consistent; each format's own file names its layout and its choices.
//
// Encoding works on JS numbers (float64) and rounds once, so an f64 input is not first rounded to f32
// (that would be double rounding). Definitions: OCP 8-bit FP spec (E4M3FN, E5M2), torch.float8_e4m3fn /
// float8_e5m2, HALO's fp6_e3m2fn codebook (spec §3).
import { HaloError } from '../../core/errors.ts';

export interface MinifloatLayout {
  readonly name: string;
  readonly expBits: number;
  readonly manBits: number;
  readonly bias: number;
  /**
   * What the all-ones exponent code means.
   *  'ieee': mantissa 0 = ±inf, any other mantissa = NaN (bf16, f16, E5M2)
   *  'fn':   only S.1111.111 is NaN, every other code is finite, no inf (E4M3FN)
   *  'none': every code is a finite number; there is no inf and no NaN (FP6 E3M2)
   */
  readonly special: 'ieee' | 'fn' | 'none';
  /**
   * What finite values beyond the largest finite value become.
   *  'inf':      IEEE cast: values that round past max become ±inf (bf16, f16 — torch's .to())
   *  'saturate': ±max (FP8/FP6: a quantizer wants the nearest representable value, not inf/NaN)
   */
  readonly overflow: 'inf' | 'saturate';
}

/** A layout with the derived constants the codec needs. */
export interface Minifloat extends MinifloatLayout {
  readonly bits: number;
  /** Largest finite value. */
  readonly max: number;
  /** Smallest positive (subnormal) value. */
  readonly minSubnormal: number;
  /** Smallest positive normal value, 2^emin. */
  readonly minNormal: number;
  /** Code of +max (OR in the sign bit for -max). */
  readonly maxCode: number;
  readonly signBit: number;
  /** Code written for NaN (-1 where the format has none). */
  readonly nanCode: number;
  /** Code of +inf (-1 where the format has none). */
  readonly infCode: number;
}

export function minifloat(layout: MinifloatLayout): Minifloat {
  const { expBits, manBits, bias, special } = layout;
  const expAll = (1 << expBits) - 1;
  const manAll = (1 << manBits) - 1;
  // The largest finite code: IEEE gives up the whole top exponent, FN only its all-ones mantissa.
  const maxExp = special === 'ieee' ? expAll - 1 : expAll;
  const maxMan = special === 'fn' ? manAll - 1 : manAll;
  const maxCode = (maxExp << manBits) | maxMan;
  const emin = 1 - bias;
  return {
    ...layout,
    bits: 1 + expBits + manBits,
    max: (1 + maxMan / (1 << manBits)) * 2 ** (maxExp - bias),
    minSubnormal: 2 ** (emin - manBits),
    minNormal: 2 ** emin,
    maxCode,
    signBit: 1 << (expBits + manBits),
    // NaN: the quiet pattern (top mantissa bit set) for IEEE; all ones for FN.
    nanCode: special === 'ieee' ? (expAll << manBits) | (1 << (manBits - 1)) : special === 'fn' ? (expAll << manBits) | manAll : -1,
    infCode: special === 'ieee' ? expAll << manBits : -1,
  };
}

/** The value of a code (bits above the format's width are ignored). */
export function decodeMinifloat(f: Minifloat, code: number): number {
  const { expBits, manBits, bias, special } = f;
  const sign = code & f.signBit ? -1 : 1;
  const exp = (code >>> manBits) & ((1 << expBits) - 1);
  const man = code & ((1 << manBits) - 1);
  const expAll = (1 << expBits) - 1;
  if (exp === expAll) {
    if (special === 'ieee') return man === 0 ? sign * Infinity : NaN;
    if (special === 'fn' && man === (1 << manBits) - 1) return NaN;
  }
  if (exp === 0) return sign * man * f.minSubnormal; // subnormal (and ±0)
  return sign * (1 + man / (1 << manBits)) * 2 ** (exp - bias);
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // index of the high word (endianness)

/** floor(log2(a)) for a finite a > 0, read from the float64 exponent field (subnormal doubles give -1023). */
function exponentOf(a: number): number {
  f64[0] = a;
  return ((u32[HI]! >>> 20) & 0x7ff) - 1023;
}

/**
 * The code of the representable value nearest to x, ties to the even mantissa. Zeros keep their sign, and so
 * do values that round to zero. NaN gives the format's NaN code (formats without NaN throw E_NUMERIC).
 * Beyond max: ±inf or ±max as the layout's `overflow` says; an infinite input is ±inf where the format has
 * inf, else ±max.
 */
export function encodeMinifloat(f: Minifloat, x: number): number {
  if (x !== x) {
    if (f.nanCode < 0) throw new HaloError('E_NUMERIC', `${f.name} has no NaN: cannot encode NaN`);
    return f.nanCode;
  }
  const sign = x < 0 || Object.is(x, -0) ? f.signBit : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | (f.infCode >= 0 ? f.infCode : f.maxCode);
  if (a === 0) return sign;
  const { manBits, bias } = f;
  const emin = 1 - bias;
  // Below 2^emin the spacing stays that of the lowest binade (subnormals).
  let e = Math.max(exponentOf(a), emin);
  const ulp = 2 ** (e - manBits);
  const q = a / ulp; // exact: a division by a power of two; q < 2^(manBits+1)
  let m = Math.floor(q);
  const frac = q - m;
  if (frac > 0.5 || (frac === 0.5 && (m & 1) === 1)) m++;
  if (m === 2 ** (manBits + 1)) {
    // rounded up into the next binade
    m >>>= 1;
    e++;
  }
  // m < 2^manBits only in the lowest binade: a subnormal (exponent code 0).
  const expCode = m < 1 << manBits ? 0 : e + bias;
  const code = (expCode << manBits) | (m & ((1 << manBits) - 1));
  if (code > f.maxCode) {
    // past the largest finite code (into inf/NaN patterns, or off the top)
    return sign | (f.overflow === 'inf' && f.infCode >= 0 ? f.infCode : f.maxCode);
  }
  return sign | code;
}

/** The value of every code, indexed by code: the lookup table kernels decode with. */
export function minifloatTable(f: Minifloat): Float32Array {
  const t = new Float32Array(1 << f.bits);
  for (let c = 0; c < t.length; c++) t[c] = decodeMinifloat(f, c);
  return t;
}
