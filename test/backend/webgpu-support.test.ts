// support.ts decides, without a GPU, which backend.ts calls the WebGPU kernels take; the worker bridge routes the
// rest to the reference backend on its word, so a wrong `null` here would send a call the GPU path cannot run.
// (The kernels themselves are checked in a browser: test/browser/browser.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/core/tensor.ts';
import { dequantizeUnsupported, matmulUnsupported, rotateQuantizeUnsupported, S8_MAX_K } from '../../src/backend/webgpu/support.ts';

const t = (dtype: Tensor['dtype'], r: number, c: number) => ({ dtype, shape: [r, c] });

test('matmul: f32, i8 and the float-code formats run; f64 does not', () => {
  for (const d of ['f32', 'i8', 'bf16', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'] as const) assert.equal(matmulUnsupported(t(d, 3, 4), t(d, 4, 5)), null, d);
  assert.match(matmulUnsupported(t('f64', 3, 4), t('f64', 4, 5)) ?? '', /f64/);
});

test('i8 matmul: K past the exact-i32 limit and a non-finite α are refused, in either A layout', () => {
  assert.equal(S8_MAX_K, 131071); // (2^31 − 1) / 128²
  assert.equal(matmulUnsupported(t('i8', 2, S8_MAX_K), t('i8', S8_MAX_K, 2)), null);
  assert.match(matmulUnsupported(t('i8', 2, S8_MAX_K + 1), t('i8', S8_MAX_K + 1, 2)) ?? '', /overflow/);
  assert.match(matmulUnsupported(t('i8', S8_MAX_K + 1, 2), t('i8', S8_MAX_K + 1, 2), { aT: true }) ?? '', /overflow/);
  assert.equal(matmulUnsupported(t('i8', S8_MAX_K + 1, 2), t('i8', S8_MAX_K + 1, 2)), null); // K = 2 here
  assert.match(matmulUnsupported(t('i8', 2, 3), t('i8', 3, 2), { alpha: NaN }) ?? '', /not finite/);
  assert.match(matmulUnsupported(t('i8', 2, 3), t('i8', 3, 2), { alpha: Infinity }) ?? '', /not finite/);
});

test('rotateQuantize and dequantize: every format and granularity on f32; f64 refused', () => {
  for (const f of ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2', 'bf16'] as const) {
    for (const g of ['tensor', 'row', 'block32', 'tile32'] as const) {
      assert.equal(rotateQuantizeUnsupported(t('f32', 2, 2), null, f, g), null);
      assert.equal(dequantizeUnsupported(f, g, 'f32'), null);
    }
  }
  assert.match(rotateQuantizeUnsupported(t('f64', 2, 2), null, 'int8', 'tensor') ?? '', /f64/);
  assert.match(dequantizeUnsupported('int8', 'tensor', 'f64') ?? '', /f64/);
});
