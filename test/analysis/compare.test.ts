// src/analysis/compare.ts: method ids parse to the right recipe (and wrong ones fail naming the id), and the
// per-(task, method) aggregation gives the mean, sample std and same-seed difference to BF16 of known numbers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meanStd, type RunResult } from '../../src/analysis/ablation.ts';
import { compareRows, DEFAULT_COMPARE_METHODS, methodConfig, selectMethods, signedPct } from '../../src/analysis/compare.ts';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

test('method ids: the paper pairings and the baselines parse; unknown or unquantized pairs are refused', () => {
  assert.deepEqual(
    DEFAULT_COMPARE_METHODS.map((id) => {
      const c = methodConfig(id).halo;
      return `${c.level}/${c.format}`;
    }),
    ['none/bf16', 'switchback/int8', 'jetfire/int8', 'halo2/int8', 'halo1/fp6', 'halo0/fp8'],
  );
  assert.deepEqual(
    DEFAULT_COMPARE_METHODS.map((id) => methodConfig(id).label),
    ['BF16', 'SwitchBack INT8', 'Jetfire INT8', 'HALO2 INT8', 'HALO1 FP6', 'HALO0 FP8'],
  );
  assert.equal(methodConfig('fp32').halo.format, 'fp32');
  for (const bad of ['halo9-int8', 'none-int8', 'ideal-int8', 'halo2-bf16', 'halo2', 'HALO2-INT8', '']) {
    assert.throws(
      () => methodConfig(bad),
      (e: Error & { code?: string }) => e.code === 'E_ARG' && e.message.includes(`'${bad}'`),
      bad,
    );
  }
  assert.deepEqual(
    selectMethods(' halo2-int8 ,bf16').map((m) => m.id),
    ['halo2-int8', 'bf16'],
    'the order given',
  );
  assert.throws(() => selectMethods('bf16,bf16'), /names 'bf16' twice/);
  assert.throws(() => selectMethods(' , '), /names no method/);
});

test('meanStd: sample standard deviation (n − 1), NaN spread for one value', () => {
  const a = meanStd([1, 2, 3, 4]);
  close(a.mean, 2.5, 'mean');
  close(a.std, Math.sqrt(5 / 3), 'std'); // squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over n − 1 = 3
  const one = meanStd([7]);
  assert.equal(one.mean, 7);
  assert.ok(Number.isNaN(one.std));
});

function run(config: string, seed: number, evalLoss: number, exact: number): RunResult {
  return {
    config,
    label: config,
    seed,
    steps: 10,
    evalLoss,
    accuracy: { 'sql-exact': exact, 'sql-normalized': exact },
    trainSeconds: 2,
    tokensPerSecond: 100,
    evalSeconds: 1,
  };
}

test('compareRows: mean ± sample std per method, exact match in %, eval loss against BF16 on the same seed', () => {
  const methods = selectMethods('bf16,halo2-int8,jetfire-int8');
  const runs = [
    run('bf16', 0, 2.0, 0.1),
    run('bf16', 1, 1.0, 0.2),
    run('bf16', 2, 1.5, 0.3),
    // +10%, +20%, −10% of BF16's loss on seeds 0, 1, 2
    run('halo2-int8', 0, 2.2, 0.0),
    run('halo2-int8', 1, 1.2, 0.5),
    run('halo2-int8', 2, 1.35, 0.25),
    // Jetfire ran seed 1 only: one paired difference, no spread.
    run('jetfire-int8', 1, 1.05, 0.0),
  ];
  const rows = compareRows('sql', runs, methods, 'sql-exact');
  assert.deepEqual(
    rows.map((r) => [r.task, r.config, r.seeds]),
    [
      ['sql', 'bf16', 3],
      ['sql', 'halo2-int8', 3],
      ['sql', 'jetfire-int8', 1],
    ],
  );
  const [bf16, h2, jf] = rows;
  close(bf16!.evalLoss.mean, 1.5, 'bf16 mean');
  close(bf16!.evalLoss.std, 0.5, 'bf16 std'); // deviations ±0.5, 0: (0.25 + 0.25) / 2 = 0.25
  close(bf16!.exactMatch.mean, 20, 'bf16 exact match %');
  close(bf16!.exactMatch.std, 10, 'bf16 exact match std, in points');
  assert.equal(bf16!.vsBf16, null);
  close(h2!.evalLoss.mean, (2.2 + 1.2 + 1.35) / 3, 'halo2 mean');
  close(h2!.vsBf16!.mean, (10 + 20 - 10) / 3, 'paired mean %');
  close(h2!.vsBf16!.std, Math.sqrt(((10 - 20 / 3) ** 2 + (20 - 20 / 3) ** 2 + (-10 - 20 / 3) ** 2) / 2), 'paired std');
  assert.equal(h2!.vsBf16!.seeds, 3);
  close(h2!.exactMatch.mean, 25, 'halo2 exact match %');
  close(jf!.vsBf16!.mean, 5, 'jetfire paired %');
  assert.ok(Number.isNaN(jf!.vsBf16!.std) && Number.isNaN(jf!.evalLoss.std));
  assert.equal(signedPct(h2!.vsBf16), `+6.67% ± ${h2!.vsBf16!.std.toFixed(2)}`);
  assert.equal(signedPct(jf!.vsBf16), '+5.00%');
  assert.equal(signedPct({ mean: -0.5, std: 0.25 }), '-0.50% ± 0.25');
  assert.equal(signedPct(null), '-');
  // Without BF16 among the methods there is nothing to pair with.
  assert.equal(
    compareRows(
      'sql',
      runs.filter((r) => r.config !== 'bf16'),
      selectMethods('halo2-int8'),
      'sql-exact',
    )[0]!.vsBf16,
    null,
  );
});
