// How many codes of a quantized tensor sit at the format's largest magnitude (±qmax), or beyond it (a NaN or
// inf code). With absmax scaling the group maximum itself lands there, so a handful per group is normal;
// values clipped by clipRatio < 1, a unit scale (the 'ideal' level) or an outlier-heavy tensor push the count
// up. Counted from the codes, so it is the same for every backend and costs one pass over one byte per value.
import type { Quantized } from './quantize.ts';
import { formatTraits, type QuantFormat } from './formats.ts';

const tables = new Map<QuantFormat, Uint8Array>();

/** 1 for every code whose value is not strictly inside (−qmax, qmax); indexed by code (8/6-bit formats and bf16). */
function atMaxTable(format: Exclude<QuantFormat, 'int8'>): Uint8Array {
  let t = tables.get(format);
  if (!t) {
    const traits = formatTraits(format);
    const n = format === 'bf16' ? 1 << 16 : 1 << 8;
    t = new Uint8Array(n);
    for (let c = 0; c < n; c++) t[c] = Math.abs(traits.decode(c)) < traits.qmax ? 0 : 1;
    tables.set(format, t);
  }
  return t;
}

/** Codes of `q` at ±qmax of its format (bf16, a plain cast: codes that are ±inf or NaN). */
export function countAtMax(q: Quantized): number {
  const codes = q.q.data;
  let n = 0;
  if (q.format === 'int8') {
    const qmax = formatTraits('int8').qmax;
    for (let i = 0; i < codes.length; i++) if (codes[i]! >= qmax || codes[i]! <= -qmax) n++;
    return n;
  }
  const t = atMaxTable(q.format);
  for (let i = 0; i < codes.length; i++) n += t[codes[i]!]!;
  return n;
}
