// LR schedules at the steps that define them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import { lrMultiplier, makeSchedule, validateSchedule, type ScheduleConfig } from '../../src/optim/schedule.ts';

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-12, `${what}: ${a} vs ${b}`);
}

describe('schedules', () => {
  const base = { warmupSteps: 10, totalSteps: 110 };

  test('linear warmup from 0 (first step has LR 0, as HF and Composer)', () => {
    for (const kind of ['constant', 'linear', 'cosine'] as const) {
      const cfg: ScheduleConfig = { kind, ...base };
      assert.equal(lrMultiplier(0, cfg), 0);
      close(lrMultiplier(5, cfg), 0.5, `${kind} @5`);
      close(lrMultiplier(9, cfg), 0.9, `${kind} @9`);
      close(lrMultiplier(10, cfg), 1, `${kind} @10`);
    }
  });

  test('constant stays at 1; no warmup starts at 1', () => {
    assert.equal(lrMultiplier(1000, { kind: 'constant', warmupSteps: 10 }), 1);
    assert.equal(lrMultiplier(0, { kind: 'linear', totalSteps: 10 }), 1);
  });

  test('linear decay to 0 / to minRatio, then flat', () => {
    const lin: ScheduleConfig = { kind: 'linear', ...base };
    close(lrMultiplier(35, lin), 0.75, 'lin @35');
    close(lrMultiplier(60, lin), 0.5, 'lin @60');
    close(lrMultiplier(109, lin), 0.01, 'lin @109');
    assert.equal(lrMultiplier(110, lin), 0);
    assert.equal(lrMultiplier(500, lin), 0);
    const floor: ScheduleConfig = { ...lin, minRatio: 0.1 };
    close(lrMultiplier(60, floor), 0.55, 'lin floor @60');
    close(lrMultiplier(110, floor), 0.1, 'lin floor @110');
    close(lrMultiplier(500, floor), 0.1, 'lin floor @500');
  });

  test('cosine decay', () => {
    const cos: ScheduleConfig = { kind: 'cosine', ...base };
    close(lrMultiplier(35, cos), 0.5 * (1 + Math.SQRT1_2), 'cos @35');
    close(lrMultiplier(60, cos), 0.5, 'cos @60');
    close(lrMultiplier(85, cos), 0.5 * (1 - Math.SQRT1_2), 'cos @85');
    close(lrMultiplier(110, cos), 0, 'cos @110');
    const floor: ScheduleConfig = { ...cos, minRatio: 0.2 };
    close(lrMultiplier(60, floor), 0.6, 'cos floor @60');
    close(lrMultiplier(1000, floor), 0.2, 'cos floor @1000');
  });

  test("HALO's setting: linear, 20 warmup batches, alpha_f 0", () => {
    const lr = makeSchedule(3e-5, { kind: 'linear', warmupSteps: 20, totalSteps: 100 });
    assert.equal(lr(0), 0);
    close(lr(10), 1.5e-5, 'halo @10');
    close(lr(20), 3e-5, 'halo @20');
    close(lr(60), 1.5e-5, 'halo @60');
    assert.equal(lr(100), 0);
  });

  test('bad configs are E_ARG', () => {
    const bad: ScheduleConfig[] = [
      { kind: 'linear' },
      { kind: 'cosine', totalSteps: 10, warmupSteps: 11 },
      { kind: 'linear', totalSteps: 10, minRatio: 1.5 },
      { kind: 'constant', warmupSteps: -1 },
      { kind: 'step' as 'linear', totalSteps: 10 },
    ];
    for (const cfg of bad)
      assert.throws(
        () => validateSchedule(cfg),
        (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
        JSON.stringify(cfg),
      );
    assert.throws(
      () => makeSchedule(NaN, { kind: 'constant' }),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG',
    );
  });
});
