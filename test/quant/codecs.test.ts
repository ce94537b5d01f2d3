// The dtype codecs (bf16, f16, FP8 E4M3FN/E5M2, FP6 E3M2, INT8) against derivations that share no code with
// them: decode from the written-out bit formulas and the spec's codebook, encode by brute-force nearest
// search over the decoded values, bf16 by truncating an f32/f64 bit pattern. Exhaustive over every code.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import {
  BF16,
  E3M2,
  E4M3,
  E5M2,
  F16,
  decodeBf16,
  decodeBf16Array,
  decodeE3M2,
  decodeE4M3,
  decodeE5M2,
  decodeF16,
  decodeF16Array,
  decodeTable,
  encodeBf16,
  encodeBf16Array,
  encodeE3M2,
  encodeE4M3,
  encodeE5M2,
  encodeF16,
  encodeF16Array,
  encodeInt8,
  type Minifloat,
  type TableDType,
} from '../../src/quant/index.ts';
import { encodeMinifloat } from '../../src/quant/codecs/minifloat.ts';

interface Codec {
  spec: Minifloat;
  encode(x: number): number;
  decode(c: number): number;
  /** Independent decode: the format's bit formula written out by hand. */
  formula(c: number): number;
}

const CODECS: Codec[] = [
  {
    spec: E4M3,
    encode: encodeE4M3,
    decode: decodeE4M3,
    formula: (c) => {
      const s = c & 0x80 ? -1 : 1,
        e = (c >> 3) & 15,
        m = c & 7;
      if (e === 15 && m === 7) return NaN;
      return e === 0 ? s * (m / 8) * 2 ** -6 : s * (1 + m / 8) * 2 ** (e - 7);
    },
  },
  {
    spec: E5M2,
    encode: encodeE5M2,
    decode: decodeE5M2,
    formula: (c) => {
      const s = c & 0x80 ? -1 : 1,
        e = (c >> 2) & 31,
        m = c & 3;
      if (e === 31) return m === 0 ? s * Infinity : NaN;
      return e === 0 ? s * (m / 4) * 2 ** -14 : s * (1 + m / 4) * 2 ** (e - 15);
    },
  },
  {
    spec: E3M2,
    encode: encodeE3M2,
    decode: decodeE3M2,
    formula: (c) => {
      // HALO's fp6_e3m2fn codebook (spec §3), listed by code: 0, 1/16, 1/8, 3/16, then 4 values per binade.
      const pos = [0, 1 / 16, 1 / 8, 3 / 16];
      for (let e = -2; e <= 4; e++) for (let m = 0; m < 4; m++) pos.push((1 + m / 4) * 2 ** e);
      return (c & 0x20 ? -1 : 1) * pos[c & 0x1f]!;
    },
  },
  {
    spec: BF16,
    encode: encodeBf16,
    decode: decodeBf16,
    formula: (c) => {
      const u = new Uint32Array([c << 16]);
      return new Float32Array(u.buffer)[0]!;
    },
  },
  {
    spec: F16,
    encode: encodeF16,
    decode: decodeF16,
    formula: (c) => {
      const s = c & 0x8000 ? -1 : 1,
        e = (c >> 10) & 31,
        m = c & 1023;
      if (e === 31) return m === 0 ? s * Infinity : NaN;
      return e === 0 ? s * (m / 1024) * 2 ** -14 : s * (1 + m / 1024) * 2 ** (e - 15);
    },
  },
];

const saturates = (c: Codec) => c.spec.overflow === 'saturate';
const allCodes = (c: Codec) => Array.from({ length: 2 ** c.spec.bits }, (_, i) => i);

describe('codec decode', () => {
  for (const c of CODECS) {
    test(`${c.spec.name}: every code decodes as its bit formula says`, () => {
      for (const code of allCodes(c)) {
        const want = c.formula(code);
        const got = c.decode(code);
        assert.ok(Object.is(got, want), `code 0x${code.toString(16)}: got ${got}, want ${want}`);
      }
    });
    test(`${c.spec.name}: positive codes 0..max increase, the decode table agrees`, () => {
      for (let code = 0; code < c.spec.maxCode; code++) assert.ok(c.decode(code + 1) > c.decode(code), `0x${code.toString(16)}`);
      assert.equal(c.decode(c.spec.maxCode), c.spec.max);
      assert.equal(c.decode(1), c.spec.minSubnormal);
      const table = decodeTable(c.spec.name as TableDType);
      assert.equal(table.length, 2 ** c.spec.bits);
      for (const code of allCodes(c)) assert.ok(Object.is(table[code], Math.fround(c.decode(code))));
    });
  }
  test('format constants', () => {
    assert.deepEqual([E4M3.max, E4M3.minSubnormal, E4M3.maxCode], [448, 2 ** -9, 0x7e]);
    assert.deepEqual([E5M2.max, E5M2.minSubnormal, E5M2.maxCode], [57344, 2 ** -16, 0x7b]);
    assert.deepEqual([E3M2.max, E3M2.minSubnormal, E3M2.maxCode, E3M2.bits], [28, 1 / 16, 0x1f, 6]);
    assert.deepEqual([F16.max, F16.minSubnormal], [65504, 2 ** -24]);
    assert.equal(BF16.max, 3.3895313892515355e38);
  });
});

