// A temporary folder with a 1-block tiny model and a small text corpus, and `halo finetune` on it (2 steps of
// SQL rows): the fixture of the CLI tests that check a training flag end to end (--optimizer, --grad-dtype).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { halo } from './run-halo.ts';

export function tinyCliRun(prefix: string, saveEvery: number) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const model = path.join(tmp, 'tiny');
  writeTinyModelFolder(model, { hidden: 64, layers: 1, heads: 4, kvHeads: 2, intermediate: 96, vocab: 512, seed: 3 });
  const text = path.join(tmp, 'text.txt');
  fs.writeFileSync(text, Array.from({ length: 40 }, (_, i) => `paragraph ${i}: the ship sailed on and on, day ${i % 7}.`).join('\n\n'));
  const finetune = (out: string, ...args: string[]) =>
    halo(
      'finetune',
      '--model',
      model,
      '--data',
      'data/sql/train.jsonl::16',
      '--out',
      out,
      '--max-steps',
      '2',
      '--batch-size',
      '4',
      '--max-seq-len',
      '320',
      '--save-every',
      String(saveEvery),
      '--no-quant-stats',
      ...args,
    );
  return { tmp, model, text, finetune };
}
