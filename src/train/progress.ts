// A progress bar for long work: on a terminal it redraws one line (bar, step, loss, lr, tokens/s, ETA);
// when stderr is not a terminal (CI, a log file) it prints a plain line every `logEvery` steps instead,
// so logs stay readable.
export interface ProgressStats {
  loss?: number;
  lr?: number;
  tokens?: number; // tokens processed since the start of this run
}

export class ProgressBar {
  private readonly start = performance.now();
  private readonly tty: boolean;
  private lastDraw = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly opts: { logEvery?: number; stream?: NodeJS.WriteStream; startAt?: number } = {},
  ) {
    this.tty = (opts.stream ?? process.stderr).isTTY === true;
  }

  update(done: number, stats: ProgressStats = {}): void {
    const now = performance.now();
    const finished = done >= this.total;
    const startAt = this.opts.startAt ?? 0;
    if (this.tty) {
      if (!finished && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.line(done, startAt, stats, now)}\x1b[K${finished ? '\n' : ''}`);
    } else if (finished || (done - startAt) % (this.opts.logEvery ?? 10) === 0) {
      this.stream.write(this.line(done, startAt, stats, now) + '\n');
    }
  }

  private get stream(): NodeJS.WriteStream {
    return this.opts.stream ?? process.stderr;
  }

  private line(done: number, startAt: number, s: ProgressStats, now: number): string {
    const secs = (now - this.start) / 1000;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const rate = done > startAt ? secs / (done - startAt) : 0;
    const parts = [`${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`];
    if (s.loss !== undefined) parts.push(`loss ${s.loss.toFixed(4)}`);
    if (s.lr !== undefined) parts.push(`lr ${s.lr.toExponential(2)}`);
    if (s.tokens !== undefined && secs > 0) parts.push(`${Math.round(s.tokens / secs)} tok/s`);
    parts.push(`elapsed ${fmtTime(secs)}`, `ETA ${fmtTime(rate * (this.total - done))}`);
    return parts.join('  ');
  }
}

export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  return h > 0 ? `${h}h${String(m % 60).padStart(2, '0')}m` : m > 0 ? `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}