describe('codec encode', () => {
  for (const c of CODECS) {
    test(`${c.spec.name}: every non-NaN code round-trips (decode → encode), both zeros and subnormals included`, () => {
      for (const code of allCodes(c)) {
        const v = c.decode(code);
        if (Number.isNaN(v)) continue;
        assert.equal(c.encode(v), code, `code 0x${code.toString(16)} (${v})`);
      }
      assert.equal(c.encode(-0), c.spec.signBit);
      assert.equal(c.encode(0), 0);
    });

    test(`${c.spec.name}: midpoints tie to the even code, just off them to the nearer value`, () => {
      for (let code = 0; code < c.spec.maxCode; code++) {
        for (const sign of [0, c.spec.signBit]) {
          const lo = c.decode(sign | code),
            hi = c.decode(sign | (code + 1));
          const mid = (lo + hi) / 2,
            eps = (hi - lo) / 1024;
          const even = code % 2 === 0 ? code : code + 1;
          assert.equal(c.encode(mid), sign | even, `midpoint ${mid} of 0x${code.toString(16)}/0x${(code + 1).toString(16)}`);
          assert.equal(c.encode(mid - eps), sign | code, `below midpoint ${mid}`);
          assert.equal(c.encode(mid + eps), sign | (code + 1), `above midpoint ${mid}`);
        }
      }
    });

    test(`${c.spec.name}: beyond max ${saturates(c) ? 'saturates to ±max' : 'rounds to ±inf like an IEEE cast'}`, () => {
      const { max, maxCode, signBit } = c.spec;
      const gap = max - c.decode(maxCode - 1);
      const past = saturates(c) ? maxCode : c.spec.infCode;
      for (const s of [1, -1]) {
        const sb = s < 0 ? signBit : 0;
        assert.equal(c.encode(s * (max + gap / 2 - gap / 1024)), sb | maxCode); // still rounds down to max
        assert.equal(c.encode(s * (max + gap / 2)), sb | past); // a tie with the next power of two
        assert.equal(c.encode(s * max * 4), sb | past);
        assert.equal(c.encode(s * 1e300), sb | past);
        // ±inf: kept where the format has inf, else ±max.
        assert.equal(c.encode(s * Infinity), sb | (c.spec.infCode >= 0 ? c.spec.infCode : maxCode));
      }
    });

    test(`${c.spec.name}: random values encode to the nearest representable value (brute force, ties to even)`, () => {
      const rng = new Rng(7 + c.spec.bits);
      const lo = Math.log2(c.spec.minSubnormal / 4),
        hi = Math.log2(c.spec.max * 4);
      for (let n = 0; n < 20000; n++) {
        // log-uniform magnitudes from below the smallest subnormal to beyond max, either sign
        const x = (rng.next() < 0.5 ? -1 : 1) * 2 ** (lo + rng.next() * (hi - lo));
        assert.equal(c.encode(x), nearest(c, x), `x = ${x}`);
      }
    });
  }

  test('NaN: a NaN code where the format has one, E_NUMERIC where it has none', () => {
    assert.equal(encodeE4M3(NaN), 0x7f);
    assert.ok(Number.isNaN(decodeE4M3(0x7f)) && Number.isNaN(decodeE4M3(0xff)));
    assert.equal(encodeE5M2(NaN), 0x7e);
    for (const code of [0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff]) assert.ok(Number.isNaN(decodeE5M2(code)));
    assert.equal(decodeE5M2(0x7c), Infinity);
    assert.equal(decodeE5M2(0xfc), -Infinity);
    assert.ok(Number.isNaN(decodeBf16(encodeBf16(NaN))));
    assert.ok(Number.isNaN(decodeF16(encodeF16(NaN))));
    assert.equal(encodeF16(NaN), 0x7e00);
    const numeric = (e: unknown) => e instanceof HaloError && e.code === 'E_NUMERIC';
    assert.throws(() => encodeE3M2(NaN), numeric);
    assert.throws(() => encodeInt8(NaN), numeric);
  });

  test('known constants', () => {
    // E4M3FN
    assert.equal(encodeE4M3(448), 0x7e);
    assert.equal(encodeE4M3(-448), 0xfe);
    assert.equal(encodeE4M3(0.001953125), 0x01); // 2^-9, smallest subnormal
    assert.equal(encodeE4M3(2 ** -6), 0x08); // smallest normal
    assert.equal(encodeE4M3(1), 0x38);
    assert.equal(encodeE4M3(240), 0x77);
    assert.equal(encodeE4M3(2 ** -10), 0x00); // tie between 0 and 2^-9 → 0 (even)
    assert.equal(encodeE4M3(-(2 ** -10)), 0x80); // → -0
    assert.equal(encodeE4M3(3 * 2 ** -10), 0x02); // tie between 2^-9 and 2^-8 → 2^-8 (even)
    assert.equal(encodeE4M3(500), 0x7e); // saturates (torch's cast would give NaN)
    // E5M2
    assert.equal(encodeE5M2(57344), 0x7b);
    assert.equal(encodeE5M2(1), 0x3c);
    assert.equal(encodeE5M2(2 ** -16), 0x01);
    assert.equal(encodeE5M2(2 ** -14), 0x04);
    assert.equal(encodeE5M2(1e6), 0x7b);
    // FP6 E3M2
    assert.equal(encodeE3M2(28), 0x1f);
    assert.equal(encodeE3M2(-28), 0x3f);
    assert.equal(encodeE3M2(1 / 16), 0x01);
    assert.equal(encodeE3M2(1), 0x0c);
    assert.equal(encodeE3M2(26), 0x1e); // tie between 24 (0x1e) and 28 (0x1f) → 24
    assert.equal(encodeE3M2(30), 0x1f);
    // bf16 / f16
    assert.equal(encodeBf16(1), 0x3f80);
    assert.equal(encodeBf16(-2), 0xc000);
    assert.equal(encodeBf16(Infinity), 0x7f80);
    assert.equal(encodeF16(1), 0x3c00);
    assert.equal(encodeF16(65504), 0x7bff);
    assert.equal(encodeF16(65519.99), 0x7bff);
    assert.equal(encodeF16(65520), 0x7c00);
    assert.equal(encodeF16(2 ** -24), 0x0001);
    assert.equal(encodeF16(2 ** -25), 0x0000);
  });
});

