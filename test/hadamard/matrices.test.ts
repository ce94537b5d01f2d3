import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { hadamardConstruction, hadamardMatrix, hasHadamardMatrix, kroneckerDouble, paley1, paley2, sylvester } from '../../src/hadamard/matrices.ts';
import { isWilliamson, searchWilliamson, williamsonArray, williamsonRows } from '../../src/hadamard/williamson.ts';

/** Number of entries of H·Hᵀ − k·I that are nonzero, after checking every entry is ±1. */
function hadamardDefects(h: Int8Array, k: number): number {
  assert.equal(h.length, k * k);
  for (const v of h) assert.ok(v === 1 || v === -1, `entry ${v}`);
  let bad = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += h[i * k + l]! * h[j * k + l]!;
      if (s !== (i === j ? k : 0)) bad++;
    }
  }
  return bad;
}

const HALO_ORDERS = [12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 156, 172];

test('every order HALO hard-codes is constructed', () => {
  for (const k of HALO_ORDERS) assert.ok(hasHadamardMatrix(k), `K=${k}`);
});

test('H·Hᵀ = K·I with ±1 entries for every constructed K ≤ 172', () => {
  const built: number[] = [];
  for (const k of [1, 2, ...Array.from({ length: 43 }, (_, i) => 4 * (i + 1))]) {
    if (!hasHadamardMatrix(k)) continue;
    built.push(k);
    assert.equal(hadamardDefects(hadamardMatrix(k), k), 0, `K=${k} (${hadamardConstruction(k)})`);
  }
  // everything up to 172 except 92 and 116 (Williamson t = 23, 29 are not within the orbit search's reach)
  const missing = Array.from({ length: 43 }, (_, i) => 4 * (i + 1)).filter((k) => !built.includes(k));
  assert.deepEqual(missing, [92, 116]);
});

test('constructions used for the prime-power and Williamson orders', () => {
  assert.equal(hadamardConstruction(28), 'Paley I, q = 27');
  assert.equal(hadamardConstruction(36), 'Paley II, q = 17');
  assert.equal(hadamardConstruction(52), 'Paley II, q = 25');
  assert.equal(hadamardConstruction(100), 'Paley II, q = 49');
  assert.equal(hadamardConstruction(156), 'Williamson, t = 39');
  assert.equal(hadamardConstruction(172), 'Williamson, t = 43');
  assert.match(hadamardConstruction(40)!, /^doubling of 20/);
  assert.equal(hadamardConstruction(92), null);
});

test('Paley I / II over prime-power fields and larger orders', () => {
  for (const [h, k] of [
    [paley1(27), 28],
    [paley1(243), 244],
    [paley2(25), 52],
    [paley2(49), 100],
    [paley2(9), 20],
    [paley2(81), 164],
  ] as const) {
    assert.equal(hadamardDefects(h, k), 0, `K=${k}`);
  }
  assert.throws(
    () => paley1(13),
    (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
  ); // 13 ≡ 1 mod 4
  assert.throws(
    () => paley2(15),
    (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
  ); // not a prime power
});

test('Sylvester is natural-order Walsh; doubling keeps orthogonality', () => {
  const h = sylvester(16);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let bits = 0;
      for (let v = i & j; v; v >>= 1) bits += v & 1;
      assert.equal(h[i * 16 + j], bits % 2 ? -1 : 1);
    }
  }
  assert.equal(hadamardDefects(kroneckerDouble(hadamardMatrix(12), 12), 24), 0);
  assert.equal(hadamardDefects(kroneckerDouble(hadamardMatrix(172), 172), 344), 0);
});

test('Williamson: the search finds t = 43 quickly, the t = 39 table checks out', () => {
  const t0 = performance.now();
  const w43 = searchWilliamson(43);
  const ms = performance.now() - t0;
  assert.ok(w43 && isWilliamson(w43));
  assert.ok(ms < 1000, `search took ${ms} ms`);
  assert.equal(hadamardDefects(williamsonArray(w43!), 172), 0);
  const w39 = williamsonRows(39);
  assert.ok(w39 && isWilliamson(w39));
  assert.equal(searchWilliamson(39), null); // why t = 39 needs the literature table
  // a single flipped symmetric pair breaks it
  const rows = w39!.rows.map((r) => r.slice()) as [Int8Array, Int8Array, Int8Array, Int8Array];
  rows[2][5] = -rows[2][5]!;
  rows[2][39 - 5] = -rows[2][39 - 5]!;
  assert.equal(isWilliamson({ t: 39, rows }), false);
  // small orders: every odd t ≤ 9 has a solution by search
  for (const t of [1, 3, 5, 7, 9]) assert.ok(searchWilliamson(t), `t=${t}`);
});

test('hadamardMatrix returns copies and rejects orders it cannot build', () => {
  const a = hadamardMatrix(12);
  a[0] = -a[0]!;
  assert.equal(hadamardDefects(hadamardMatrix(12), 12), 0);
  for (const k of [3, 6, 92, 2048]) {
    assert.throws(
      () => hadamardMatrix(k),
      (e: unknown) => e instanceof HaloError && e.code === 'E_UNSUPPORTED' && e.message.includes(`order ${k}`),
    );
  }
});
