// A processed example as text a person can check (`halo finetune --debug-data`): the tokens decoded in runs
// that share a loss flag, with the runs that carry no loss wrapped in ⟦…⟧ (and dimmed when colour is on),
// so a wrong mask — a trained prompt, an untrained answer, a missing end-of-turn — is visible at a glance.
import type { TextTokenizer } from '../tokenizer/types.ts';
import { IGNORE_INDEX, lossTokenCount, type Example } from './encode.ts';

export interface DescribeOptions {
  /** ANSI colours: masked runs dimmed, trained runs green. Default false. */
  color?: boolean;
  /** Also list every token: index, id, loss flag, decoded piece. Default false. */
  tokens?: boolean;
  /** Show at most this many tokens (the rest is summarised). Default: all. */
  maxTokens?: number;
}

const DIM = '\x1b[2m';
const GREEN = '\x1b[32m';
const RESET = '\x1b[0m';

export function describeExample(ex: Example, tok: TextTokenizer, opts: DescribeOptions = {}): string {
  const n = ex.ids.length;
  const shown = Math.min(n, opts.maxTokens ?? n);
  const loss = lossTokenCount(ex);
  const lines: string[] = [];
  const pct = n > 0 ? ((100 * loss) / n).toFixed(1) : '0.0';
  lines.push(
    `example${ex.line !== undefined ? ` (line ${ex.line})` : ''}: ${n} tokens, ${loss} with loss (${pct}%)` + (ex.truncated ? ', TRUNCATED to max length' : ''),
  );
  lines.push('legend: ⟦masked: no loss⟧  trained text as is');
  let text = '';
  let t = 0;
  while (t < shown) {
    const trained = ex.labels[t] !== IGNORE_INDEX;
    let e = t;
    while (e < shown && (ex.labels[e] !== IGNORE_INDEX) === trained) e++;
    const piece = tok.decode(Array.from(ex.ids.subarray(t, e)), { skipSpecialTokens: false });
    if (trained) text += opts.color ? GREEN + piece + RESET : piece;
    else text += opts.color ? DIM + '⟦' + piece + '⟧' + RESET : '⟦' + piece + '⟧';
    t = e;
  }
  lines.push(text);
  if (shown < n) lines.push(`… ${n - shown} more tokens not shown`);
  if (opts.tokens) {
    lines.push('   pos        id  loss  piece');
    for (let i = 0; i < shown; i++) {
      const id = ex.ids[i]!;
      const piece = JSON.stringify(tok.decode([id], { skipSpecialTokens: false }));
      lines.push(`${String(i).padStart(6)}  ${String(id).padStart(8)}  ${ex.labels[i] !== IGNORE_INDEX ? '  y ' : '  - '}  ${piece}`);
    }
  }
  return lines.join('\n');
}
