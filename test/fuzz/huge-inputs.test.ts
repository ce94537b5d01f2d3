// Issue 26, reproductions 4 and 5, end to end: `halo finetune --debug-data` on a 50 MB JSONL line and on a
// model whose chat template runs `range(10**9)`. Before, the line took the heap after a minute (or 118 s and
// 5.5 GB to tokenize before truncating to 128 tokens) and the template crashed V8 ("invalid size"). Now each is
// a one-line error, exit 2, with peak memory under 1 GiB and CPU time under 10 s (measured in the child:
// report-usage.mjs), and a raised --max-line-bytes tokenizes only what max-seq-len keeps.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../helpers/run-halo.ts';

const GiB = 2 ** 30;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-huge-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number;
  out: string;
  err: string;
  /** Peak RSS in bytes and CPU seconds of the child, from its own process.resourceUsage(). */
  peak: number;
  cpu: number;
  wall: number;
}

function finetune(...args: string[]): Promise<Run> {
  const usage = path.join(tmp, `usage-${Math.random().toString(36).slice(2)}.json`);
  const t0 = performance.now();
  const argv = ['--import', path.join(repoRoot, 'test/fuzz/report-usage.mjs'), path.join(repoRoot, 'bin/halo.js'), 'finetune', ...args];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      argv,
      { cwd: repoRoot, env: { ...process.env, HALO_BACKEND: 'reference', HALO_USAGE_FILE: usage }, maxBuffer: 1 << 26 },
      (e, out, err) => {
        const u = JSON.parse(fs.readFileSync(usage, 'utf8')) as NodeJS.ResourceUsage;
        resolve({
          code: e ? ((e as { code?: number }).code ?? 1) : 0,
          out,
          err,
          peak: u.maxRSS * 1024,
          cpu: (u.userCPUTime + u.systemCPUTime) / 1e6,
          wall: (performance.now() - t0) / 1000,
        });
      },
    );
  });
}

/** A JSONL file: one line `{"text": "<n bytes of text>"}` (or a chat of it), then `after`; its name and that line's bytes. */
function hugeLine(name: string, bytes: number, form: 'text' | 'messages', after: string[] = []): { file: string; lineBytes: string } {
  const file = path.join(tmp, name);
  const fd = fs.openSync(file, 'w');
  const head = form === 'text' ? '{"text": "' : '{"messages": [{"role": "user", "content": "Say it back."}, {"role": "assistant", "content": "';
  const tail = form === 'text' ? '"}' : '"}]}';
  fs.writeSync(fd, head);
  const unit = Buffer.from('The quick brown fox jumps over the lazy dog. SELECT name FROM users WHERE id = 42; ');
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i += unit.length) unit.copy(block, i, 0, Math.min(unit.length, block.length - i));
  for (let left = bytes; left > 0; left -= block.length) fs.writeSync(fd, block, 0, Math.min(left, block.length));
  fs.writeSync(fd, tail + '\n');
  for (const l of after) fs.writeSync(fd, l + '\n');
  fs.closeSync(fd);
  return { file, lineBytes: (head.length + bytes + tail.length).toLocaleString('en-US') };
}

const MODEL = 'models/halo-tiny';
const base = (data: string, model = MODEL) => [
  '--model',
  model,
  '--data',
  data,
  '--out',
  path.join(tmp, 'out'),
  '--max-seq-len',
  '128',
  '--batch-size',
  '1',
  '--debug-data',
];
const bounded = (r: Run, what: string) => {
  if (process.env.HALO_TEST_VERBOSE)
    process.stderr.write(`${what}: exit ${r.code}, peak RSS ${(r.peak / 2 ** 20).toFixed(0)} MiB, ${r.cpu.toFixed(2)} s CPU, ${r.wall.toFixed(2)} s wall\n`);
  assert.ok(r.peak < GiB, `${what}: peak RSS ${(r.peak / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(r.cpu < 10, `${what}: ${r.cpu.toFixed(1)} s of CPU (${r.wall.toFixed(1)} s wall)`);
};
const oneLine = (err: string) => err.split('\n').filter((l) => l.startsWith('halo finetune: '));

describe('halo finetune --debug-data on hostile inputs: exit 2, under 1 GiB and 10 s of CPU', () => {
  let textLine: ReturnType<typeof hugeLine>;
  before(() => {
    textLine = hugeLine('text-50mb.jsonl', 50 << 20, 'text');
  });

  it('a 50 MB JSONL line: one error naming file:line and the limit', async () => {
    const r = await finetune(...base(textLine.file));
    assert.equal(r.code, 2, r.err);
    assert.deepEqual(oneLine(r.err), [
      `halo finetune: ${textLine.file}:1: line is ${textLine.lineBytes} bytes, over the limit of 8,388,608 bytes per line (--max-line-bytes)`,
    ]);
    bounded(r, '50 MB line');
  });

  it('the same line in a chat, with --skip-bad-lines: skipped and counted, the next record is shown', async () => {
    const good = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}';
    const f = hugeLine('chat-50mb.jsonl', 50 << 20, 'messages', [good]);
    const r = await finetune(...base(f.file), '--skip-bad-lines');
    assert.equal(r.code, 0, r.err);
    assert.ok(
      r.err.includes(`1 records (chat 1), 1 bad line skipped (first: line 1: line is ${f.lineBytes} bytes, over the limit of 8,388,608 bytes per line`),
      r.err,
    );
    assert.match(r.out, /example \(line 2\)/);
    bounded(r, '50 MB chat line, skipped');
  });

  it('with --max-line-bytes raised, the 50 MB text is read and only what 128 tokens need is tokenized', async () => {
    const r = await finetune(...base(textLine.file), '--max-line-bytes', String(100 << 20));
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /1 records, 1 examples \(1 truncated/);
    assert.match(r.out, /example \(line 1\): 128 tokens, 127 with loss .*TRUNCATED/);
    bounded(r, '50 MB line, read');
  });

  it('a chat template with range(10**9): one error naming the template file and the limit', async () => {
    const model = path.join(tmp, 'model-range');
    fs.mkdirSync(model);
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(repoRoot, MODEL, f), path.join(model, f));
    fs.symlinkSync(path.join(repoRoot, MODEL, 'model.safetensors'), path.join(model, 'model.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(repoRoot, MODEL, 'tokenizer_config.json'), 'utf8'));
    fs.writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify({ ...cfg, chat_template: '{% for i in range(10**9) %}{{ i }}{% endfor %}' }));
    const r = await finetune(...base('data/sql/train.jsonl:0:4', model));
    assert.equal(r.code, 2, r.err);
    assert.deepEqual(oneLine(r.err), [
      `halo finetune: ${path.join(model, 'tokenizer_config.json')} (chat_template): chat template stopped: it called range() for 1,000,000,000 items, over its limit of 100,000 loop iterations`,
    ]);
    bounded(r, 'range(10**9) template');
  });
});
