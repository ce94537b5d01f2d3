// scripts/compare-metrics.ts: the reproduction check the halo-tiny model card quotes must notice any difference.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareMetrics } from '../../scripts/compare-metrics.ts';

test('compareMetrics counts shared steps, identical losses and the first difference', () => {
  const a = [{ step: 1, loss: 9 }, { step: 2, loss: 8.5 }, { step: 3, loss: 8 }, { evalLoss: 7 }];
  const same = compareMetrics(a, [
    { step: 1, loss: 9 },
    { step: 2, loss: 8.5 },
  ]);
  assert.deepEqual(same, { compared: 2, identical: 2, maxRelDiff: 0, firstDiffStep: null, lastStep: 2 });
  const off = compareMetrics(a, [
    { step: 1, loss: 9 },
    { step: 2, loss: 8.5 * (1 + 1e-15) },
    { step: 3, loss: 8.08 },
    { step: 4, loss: 1 },
  ]);
  assert.equal(off.compared, 3, 'step 4 is not in the original');
  assert.equal(off.identical, 1);
  assert.equal(off.firstDiffStep, 2);
  assert.ok(Math.abs(off.maxRelDiff - 0.01) < 1e-12, String(off.maxRelDiff));
});
