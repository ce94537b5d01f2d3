// NormalStream (src/core/fast-normal.ts): its quantile table against known normal quantiles, the moments of
// what it draws, and the reproducibility `halo init` relies on (same seed and name → same values; names
// independent; bf16 = the f32 values rounded).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NormalStream, quantileEdges } from '../../src/core/fast-normal.ts';
import { encodeBf16 } from '../../src/quant/codecs/bf16.ts';

describe('NormalStream', () => {
  test('quantile edges are the standard normal quantiles Q(i / 2^16)', () => {
    const e = quantileEdges();
    // Python: statistics.NormalDist().inv_cdf(i / 65536)
    const known: [number, number][] = [
      [32768, 0],
      [49152, 0.6744897501960817],
      [57344, 1.1503493803760079],
      [65024, 2.417559016236505],
      [65280, 2.6600674686174592],
      [65535, 4.169569323349103],
    ];
    for (const [i, q] of known) {
      assert.ok(Math.abs(e[i]! - q) < 1e-9, `Q(${i}/65536) = ${e[i]}, expected ${q}`);
      assert.ok(e[65536 - i] === -e[i]!, `symmetry at ${i}`);
    }
    for (let i = 1; i <= 65536; i++) assert.ok(e[i]! > e[i - 1]!, `edges increase at ${i}`);
    // The end bin's uniform has the tail's conditional mean E[Z | Z > q] (≈ 4.39 for q = 4.17).
    assert.ok(e[65536]! > 4.5 && e[65536]! < 4.7, `end edge ${e[65536]}`);
  });

  test('samples have the moments of N(mean, std²)', () => {
    const n = 2_000_000;
    const a = new NormalStream(3, 'w').fillF32(new Float32Array(n), 0.5, 0.25);
    let s = 0,
      s2 = 0,
      s4 = 0,
      beyond2 = 0;
    for (const x of a) {
      const z = (x - 0.25) / 0.5;
      s += z;
      s2 += z * z;
      s4 += z ** 4;
      if (Math.abs(z) > 2) beyond2++;
    }
    const mean = s / n,
      variance = s2 / n - mean * mean;
    assert.ok(Math.abs(mean) < 4 / Math.sqrt(n), `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 4 * Math.sqrt(2 / n), `variance ${variance}`);
    assert.ok(Math.abs(s4 / n - 3) < 0.03, `kurtosis ${s4 / n}`);
    // P(|Z| > 2) = 0.0455
    assert.ok(Math.abs(beyond2 / n - 0.0455) < 0.001, `tail mass ${beyond2 / n}`);
  });

  test('the same seed and name repeat; another seed or name differs; chunking does not matter', () => {
    const a = new NormalStream(7, 'model.embed_tokens.weight').fillF32(new Float32Array(1000));
    const b = new NormalStream(7, 'model.embed_tokens.weight').fillF32(new Float32Array(1000));
    assert.deepEqual(a, b);
    const c = new NormalStream(8, 'model.embed_tokens.weight').fillF32(new Float32Array(1000));
    const d = new NormalStream(7, 'lm_head.weight').fillF32(new Float32Array(1000));
    assert.notDeepEqual(a, c);
    assert.notDeepEqual(a, d);
    const s = new NormalStream(7, 'model.embed_tokens.weight');
    const parts = new Float32Array(1000);
    s.fillF32(parts.subarray(0, 333));
    s.fillF32(parts.subarray(333));
    assert.deepEqual(parts, a);
  });

  test('fillBf16 gives the f32 values rounded to bf16 (round to nearest even)', () => {
    const n = 200_003; // past one internal chunk, odd
    const f = new NormalStream(11, 'x').fillF32(new Float32Array(n), 0.02);
    const h = new NormalStream(11, 'x').fillBf16(new Uint16Array(n), 0.02);
    for (let i = 0; i < n; i++) if (h[i] !== encodeBf16(f[i]!)) assert.fail(`element ${i}: ${h[i]} vs ${encodeBf16(f[i]!)} (${f[i]})`);
  });
});
