// Taking a safetensors file apart and putting it back together with chosen lies: the header as a JSON tree,
// the declared header length (any u64, including 2^63), the data section. Used by the safetensors target and
// by the regression tests, so a reproducer can be written as "this header, this data, this length".
import { jsonText } from '../hostile.ts';

export interface StParts {
  header: Record<string, unknown>;
  data: Uint8Array;
}

/** Splits a valid file (the seeds are valid: lengths are trusted here). */
export function splitSafetensors(bytes: Uint8Array): StParts {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  return { header, data: bytes.subarray(8 + n) };
}

/** u64 length + header text (+ space padding) + data. `declared` overrides the length written. */
export function assembleSafetensors(header: string | Uint8Array, data: Uint8Array, declared?: bigint, pad = 0): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + pad + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length + pad), true);
  out.set(h, 8);
  out.fill(0x20, 8 + h.length, 8 + h.length + pad);
  out.set(data, 8 + h.length + pad);
  return out;
}

export function assembleParts(p: StParts, declared?: bigint): Uint8Array {
  return assembleSafetensors(jsonText(p.header), p.data, declared);
}
