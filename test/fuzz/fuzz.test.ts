// The fuzz driver in CI: a fixed-seed budget of hostile inputs across the four parsers (over 1,000 cases, a
// few seconds), asserting no crash, hang, broken invariant or unjustified allocation at all; plus the case
// classifier on stand-in targets, so a driver that stopped telling outcomes apart would fail here too.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { check, TARGET_NAMES, type FuzzTarget } from './case.ts';
import { runFuzz, type TargetSummary } from './harness.ts';
import { DEFAULT_LIMITS, runCase, writeCase } from './run-case.ts';
import { findingLines, summaryTable } from './table.ts';

const BUDGET = { safetensors: 350, config: 300, tokenizer: 200, jsonl: 250 } as const;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-fuzz-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('fuzzing the parsers (CI budget)', () => {
  let rows: TargetSummary[] = [];
  let seconds = 0;
  let cpuSeconds = 0;
  it(`runs ${Object.values(BUDGET).reduce((a, b) => a + b, 0)} hostile inputs with no new crash, hang or unjustified allocation`, async () => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage(); // all threads of this process, the fuzz workers included
    rows = await runFuzz({ iterations: BUDGET, seed: 20250101, reproRoot: path.join(tmp, 'repro') });
    seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const table = summaryTable(rows);
    assert.deepEqual(
      rows.map((r) => r.target),
      [...TARGET_NAMES],
    );
    for (const r of rows) assert.equal(r.cases, BUDGET[r.target], `${r.target}: every case is accounted for\n${table}`);
    assert.ok(rows.reduce((s, r) => s + r.cases, 0) >= 1000, `at least 1,000 inputs ran\n${table}`);
    const findings = findingLines(rows);
    assert.equal(findings.length, 0, `findings:\n${findings.join('\n')}\n${table}`);
  });
  it('reaches both sides of every parser: some inputs accepted, some rejected', () => {
    for (const r of rows) {
      assert.ok(r.ok > 0, `${r.target}: no input was accepted; the mutations never leave a valid file`);
      assert.ok(r.rejected > r.cases / 4, `${r.target}: only ${r.rejected} of ${r.cases} rejected; the mutations are too mild`);
    }
  });
  // CPU time, not wall time: `npm test` runs test files side by side on few cores, which stretches the wall
  // clock but not the work. The wall-clock bound only catches a run that stalls.
  it('stays inside the CI time budget (20 s of CPU)', () => {
    assert.ok(cpuSeconds < 20, `used ${cpuSeconds.toFixed(1)} s of CPU (${seconds.toFixed(1)} s wall)`);
    assert.ok(seconds < 120, `took ${seconds.toFixed(1)} s of wall time`);
  });
});

describe('case classifier', () => {
  const stand = (run: (dir: string) => unknown): FuzzTarget => ({ name: 'jsonl', generate: () => ({ files: {}, note: '' }), run });
  const classify = (run: (dir: string) => unknown, files: Record<string, string> = { 'a.txt': 'x' }) => {
    const dir = path.join(tmp, `case-${Math.random().toString(36).slice(2)}`);
    const c = { files, note: 'stand-in' };
    return runCase(stand(run), dir, 0, c, writeCase(dir, c), DEFAULT_LIMITS);
  };
  it('tells ok, HaloError, other exceptions and broken invariants apart', () => {
    assert.equal(classify(() => 1).outcome, 'ok');
    assert.equal(
      classify(() => {
        throw new HaloError('E_FORMAT', 'no');
      }).outcome,
      'rejected',
    );
    const crash = classify(() => JSON.parse('{'));
    assert.equal(crash.outcome, 'crash');
    assert.match(crash.error!.stack!, /SyntaxError[\s\S]*at /);
    assert.equal(classify(() => check(false, 'wrong')).outcome, 'bad');
  });
  it('flags an allocation far beyond the input size, and a leaked file descriptor', () => {
    const big = classify(() => new Float64Array(16 << 20).fill(1)); // 128 MiB for a 1-byte input
    assert.ok(big.memFlag && big.memDelta >= 128 << 20, `memDelta ${big.memDelta}`);
    assert.equal(classify(() => new Float64Array(1 << 10)).memFlag, false);
    let fd = -1;
    const leak = classify((dir) => (fd = fs.openSync(path.join(dir, 'a.txt'), 'r')));
    fs.closeSync(fd);
    assert.equal(leak.outcome, 'bad');
    assert.match(leak.error!.message, /file descriptor/);
  });
  it('writes folders and files of a case, and counts its bytes', () => {
    const dir = path.join(tmp, 'written');
    assert.equal(writeCase(dir, { files: { 'a.json': '{}', 'sub/': '', 'b.bin': new Uint8Array(5) }, note: '' }), 7);
    assert.ok(fs.statSync(path.join(dir, 'sub')).isDirectory());
  });
});
