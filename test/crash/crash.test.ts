// CI version of the kill -9 crash test (the full one: `node --import tsx test/crash/crash-test.ts --kills 20
// --seed 1`): 3 SIGKILLs of a real `halo finetune` child at seeded moments, a resume after each, and the
// finished run must equal the uninterrupted one bit for bit (weights and loss curve).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashPassed, describeCrash, runCrashTest } from './crash-run.ts';

test('3 kills at seeded moments: every resume picks the newest complete checkpoint, results equal an uninterrupted run', async () => {
  const s = await runCrashTest({ kills: 3, seed: 2 });
  const text = describeCrash(s);
  assert.equal(s.kills, 3, text);
  assert.equal(s.unusable, 0, text);
  assert.equal(s.resumesCorrect, s.resumesJudged, text);
  assert.ok(s.resumesJudged >= 2, text);
  assert.equal(s.stepsCompared, s.steps, text);
  assert.ok(s.weightsMaxDiff <= 1e-6 && s.curveMaxDiff <= 1e-6, text);
  assert.ok(crashPassed(s), text);
});
