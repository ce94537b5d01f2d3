// HQ-FSDP's rank-local quantization, simulated for 3 ranks without MPI: each rank rotates its rows, the ranks'
// absmax are max-reduced, each rank encodes with the one scale — and the concatenated codes and the scale are
// bit-identical to quantizing the whole rotated weight at once (the backend's fused rotateQuantize), for every
// level that gathers 8-bit weights, int8 and fp8, on both backends. Plus the guards.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, FloatTensor } from '../../src/backend/backend.ts';
import { nativeAvailable, nativeBackend } from '../../src/backend/native/index.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { haloConfig, type Format, type Level } from '../../src/halo/config.ts';
import { prepareWeight } from '../../src/halo/linear.ts';
import { absmaxOrInf, encodeWithScale, globalScale, hqFormat, preparedFromCodes, rotateRows, weightPlan } from '../../src/dist/hq-quant.ts';
import { ownedRows, shardSpec, sliceShard } from '../../src/dist/shard.ts';

const backends: [string, Backend][] = [['reference', referenceBackend]];
if (nativeAvailable().ok) backends.push(['native', nativeBackend]);

describe('sharded rotate + global scale + encode == whole-weight quantization', () => {
  for (const [bname, be] of backends) {
    for (const [level, format] of [
      ['halo2', 'int8'],
      ['halo1', 'fp8'],
      ['halo0', 'int8'],
    ] as [Level, Format][]) {
      test(`${bname} ${level} ${format}, 7×48 over 3 ranks (padded)`, () => {
        const cfg = haloConfig({ level, format });
        const qf = hqFormat(cfg);
        const [rows, cols, size] = [7, 48, 3];
        const w = new Rng(9).fillNormal(new Float32Array(rows * cols));
        w[5] = 40; // one outlier, on rank 0's rows
        const spec = shardSpec('w', [rows, cols], size);
        const plan = weightPlan(cfg, cols);
        const rotated = [0, 1, 2].map((r) => rotateRows(be, plan, sliceShard(w, spec, r), spec.rowsPerRank, cols));
        const scale = globalScale(qf, Math.max(...rotated.map(absmaxOrInf)), 'w');
        const codes = new Uint8Array(rows * cols);
        rotated.forEach((x, r) => {
          const mine = new Uint8Array(spec.shardLen);
          encodeWithScale(qf, x, scale, mine);
          codes.set(mine.subarray(0, ownedRows(spec, r) * cols), r * spec.rowsPerRank * cols);
        });
        const whole = prepareWeight(be, cfg, new Tensor([rows, cols], 'f32', w) as FloatTensor).w;
        assert.equal(whole.kind, 'quant');
        if (whole.kind !== 'quant') return;
        assert.equal(scale, whole.q.scales[0]);
        const want = new Uint8Array(whole.q.q.data.buffer, whole.q.q.data.byteOffset, rows * cols);
        assert.deepEqual(codes, want);
        const pw = preparedFromCodes(be, cfg, qf, codes, rows, cols, scale);
        assert.equal(pw.w.kind === 'quant' && pw.w.q.q.dtype, whole.q.q.dtype);
        assert.equal(pw.plan?.n ?? null, plan?.n ?? null);
      });
    }
  }
});

describe('guards', () => {
  test('a NaN anywhere makes the reduced absmax infinite, and the scale an E_NUMERIC on every rank', () => {
    assert.equal(absmaxOrInf(Float32Array.of(1, -3, 2)), 3);
    assert.equal(absmaxOrInf(Float32Array.of(1, NaN, 2)), Infinity);
    assert.throws(
      () => globalScale('int8', Infinity, 'model.layers.0.mlp.up_proj.weight'),
      (e: unknown) => e instanceof HaloError && e.code === 'E_NUMERIC' && /up_proj/.test(e.message),
    );
  });
  test('--hq-fsdp needs an 8-bit-or-smaller format, a quantized level and per-tensor scales', () => {
    const bad = (p: Parameters<typeof haloConfig>[0]) =>
      assert.throws(
        () => hqFormat(haloConfig(p)),
        (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
      );
    bad({ level: 'none', format: 'fp32' });
    bad({ level: 'halo2', format: 'bf16' });
    bad({ level: 'halo2', format: 'int8', granularity: 'row' });
    bad({ level: 'ideal', format: 'int8' });
    assert.equal(hqFormat(haloConfig({ level: 'halo1', format: 'fp6' })), 'fp6e3m2');
  });
});
