// The 256-value code maps the quantized AdamW moments are stored with (src/optim/adamw8bit.ts): a stored byte
// is the index of a value in an ascending map, and a block's value is map[code] · the block's absmax.
//
// dynamic (adamw8bit): the "dynamic tree" map of Dettmers et al., "8-bit Optimizers via Block-wise
// Quantization" (2022), built from its published description: below the sign, a code is a decimal exponent
// (a run of zero bits ended by a one) followed by linear fraction bits. Exponent level k = 0 … 6 scales by
// 10^(k−6) and has 2^k fractions (2^(k+1) unsigned, where the sign bit becomes a fraction bit): the midpoints
// of that many equal steps of [0.1, 1]. With 0 and 1 that is 2·127 + 2 (signed) or 254 + 2 (unsigned) values,
// so small moments keep about 3 significant bits down to 1e-6 of their block's largest.
//
// e4m3 (adamw-fp8): the finite float8 E4M3FN values divided by 448, the set COAT (Xi et al. 2024) stores its
// moments in, as an index map like the other (COAT's dynamic range expansion is not applied).
//
// The second moment's maps leave out 0 (the "zero-point problem" of Li et al., "Memory Efficient Optimizers
// with 4-bit States", 2023): a v that rounds to 0 beside an m that does not makes the next update
// m/(0 + ε), a jump of up to lr·|m|/ε once that element's gradient stops (an unused token's embedding row).
// Without 0 the smallest v is map[0]·absmax, so |m|/√v stays bounded. A map short of 256 distinct values is
// padded at the top with repeats of 1 (never chosen: |x| ≤ 1 and ties go to the lower code).
import { E4M3_TABLE } from '../quant/codecs/fp8.ts';

export type CodeMapKind = 'dynamic' | 'e4m3';

/** The maps of one optimizer: m's (signed) and v's (non-negative, without 0). Float32Array [256], ascending. */
export interface MomentMaps {
  m: Float32Array;
  v: Float32Array;
}

const cache = new Map<string, MomentMaps>();

export function momentMaps(kind: CodeMapKind): MomentMaps {
  let maps = cache.get(kind);
  if (!maps) {
    maps = kind === 'dynamic' ? { m: dynamicMap(true), v: withoutZero(dynamicMap(false)) } : { m: e4m3Map(true), v: withoutZero(e4m3Map(false)) };
    Object.freeze(maps);
    cache.set(kind, maps);
  }
  return maps;
}

/** The dynamic tree map: 256 ascending values in [−1, 1] (signed) or [0, 1]; see the header. */
export function dynamicMap(signed: boolean): Float32Array {
  const vals: number[] = [0, 1];
  for (let k = 0; k <= 6; k++) {
    const scale = Math.pow(10, k - 6);
    const n = signed ? 2 ** k : 2 ** (k + 1);
    for (let j = 0; j < n; j++) {
      const frac = 0.1 + (0.9 * (j + 0.5)) / n;
      vals.push(scale * frac);
      if (signed) vals.push(-scale * frac);
    }
  }
  return toMap(vals);
}

/** E4M3FN's finite values / 448 (signed), or its non-negative ones (unsigned). */
export function e4m3Map(signed: boolean): Float32Array {
  const vals: number[] = [];
  for (const x of E4M3_TABLE) if (Number.isFinite(x) && (signed || x >= 0)) vals.push(x / 448);
  return toMap(vals);
}

function withoutZero(map: Float32Array): Float32Array {
  return toMap(Array.from(map).filter((x) => x !== 0));
}

/** Distinct values, ascending, rounded to f32, padded to 256 with 1. */
function toMap(vals: number[]): Float32Array {
  const uniq = [...new Set(vals.map((x) => Math.fround(x) + 0))].sort((a, b) => a - b); // + 0: −0 → 0
  if (uniq.length > 256) throw new Error(`code map has ${uniq.length} values, more than 256`);
  const out = new Float32Array(256).fill(1);
  out.set(uniq);
  return out;
}

/**
 * The 255 decision points between neighbouring codes, in double: thresholds[j] = (map[j] + map[j+1]) / 2
 * (exact: two f32 values add exactly in double). The nearest code of x is the number of thresholds < x,
 * so a tie goes to the lower code. The native kernel computes the same values from the same map.
 */
export function codeThresholds(map: Float32Array): Float64Array {
  const t = new Float64Array(255);
  for (let j = 0; j < 255; j++) t[j] = (map[j]! + map[j + 1]!) / 2;
  return t;
}

/** The nearest code of x (a normalized value, x/absmax): binary search over the thresholds, 8 probes. */
export function nearestCode(thresholds: Float64Array, x: number): number {
  let idx = 0;
  for (let s = 128; s >= 1; s >>= 1) if (thresholds[idx + s - 1]! < x) idx += s;
  return idx;
}
