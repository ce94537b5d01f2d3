// AdamW against a hand-worked two-step example and an independent naive loop; decoupled decay, state
// round-trip, gradient norm and clipping.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { AdamW, clipGradNorm, gradNorm, type AdamWState, type OptimParam } from '../../src/optim/adamw.ts';

function close(a: number, b: number, tol: number, what = ''): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

describe('AdamW', () => {
  test('two steps worked by hand (f64): lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01', () => {
    const a: OptimParam = { name: 'a', param: Float64Array.of(1), grad: Float64Array.of(0.5) };
    const b: OptimParam = { name: 'b', param: Float64Array.of(-2), grad: Float64Array.of(0) };
    const opt = new AdamW([a, b], { lr: 0.1, weightDecay: 0.01 });
    opt.step();
    // a: decay 1 → 0.999; m̂ = 0.5, v̂ = 0.25 → update 0.1·0.5/(0.5 + 1e-8).
    close(a.param[0]!, 0.999 - 0.05 / (0.5 + 1e-8), 1e-15, 'a step 1');
    close(a.param[0]!, 0.899000002, 1e-15, 'a step 1 (number)');
    // b: zero gradient, so m = v = 0 and only the decay acts.
    assert.equal(b.param[0], -2 * 0.999);
    a.grad[0] = -0.25;
    b.grad[0] = 3;
    opt.step();
    // a: m = 0.9·0.05 − 0.1·0.25 = 0.02; v = 0.999·2.5e-4 + 0.001·0.0625 = 3.1225e-4; 1−β1² = 0.19; 1−β2² = 0.001999.
    close(a.param[0]!, 0.899000002 * 0.999 - (0.1 * (0.02 / 0.19)) / (Math.sqrt(3.1225e-4 / 0.001999) + 1e-8), 1e-14, 'a step 2');
    close(a.param[0]!, 0.8714672987058463, 1e-14, 'a step 2 (number)');
    // b: m = 0.3, v = 0.009.
    close(b.param[0]!, -1.998 * 0.999 - (0.1 * (0.3 / 0.19)) / (Math.sqrt(0.009 / 0.001999) + 1e-8), 1e-14, 'b step 2');
    close(b.param[0]!, -2.0704156820059967, 1e-14, 'b step 2 (number)');
    assert.equal(opt.stepCount, 2);
    const st = opt.state();
    close(st.m.a![0]!, 0.02, 1e-15, 'm');
    close(st.v.a![0]!, 3.1225e-4, 1e-15, 'v');
  });

  test('matches a naive AdamW loop on random tensors over 6 steps, with per-tensor decay and a varying lr', () => {
    const rng = new Rng(11);
    const sizes = [1, 7, 33];
    const params: OptimParam[] = sizes.map((n, k) => ({
      name: `p${k}`,
      param: rng.fillNormal(new Float64Array(n)),
      grad: new Float64Array(n),
      weightDecay: k === 1 ? 0 : undefined,
    }));
    const naive = params.map((p) => ({ p: Float64Array.from(p.param), m: new Float64Array(p.param.length), v: new Float64Array(p.param.length) }));
    const [b1, b2, eps, wd] = [0.8, 0.99, 1e-6, 0.05];
    const opt = new AdamW(params, { lr: 1, betas: [b1, b2], eps, weightDecay: wd });
    for (let t = 1; t <= 6; t++) {
      const lr = 0.01 * t;
      for (let k = 0; k < params.length; k++) {
        rng.fillNormal(params[k]!.grad as Float32Array);
        const s = naive[k]!;
        const g = params[k]!.grad;
        const decay = k === 1 ? 0 : wd;
        for (let i = 0; i < s.p.length; i++) {
          const w0 = s.p[i]!;
          s.m[i] = b1 * s.m[i]! + (1 - b1) * g[i]!;
          s.v[i] = b2 * s.v[i]! + (1 - b2) * g[i]! ** 2;
          const mhat = s.m[i]! / (1 - b1 ** t);
          const vhat = s.v[i]! / (1 - b2 ** t);
          s.p[i] = w0 - lr * decay * w0 - (lr * mhat) / (Math.sqrt(vhat) + eps);
        }
      }
      opt.step(lr);
    }
    for (let k = 0; k < params.length; k++) {
      for (let i = 0; i < sizes[k]!; i++) close(params[k]!.param[i]!, naive[k]!.p[i]!, 1e-12, `p${k}[${i}]`);
    }
  });

  test('f32 parameters get f32 state and track the f64 run', () => {
    const rng = new Rng(5);
    const w = rng.fillNormal(new Float64Array(64));
    const g = rng.fillNormal(new Float64Array(64));
    const p64: OptimParam = { name: 'w', param: Float64Array.from(w), grad: Float64Array.from(g) };
    const p32: OptimParam = { name: 'w', param: Float32Array.from(w), grad: Float32Array.from(g) };
    const o64 = new AdamW([p64], { lr: 1e-2, weightDecay: 0.1 });
    const o32 = new AdamW([p32], { lr: 1e-2, weightDecay: 0.1 });
    for (let s = 0; s < 5; s++) {
      o64.step();
      o32.step();
    }
    assert.ok(o32.state().m.w instanceof Float32Array);
    for (let i = 0; i < 64; i++) close(p32.param[i]!, p64.param[i]!, 1e-6, `w[${i}]`);
  });

  test('weight decay is decoupled: it shrinks p by lr·λ·p and never passes through m, v', () => {
    const p: OptimParam = { name: 'w', param: Float64Array.of(3, -0.5), grad: Float64Array.of(0, 0) };
    const opt = new AdamW([p], { lr: 0.01, weightDecay: 0.1 });
    opt.step();
    assert.deepEqual(Array.from(p.param), [3 * (1 - 0.001), -0.5 * (1 - 0.001)]);
    assert.deepEqual(Array.from(opt.state().m.w!), [0, 0]);
    // Coupled (Adam + L2) would have fed λ·p into the moments and moved each weight by about lr = 0.01.
    // With a gradient, the decay term is the same as without one:
    const q: OptimParam = { name: 'w', param: Float64Array.of(3), grad: Float64Array.of(1) };
    const r: OptimParam = { name: 'w', param: Float64Array.of(3), grad: Float64Array.of(1) };
    new AdamW([q], { lr: 0.01, weightDecay: 0.1 }).step();
    new AdamW([r], { lr: 0.01, weightDecay: 0 }).step();
    close(r.param[0]! - q.param[0]!, 0.01 * 0.1 * 3, 1e-12, 'decay difference');
  });

  test('state round-trip: a restored optimizer continues identically', () => {
    const rng = new Rng(2);
    const mk = (): OptimParam[] => [
      { name: 'x', param: new Rng(1).fillNormal(new Float32Array(10)), grad: new Float32Array(10) },
      { name: 'y', param: new Rng(4).fillNormal(new Float32Array(3)), grad: new Float32Array(3) },
    ];
    const pa = mk();
    const a = new AdamW(pa, { lr: 1e-3 });
    const grads = Array.from({ length: 5 }, () => [rng.fillNormal(new Float32Array(10)), rng.fillNormal(new Float32Array(3))]);
    for (let s = 0; s < 3; s++) {
      pa.forEach((p, k) => p.grad.set(grads[s]![k]!));
      a.step();
    }
    const st = a.state();
    const saved: AdamWState = {
      step: st.step,
      m: Object.fromEntries(Object.entries(st.m).map(([k, v]) => [k, Float32Array.from(v)])),
      v: Object.fromEntries(Object.entries(st.v).map(([k, v]) => [k, Float32Array.from(v)])),
    };
    const pb = mk();
    pb.forEach((p, k) => p.param.set(pa[k]!.param));
    const b = new AdamW(pb, { lr: 1e-3 });
    b.loadState(saved);
    assert.equal(b.stepCount, 3);
    for (let s = 3; s < 5; s++) {
      for (const ps of [pa, pb]) ps.forEach((p, k) => p.grad.set(grads[s]![k]!));
      a.step();
      b.step();
    }
    pa.forEach((p, k) => assert.deepEqual(pb[k]!.param, p.param));

    const fmt = (e: unknown) => e instanceof HaloError && e.code === 'E_FORMAT';
    assert.throws(() => b.loadState({ ...saved, m: { x: saved.m.x! } }), fmt);
    assert.throws(() => b.loadState({ ...saved, m: { ...saved.m, z: new Float32Array(1) } }), fmt);
    assert.throws(() => b.loadState({ ...saved, v: { ...saved.v, y: new Float32Array(4) } }), fmt);
  });

  test('zeroGrad and argument checks', () => {
    const p: OptimParam = { name: 'w', param: new Float32Array(2), grad: Float32Array.of(1, 2) };
    const opt = new AdamW([p], { lr: 1 });
    opt.zeroGrad();
    assert.deepEqual(Array.from(p.grad), [0, 0]);
    const arg = (e: unknown) => e instanceof HaloError && e.code === 'E_ARG';
    assert.throws(() => new AdamW([p, p], { lr: 1 }), arg);
    assert.throws(() => new AdamW([p], { lr: 1, betas: [1, 0.9] }), arg);
    assert.throws(() => new AdamW([p], { lr: -1 }), arg);
    assert.throws(() => opt.step(NaN), arg);
    assert.throws(
      () => new AdamW([{ name: 'w', param: new Float32Array(2), grad: new Float32Array(3) }], { lr: 1 }),
      (e: unknown) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
  });
});

describe('gradient norm and clipping', () => {
  test('global L2 norm over tensors', () => {
    assert.equal(gradNorm([Float32Array.of(3, 4), Float64Array.of(12)]), 13);
    assert.equal(gradNorm([]), 0);
  });

  test('clips to maxNorm like torch (coef = max / (norm + 1e-6)) and leaves small gradients alone', () => {
    const g = [Float64Array.of(3, 4), Float64Array.of(12)];
    const r = clipGradNorm(g, 6.5);
    assert.equal(r.norm, 13);
    close(r.scale, 6.5 / (13 + 1e-6), 1e-15, 'scale');
    close(gradNorm(g), 6.5, 1e-6, 'clipped norm');
    close(g[1]![0]!, 12 * r.scale, 1e-15, 'scaled in place');
    const h = [Float32Array.of(0.3, 0.4)];
    assert.deepEqual(clipGradNorm(h, 1), { norm: gradNorm([Float32Array.of(0.3, 0.4)]), scale: 1 });
    assert.deepEqual(Array.from(h[0]!), Array.from(Float32Array.of(0.3, 0.4)));
  });

  test('non-finite norm: returned (grads untouched) or E_NUMERIC when asked', () => {
    const g = [Float32Array.of(1, NaN)];
    assert.ok(Number.isNaN(clipGradNorm(g, 1).norm));
    assert.equal(g[0]![0], 1);
    assert.throws(
      () => clipGradNorm(g, 1, { errorIfNonfinite: true }),
      (e: unknown) => e instanceof HaloError && e.code === 'E_NUMERIC',
    );
    assert.throws(
      () => clipGradNorm(g, 0),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
    );
  });
});