/**
 * The code of the finite value nearest x (ties: even code), saturating; IEEE casts overflow to inf. A binary
 * search over the positive codes, whose values increase (checked above) — no use of the encoder.
 */
function nearest(c: Codec, x: number): number {
  const { max, maxCode, signBit, infCode } = c.spec;
  const sign = x < 0 ? signBit : 0;
  const a = Math.abs(x);
  if (a > max) {
    if (saturates(c)) return sign | maxCode;
    // an IEEE cast rounds as if the next power of two existed; that value is inf (max's code is odd, so a tie goes up)
    const next = 2 ** Math.ceil(Math.log2(max));
    return sign | (a < (max + next) / 2 ? maxCode : infCode);
  }
  let lo = 0,
    hi = maxCode; // decode(lo) <= a <= decode(hi)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (c.decode(mid) <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - c.decode(lo),
    dh = c.decode(hi) - a;
  return sign | (dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi);
}

describe('bf16 against an independent derivation', () => {
  /** bf16 bits of an f32 bit pattern: keep the top 16 bits, then round by comparing the dropped half. */
  function byTruncation(bits: number): number {
    const hi = bits >>> 16,
      lo = bits & 0xffff;
    const up = lo > 0x8000 || (lo === 0x8000 && (hi & 1) === 1);
    return (hi + (up ? 1 : 0)) & 0xffff;
  }

  test('every f32 bit pattern in a 2M sample (plus all 65536 bf16 codes with each low half) matches', () => {
    const rng = new Rng(11);
    const u = new Uint32Array(1),
      f = new Float32Array(u.buffer);
    const lows = [0, 1, 0x7fff, 0x8000, 0x8001, 0xffff];
    const check = (bits: number) => {
      u[0] = bits;
      const want = byTruncation(bits);
      const got = encodeBf16(f[0]!);
      if (Number.isNaN(f[0]!)) {
        assert.ok(Number.isNaN(decodeBf16(got)));
      } else {
        assert.equal(got, want, `f32 bits 0x${bits.toString(16)}`);
        assert.equal(encodeMinifloat(BF16, f[0]!), want, `general rounding, f32 bits 0x${bits.toString(16)}`);
      }
    };
    for (let hi = 0; hi < 0x10000; hi++) for (const lo of lows) check(((hi << 16) | lo) >>> 0);
    for (let n = 0; n < 2_000_000; n++) check((rng.next() * 2 ** 32) >>> 0);
  });

  test('f64 inputs are rounded once (no detour through f32)', () => {
    // 1 + 2^-8 + 2^-30: above the midpoint of 1 and 1 + 2^-7, so it rounds up; rounding to f32 first would
    // drop 2^-30 and leave an exact tie, which goes down to 1.
    assert.equal(encodeBf16(1 + 2 ** -8 + 2 ** -30), 0x3f81);
    assert.equal(encodeBf16(1 + 2 ** -8), 0x3f80);
    const rng = new Rng(12);
    const d = new Float64Array(1),
      w = new Uint32Array(d.buffer);
    const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
    for (let n = 0; n < 200_000; n++) {
      const x = (rng.next() - 0.5) * 2 ** (rng.int(200) - 100);
      // truncate the f64 to 8 significant bits (clear the low 45 mantissa bits), then pick the nearer neighbour
      d[0] = x;
      w[1 - HI] = 0;
      w[HI] = w[HI]! & ~0x1fff;
      const t = d[0]!;
      const next = t + Math.sign(x) * 2 ** (Math.floor(Math.log2(Math.abs(t))) - 7);
      const tb = encodeBf16(t),
        nb = encodeBf16(next);
      const dt = Math.abs(x - t),
        dn = Math.abs(next - x);
      const want = dt < dn ? tb : dn < dt ? nb : tb % 2 === 0 ? tb : nb;
      assert.equal(encodeBf16(x), want, `x = ${x}`);
    }
  });

  test('array versions agree with the scalars (f32 and f64 sources, f32 and f64 destinations)', () => {
    const codes = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f32 = decodeBf16Array(codes);
    const f64 = decodeBf16Array(codes, new Float64Array(65536));
    for (let i = 0; i < 65536; i++) {
      assert.ok(Object.is(f32[i], decodeBf16(i)) || Number.isNaN(f32[i]!));
      assert.ok(Object.is(f64[i], f32[i]) || Number.isNaN(f64[i]!));
    }
    const back32 = encodeBf16Array(f32),
      back64 = encodeBf16Array(f64);
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(f32[i]!)) continue;
      assert.equal(back32[i], i);
      assert.equal(back64[i], i);
    }
    const rng = new Rng(13);
    const x = rng.fillNormal(new Float64Array(10000), 100);
    const fromF64 = encodeBf16Array(x);
    for (let i = 0; i < x.length; i++) assert.equal(fromF64[i], encodeBf16(x[i]!));
  });

  test('f16 arrays round-trip every non-NaN code', () => {
    const codes = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const vals = decodeF16Array(codes, new Float64Array(65536));
    const back = encodeF16Array(vals);
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(vals[i]!)) continue;
      assert.equal(back[i], i, `f16 code 0x${i.toString(16)}`);
    }
  });
});

describe('int8', () => {
  test('round half to even, clamp to [-127, 127], never -128 or -0', () => {
    for (let k = -130; k <= 130; k++) {
      const even = k % 2 === 0 ? k : k + 1;
      const clamp = (v: number) => Math.max(-127, Math.min(127, v));
      assert.equal(encodeInt8(k + 0.5), clamp(even), `${k + 0.5}`);
      assert.equal(encodeInt8(k + 0.5 - 2 ** -20), clamp(k));
      assert.equal(encodeInt8(k + 0.5 + 2 ** -20), clamp(k + 1));
      assert.equal(encodeInt8(k), clamp(k));
    }
    assert.equal(encodeInt8(-128), -127);
    assert.equal(encodeInt8(-1e300), -127);
    assert.equal(encodeInt8(Infinity), 127);
    assert.equal(encodeInt8(-Infinity), -127);
    assert.ok(Object.is(encodeInt8(-0.3), 0));
    assert.ok(Object.is(encodeInt8(-0.5), 0));
    assert.ok(Object.is(encodeInt8(-0), 0));
  });
});
