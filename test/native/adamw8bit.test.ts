// The native block-quantized AdamW kernel (native/src/nn_adamw8bit.cc) against the TypeScript oracle
// (src/optim/adamw8bit.ts adamwBlockUpdate): bit-identical weights, codes and scales over several steps, on
// odd sizes and block sizes, on every kernel tier, for both code maps, serial and threaded (n ≥ 32768);
// with NaN gradients too; and its argument checks.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { nnKernels, referenceNnKernels } from '../../src/backend/nn-kernels.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { adamwBlockUpdate, emptyQuantizedMoments } from '../../src/optim/adamw8bit.ts';
import { momentMaps } from '../../src/optim/code-maps.ts';
import { assertBitsEqual, nativeTest, rawAddon, tiers, withTier } from './native-test.ts';

const nat = () => nnKernels(nativeBackend);

describe('adamw8bit native kernel', () => {
  nativeTest('the addon has the kernel and nnKernels uses it', () => {
    assert.equal(typeof (rawAddon() as unknown as Record<string, unknown>).adamw8bitUpdate, 'function');
    assert.notEqual(nat().adamwBlockUpdate, referenceNnKernels.adamwBlockUpdate);
  });

  for (const kind of ['dynamic', 'e4m3'] as const) {
    nativeTest(`${kind} maps: bit-identical to the oracle over 4 steps, every tier, odd sizes, serial and threaded`, () => {
      const maps = momentMaps(kind);
      for (const tier of tiers()) {
        const rng = new Rng(100 + tier);
        for (const [n, block] of [
          [1, 2048],
          [7, 3],
          [13, 16],
          [4099, 2048],
          [5000, 37],
          [40001, 2048],
          [70000, 128],
          [3000, 1],
        ] as const) {
          const p = rng.fillNormal(new Float32Array(n), 0.05);
          const pRef = Float32Array.from(p);
          const q = emptyQuantizedMoments(n, block);
          const qRef = emptyQuantizedMoments(n, block);
          // Gradients whose scale varies along the tensor, so blocks differ in range.
          const scale = Float32Array.from({ length: n }, (_, i) => 10 ** ((-3 * ((i * 7919) % 1000)) / 1000));
          for (let t = 1; t <= 4; t++) {
            const g = rng.fillNormal(new Float32Array(n));
            for (let i = 0; i < n; i++) g[i] *= scale[i]!;
            if (t === 3) g[0] = 0; // a stopped gradient
            const h = { lr: 3e-3, beta1: 0.9, beta2: t % 2 ? 0.95 : 0.999, eps: 1e-8, weightDecay: t === 2 ? 0 : 0.1 };
            withTier(tier, () => nat().adamwBlockUpdate(p, g, q, block, t, h, maps));
            adamwBlockUpdate(pRef, g, qRef, block, t, h, maps);
            const what = `tier ${tier}, n ${n}, block ${block}, step ${t}`;
            assertBitsEqual(p, pRef, `${what}: weights`);
            assertBitsEqual(q.m, qRef.m, `${what}: m codes`);
            assertBitsEqual(q.v, qRef.v, `${what}: v codes`);
            assertBitsEqual(q.mScale, qRef.mScale, `${what}: m scales`);
            assertBitsEqual(q.vScale, qRef.vScale, `${what}: v scales`);
          }
        }
      }
    });
  }

  nativeTest('NaN and infinite gradients: the same weights, codes and scales as the oracle on every tier', () => {
    const maps = momentMaps('dynamic');
    for (const tier of tiers()) {
      const n = 300;
      const rng = new Rng(7);
      const p = rng.fillNormal(new Float32Array(n));
      const pRef = Float32Array.from(p);
      const q = emptyQuantizedMoments(n, 64);
      const qRef = emptyQuantizedMoments(n, 64);
      const g = rng.fillNormal(new Float32Array(n));
      g[5] = NaN;
      g[70] = Infinity;
      for (let i = 128; i < 192; i++) g[i] = NaN; // a whole block
      const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
      withTier(tier, () => nat().adamwBlockUpdate(p, g, q, 64, 1, h, maps));
      adamwBlockUpdate(pRef, g, qRef, 64, 1, h, maps);
      assertBitsEqual(p, pRef, `tier ${tier}: weights`);
      assertBitsEqual(q.m, qRef.m, `tier ${tier}: m codes`);
      assertBitsEqual(q.vScale, qRef.vScale, `tier ${tier}: v scales`);
    }
  });

  nativeTest('refuses codes or scales of the wrong length (E_SHAPE), before the addon runs', () => {
    const maps = momentMaps('dynamic');
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
    const shape = (e: unknown) => e instanceof HaloError && e.code === 'E_SHAPE';
    assert.throws(() => nat().adamwBlockUpdate(new Float32Array(10), new Float32Array(10), emptyQuantizedMoments(10, 2), 4, 1, h, maps), shape);
    assert.throws(() => nat().adamwBlockUpdate(new Float32Array(10), new Float32Array(11), emptyQuantizedMoments(10, 4), 4, 1, h, maps), shape);
  });
});
