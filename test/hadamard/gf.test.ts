import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GF, gf, primePower } from '../../src/hadamard/gf.ts';
import { HaloError } from '../../src/core/errors.ts';

test('primePower factors prime powers and rejects the rest', () => {
  assert.deepEqual(primePower(2), { p: 2, m: 1 });
  assert.deepEqual(primePower(27), { p: 3, m: 3 });
  assert.deepEqual(primePower(49), { p: 7, m: 2 });
  assert.deepEqual(primePower(1021), { p: 1021, m: 1 });
  for (const q of [0, 1, 6, 12, 15, 100, 1.5]) assert.equal(primePower(q), null, `q=${q}`);
});

test('GF(q) rejects a non-prime-power order', () => {
  assert.throws(
    () => new GF(6),
    (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && /GF\(6\)/.test(e.message),
  );
});

// Every field axiom checked exhaustively (q³ triples), plus: no zero divisors, inverses, characteristic p,
// a cyclic multiplicative group, and the quadratic character.
for (const q of [2, 3, 4, 5, 7, 8, 9, 11, 13, 25, 27, 49]) {
  test(`GF(${q}) satisfies the field axioms`, () => {
    const f = gf(q);
    assert.equal(f.p ** f.m, q);
    assert.equal(f.modulus.length, f.m + 1);
    assert.equal(f.modulus[f.m], 1, 'modulus is monic');
    for (let a = 0; a < q; a++) {
      assert.equal(f.add(a, 0), a);
      assert.equal(f.mul(a, 1), a);
      assert.equal(f.mul(a, 0), 0);
      assert.equal(f.add(a, f.neg(a)), 0);
      assert.equal(f.sub(a, a), 0);
      if (a !== 0) assert.equal(f.mul(a, f.inv(a)), 1);
      for (let b = 0; b < q; b++) {
        assert.equal(f.add(a, b), f.add(b, a));
        assert.equal(f.mul(a, b), f.mul(b, a));
        assert.equal(f.sub(f.add(a, b), b), a);
        if (a !== 0 && b !== 0) assert.notEqual(f.mul(a, b), 0, `zero divisor ${a}·${b}`);
        for (let c = 0; c < q; c++) {
          assert.equal(f.add(f.add(a, b), c), f.add(a, f.add(b, c)));
          assert.equal(f.mul(f.mul(a, b), c), f.mul(a, f.mul(b, c)));
          assert.equal(f.mul(a, f.add(b, c)), f.add(f.mul(a, b), f.mul(a, c)));
        }
      }
    }
    // characteristic p: 1 added p times is 0, fewer times is not
    let s = 0;
    for (let i = 1; i <= f.p; i++) {
      s = f.add(s, 1);
      assert.equal(s === 0, i === f.p);
    }
    // GF(q)* is cyclic: some element has order q − 1
    let hasGenerator = false;
    for (let g = 1; g < q && !hasGenerator; g++) {
      let x = g,
        order = 1;
      while (x !== 1) {
        x = f.mul(x, g);
        order++;
      }
      hasGenerator = order === q - 1;
    }
    assert.ok(hasGenerator, 'multiplicative group is cyclic');
    // quadratic character: multiplicative, χ(0) = 0, half the nonzero elements are squares (odd q)
    assert.equal(f.chi(0), 0);
    let squares = 0;
    for (let a = 1; a < q; a++) {
      if (f.chi(a) === 1) squares++;
      for (let b = 1; b < q; b++) assert.equal(f.chi(f.mul(a, b)), f.chi(a) * f.chi(b));
    }
    if (f.p === 2) assert.equal(squares, q - 1);
    else {
      assert.equal(squares, (q - 1) / 2);
      assert.equal(f.chi(f.neg(1)), q % 4 === 1 ? 1 : -1, 'χ(−1) = 1 iff q ≡ 1 (mod 4)');
    }
  });
}

test('gf() caches fields', () => {
  assert.equal(gf(25), gf(25));
});
