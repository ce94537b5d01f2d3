// Byte-level damage for binary files: flipped bits, overwritten bytes (0x00, 0xff, 0x7f, 0x80 and random),
// truncation, appended or inserted junk, a span copied elsewhere. `focus` biases positions towards a region
// (the 8-byte length and the JSON header of a safetensors file), where one byte changes the most.
import type { Rng } from '../../src/core/rng.ts';
import { chance, intIn, pick, randomBytes } from './pick.ts';

function position(rng: Rng, size: number, focus?: number): number {
  if (size === 0) return 0;
  return focus !== undefined && focus > 0 && chance(rng, 0.7) ? rng.int(Math.min(focus, size)) : rng.int(size);
}

export function damageBytes(rng: Rng, src: Uint8Array, focus?: number): { bytes: Uint8Array; note: string } {
  const b = new Uint8Array(src);
  switch (rng.int(7)) {
    case 0: {
      const n = intIn(rng, 1, 8);
      const at: number[] = [];
      for (let i = 0; i < n && b.length; i++) {
        const p = position(rng, b.length, focus);
        b[p]! ^= 1 << rng.int(8);
        at.push(p);
      }
      return { bytes: b, note: `flipped a bit at bytes ${at.join(', ')}` };
    }
    case 1: {
      const n = intIn(rng, 1, 4);
      const at: string[] = [];
      for (let i = 0; i < n && b.length; i++) {
        const p = position(rng, b.length, focus);
        b[p] = pick(rng, [0x00, 0xff, 0x7f, 0x80, 0x20, 0x22, 0x7b, 0x7d, rng.int(256)]);
        at.push(`${p}=0x${b[p]!.toString(16)}`);
      }
      return { bytes: b, note: `set bytes ${at.join(', ')}` };
    }
    case 2: {
      const len = position(rng, b.length + 1, focus);
      return { bytes: b.subarray(0, len), note: `truncated to ${len} of ${b.length} bytes` };
    }
    case 3: {
      const extra = randomBytes(rng, pick(rng, [1, 7, 8, 100, 4096]));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b);
      out.set(extra, b.length);
      return { bytes: out, note: `appended ${extra.length} random bytes` };
    }
    case 4: {
      const p = position(rng, b.length + 1, focus);
      const extra = randomBytes(rng, intIn(rng, 1, 16));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, p));
      out.set(extra, p);
      out.set(b.subarray(p), p + extra.length);
      return { bytes: out, note: `inserted ${extra.length} random bytes at ${p}` };
    }
    case 5: {
      const from = position(rng, b.length, focus);
      const to = position(rng, b.length, focus);
      const len = Math.min(intIn(rng, 1, 64), b.length - Math.max(from, to));
      if (len > 0) b.copyWithin(to, from, from + len);
      return { bytes: b, note: `copied ${Math.max(len, 0)} bytes from ${from} to ${to}` };
    }
    default: {
      const p = position(rng, b.length + 1, focus);
      const len = intIn(rng, 1, 32);
      const out = new Uint8Array(b.length - Math.min(len, b.length - p));
      out.set(b.subarray(0, p));
      out.set(b.subarray(p + len), p);
      return { bytes: out, note: `deleted ${len} bytes at ${p}` };
    }
  }
}
