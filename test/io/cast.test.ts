import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { bf16BitsToF32, castTensor, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/io/cast.ts';

const isNaNBits16 = (h: number, expBits: number, manMask: number) => (h & expBits) === expBits && (h & manMask) !== 0;

describe('bf16 / f16 codecs', () => {
  it('bf16 → f32 → bf16 is the identity on every non-NaN bit pattern', () => {
    for (let h = 0; h < 65536; h++) {
      if (isNaNBits16(h, 0x7f80, 0x7f)) continue;
      assert.equal(f32ToBf16Bits(bf16BitsToF32(h)), h, `0x${h.toString(16)}`);
    }
  });

  it('f16 → f32 → f16 is the identity on every non-NaN bit pattern (subnormals included)', () => {
    for (let h = 0; h < 65536; h++) {
      if (isNaNBits16(h, 0x7c00, 0x3ff)) continue;
      assert.equal(f32ToF16Bits(f16BitsToF32(h)), h, `0x${h.toString(16)}`);
    }
  });

  it('rounds to nearest even, overflows to Inf, keeps NaN', () => {
    assert.equal(f32ToBf16Bits(1), 0x3f80);
    assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even
    assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
    assert.equal(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81); // above the tie
    assert.equal(f32ToBf16Bits(3.4e38), 0x7f80); // rounds past the largest bf16
    assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
    assert.equal(f32ToF16Bits(1), 0x3c00);
    assert.equal(f32ToF16Bits(65504), 0x7bff);
    assert.equal(f32ToF16Bits(65520), 0x7c00); // tie at the top rounds to Inf
    assert.equal(f32ToF16Bits(-Infinity), 0xfc00);
    assert.equal(f32ToF16Bits(2 ** -24), 0x0001);
    assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // tie → even (0)
    assert.equal(f32ToF16Bits(3 * 2 ** -26), 0x0001);
    assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002); // 1.5 ulp → even (2)
    assert.equal(f32ToF16Bits(-0), 0x8000);
    assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even
    assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
  });

  it('castTensor converts between float storages and refuses the rest', () => {
    const t = new Tensor([3], 'f32', new Float32Array([1, -2.5, 1 + 2 ** -8]));
    const b = castTensor(t, 'bf16');
    assert.deepEqual([...b.data], [0x3f80, 0xc020, 0x3f80]);
    assert.deepEqual([...castTensor(b, 'f32').data], [1, -2.5, 1]);
    assert.deepEqual([...castTensor(castTensor(t, 'f16'), 'f64').data], [1, -2.5, 1 + 2 ** -8]); // exact in f16
    assert.equal(castTensor(t, 'f32'), t);
    assert.throws(
      () => castTensor(Tensor.zeros([2], 'i8'), 'f32', 'w'),
      (e: HaloError) => e.code === 'E_DTYPE' && /w: cannot convert i8/.test(e.message),
    );
  });

  it('the bf16 → f32 shift path gives the per-element decode for all 65536 codes, bit for bit (NaNs: their own bits)', () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    const fast = castTensor(new Tensor([65536], 'bf16', bits), 'f32').data;
    const slow = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) slow[i] = bf16BitsToF32(i);
    const f = new Uint32Array(fast.buffer);
    const sl = new Uint32Array(slow.buffer);
    let nans = 0;
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(slow[i])) {
        // A JS number does not keep a NaN's payload; the shift keeps the code's own bits.
        assert.ok(Number.isNaN(fast[i]) && f[i] === (i << 16) >>> 0, `code 0x${i.toString(16)}`);
        nans++;
      } else if (f[i] !== sl[i]) assert.fail(`code 0x${i.toString(16)}: ${f[i]} vs ${sl[i]}`);
    }
    assert.equal(nans, 2 * 127, 'every bf16 NaN code (exponent all ones, mantissa ≠ 0), both signs');
  });
});
