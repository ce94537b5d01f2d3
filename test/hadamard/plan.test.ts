import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { factorize, isSupportedOrder, nextSupportedOrder, planHadamard, previousSupportedOrder, supportedOrders } from '../../src/hadamard/plan.ts';

const isCode =
  (code: string, ...parts: string[]) =>
  (e: unknown) =>
    e instanceof HaloError && e.code === code && parts.every((p) => e.message.includes(p));

test('full plans of real model dimensions pick the smallest constructible K', () => {
  // [n, K, pow2]; HALO's own choice in comments where it differs
  const cases: [number, number, number][] = [
    [4096, 1, 4096],
    [1536, 12, 128],
    [3584, 28, 128],
    [14336, 28, 512],
    [11008, 172, 64],
    [8960, 140, 64],
    [13824, 108, 128],
    [5120, 20, 256], // HALO: 40·128
    [4864, 76, 64], // HALO: unsupported (Qwen2.5-0.5B)
    [18944, 148, 128], // HALO: unsupported (Qwen2.5-7B)
    [6656, 52, 128],
    [9984, 156, 64],
  ];
  for (const [n, K, pow2] of cases) {
    const p = planHadamard(n, { block: 'full' });
    assert.deepEqual([p.n, p.block, p.K, p.pow2], [n, n, K, pow2], `n=${n}`);
    assert.equal(p.hadK === null, K === 1);
    if (p.hadK) assert.equal(p.hadK.length, K * K);
  }
});

test("every K in HALO's list times a power of two is supported", () => {
  for (const K of [172, 156, 140, 108, 100, 60, 52, 36, 28, 40, 20, 12, 44]) {
    for (let p = 0; p <= 6; p++) assert.ok(isSupportedOrder(K << p), `${K}·2^${p}`);
  }
});

test('block-diagonal plans', () => {
  const p = planHadamard(4864, { block: 256 });
  assert.deepEqual([p.n, p.block, p.K, p.pow2, p.hadK], [4864, 256, 1, 256, null]);
  const q = planHadamard(36 * 5, { block: 36 });
  assert.deepEqual([q.block, q.K, q.pow2], [36, 36, 1]);
  const r = planHadamard(376); // 47·8: no full rotation, auto falls back to blocks of 8
  assert.deepEqual([r.block, r.K, r.pow2], [8, 1, 8]);
  assert.equal(planHadamard(376, { block: 'auto' }).block, 8);
  assert.equal(planHadamard(4096).block, 4096); // auto = full when supported
});

test('unsupported sizes throw E_UNSUPPORTED naming the size, its factors and what would work', () => {
  assert.throws(() => planHadamard(188, { block: 'full' }), isCode('E_UNSUPPORTED', '188', '2^2·47', 'block: 4', '180 or 192'));
  assert.throws(() => planHadamard(188), isCode('E_UNSUPPORTED', '188', 'below 8'));
  assert.throws(() => planHadamard(376, { block: 'full' }), isCode('E_UNSUPPORTED', '2^3·47', 'block: 8', '368 or 380'));
  // 6768 = 16·423 needs K ≥ 4·423 > 1024; a supported non-power-of-two divisor is offered as a block
  assert.throws(() => planHadamard(6768, { block: 'full' }), isCode('E_UNSUPPORTED', '2^4·3^2·47', 'exceeds', 'block: 16', 'block: 2256'));
  assert.deepEqual([planHadamard(6768, { block: 2256 }).K, planHadamard(6768).block], [564, 16]);
  assert.throws(() => planHadamard(4097), isCode('E_UNSUPPORTED', '17·241', 'not divisible by 4', '4096 or 4128'));
  assert.throws(() => planHadamard(4864, { block: 3 }), isCode('E_UNSUPPORTED', 'block 3 does not divide', '4864'));
  assert.throws(() => planHadamard(4864, { block: 19 }), isCode('E_UNSUPPORTED', 'block 19', 'not a supported order', 'largest 256'));
  assert.throws(() => planHadamard(0), isCode('E_ARG'));
  assert.throws(() => planHadamard(12.5), isCode('E_ARG'));
  assert.throws(() => planHadamard(64, { block: 0 }), isCode('E_ARG'));
});

test('supported orders and padding targets', () => {
  assert.deepEqual(supportedOrders(64), [1, 2, ...Array.from({ length: 16 }, (_, i) => 4 * (i + 1))]);
  assert.equal(nextSupportedOrder(1000), 1000); // 500·2, Paley I with q = 499
  assert.equal(nextSupportedOrder(4097), 4128);
  assert.equal(nextSupportedOrder(185), 192);
  assert.equal(previousSupportedOrder(191), 180);
  for (const n of [1, 7, 300, 1001, 2047, 5000]) {
    const m = nextSupportedOrder(n);
    assert.ok(m >= n && isSupportedOrder(m));
    for (let i = n; i < m; i++) assert.ok(!isSupportedOrder(i));
  }
});

test('factorize', () => {
  assert.equal(factorize(4864), '2^8·19');
  assert.equal(factorize(75), '3·5^2');
  assert.equal(factorize(1), '1');
  assert.equal(factorize(97), '97');
});
