// metrics.jsonl: one JSON object per line (step, loss, lr, tokens/s, …), appended as training goes, so a
// run that is killed keeps everything it logged and a resumed run continues the same file.
import * as fs from 'node:fs';
import { HaloError } from '../core/errors.ts';
import { writeFileAtomic } from '../io/safetensors.ts';

export class MetricsLog {
  constructor(readonly file: string) {}

  append(record: Record<string, unknown>): void {
    try {
      fs.appendFileSync(this.file, JSON.stringify(record) + '\n');
    } catch (e) {
      throw new HaloError('E_IO', `cannot append to ${this.file}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Drops records after `step` (a resumed run rewrites history from its checkpoint on). */
  truncateAfter(step: number): void {
    if (!fs.existsSync(this.file)) return;
    const kept = readMetrics(this.file).filter((r) => typeof r.step !== 'number' || (r.step as number) <= step);
    // Atomic: a kill during the rewrite must not lose the history before `step`.
    const text = kept.map((r) => JSON.stringify(r) + '\n').join('');
    writeFileAtomic(this.file, (fd) => fs.writeSync(fd, text));
  }
}

export function readMetrics(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return []; // a line cut by a kill mid-write
      }
    });
}
