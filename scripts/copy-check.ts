// Does a model copy from its context? (An "induction" check, after Olsson et al. 2022.)
// Text-to-SQL answers are mostly copied from the prompt (table and column names, quoted values), so a model
// that cannot copy cannot reach exact match however long it is fine-tuned. This script writes N sequences of
// random words, once and repeated twice, and compares the mean loss per token: a model that copies predicts
// the second repetition almost perfectly, so its "twice" loss falls to about half of "once" or lower;
// a model that doesn't copy scores both the same.
// Usage: node --import tsx scripts/copy-check.ts [MODEL_DIR] [N] [WORDS]   (default models/halo-tiny, 40, 40)
// Use fewer WORDS for a model trained on short sequences: twice WORDS words must fit its context.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../src/core/rng.ts';

const root = path.resolve(import.meta.dirname, '..');
const model = process.argv[2] ?? path.join(root, 'models/halo-tiny');
const n = Number(process.argv[3] ?? 40);
const len = Number(process.argv[4] ?? 40);
const words = [...new Set(fs.readFileSync(path.join(root, 'data/sql/train.jsonl'), 'utf8').match(/[a-z]{3,9}/g) ?? [])].sort();
const rng = new Rng(0);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-copy-check-'));
const once: string[] = [];
const twice: string[] = [];
for (let i = 0; i < n; i++) {
  const s = Array.from({ length: len }, () => words[rng.int(words.length)]).join(' ');
  once.push(JSON.stringify({ text: s }));
  twice.push(JSON.stringify({ text: `${s} ${s}` }));
}
const loss = (name: string, lines: string[]): number => {
  const file = path.join(dir, `${name}.jsonl`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const out = execFileSync(process.execPath, [path.join(root, 'bin/halo.js'), 'eval', '--model', model, '--data', file, '--metric', 'loss', '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return (JSON.parse(out.trim().split('\n').at(-1)!) as { loss: number }).loss;
};
const a = loss('once', once);
const b = loss('twice', twice);
fs.rmSync(dir, { recursive: true, force: true });
console.log(`${model}: ${n} random ${len}-word sequences from the SQL vocabulary`);
console.log(`  mean loss, sequence once:          ${a.toFixed(4)}`);
console.log(`  mean loss, sequence repeated twice: ${b.toFixed(4)}  (ratio ${(b / a).toFixed(3)})`);
console.log(b / a < 0.75 ? '  the model copies from its context' : '  the model does not copy from its context (ratio near 1)');
