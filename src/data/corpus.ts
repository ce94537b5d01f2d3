// Pretraining text from files: .txt files are split into documents at blank lines (then grouped up to
// ~4 KB so short paragraphs share a sequence), .jsonl files give one document per record (chat turns and
// prompt/completion pairs joined as plain text). Each document becomes a {text} record, so encodeRecords
// puts loss on every token and an EOS between documents.
import * as fs from 'node:fs';
import { HaloError } from '../core/errors.ts';
import { readJsonl, type DataRecord, type ReadJsonlOptions } from './jsonl.ts';

const GROUP_BYTES = 4096;

export function readCorpus(files: readonly string[], opts: Pick<ReadJsonlOptions, 'maxLineBytes'> = {}): DataRecord[] {
  const out: DataRecord[] = [];
  for (const file of files) {
    if (!fs.existsSync(file)) throw new HaloError('E_IO', `no such data file: ${file}`);
    if (file.endsWith('.jsonl')) {
      for (const r of readJsonl(file, opts).records) out.push({ kind: 'text', text: recordText(r), line: r.line });
      continue;
    }
    const text = fs.readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
    let group = '';
    let line = 1;
    for (const para of text.split(/\n\s*\n/)) {
      const p = para.trim();
      if (!p) continue;
      group = group ? `${group}\n\n${p}` : p;
      if (group.length >= GROUP_BYTES) {
        out.push({ kind: 'text', text: group, line });
        group = '';
      }
      line++;
    }
    if (group) out.push({ kind: 'text', text: group, line });
  }
  return out;
}

export function recordText(r: DataRecord): string {
  switch (r.kind) {
    case 'text':
      return r.text;
    case 'prompt':
      return `${r.prompt}\n${r.completion}`;
    case 'chat':
      return r.messages.map((m) => m.content).join('\n');
  }
}
