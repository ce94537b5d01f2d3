// The output folder of a command that writes (finetune, pretrain, merge): checked before anything is written.
// It must be a folder (not a file, not ''), and it must not be, or contain, a folder the command reads from
// (--model, --adapter, --init, --tokenizer): a fine-tune saved over its base model replaces the weights it
// started from, and --overwrite would clear files inside it. Paths are compared after resolving symlinks, so
// `--out ./m/` and a link to m are the same folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';

/** A folder the command reads, by the flag that named it. */
export interface InputFolder {
  flag: string;
  dir: string | undefined;
}

/** `p` resolved, with symlinks followed as far as it exists (the rest appended as given). */
function realish(p: string): string {
  let head = path.resolve(p);
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...tail);
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return path.resolve(p);
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

/** Whether `inner` is `outer` or lies inside it. */
function within(outer: string, inner: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** E_ARG when `out` is empty, names a file, or equals or contains one of `inputs`. Writes nothing. */
export function checkOutDir(out: string, inputs: readonly InputFolder[] = [], flag = '--out'): void {
  if (out.trim() === '') throw new HaloError('E_ARG', `${flag} is empty; give the folder to write to`);
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(out);
  } catch {
    /* does not exist yet: made later */
  }
  if (st && !st.isDirectory()) throw new HaloError('E_ARG', `${flag} ${out} is a file, not a folder; give a folder to write to`);
  const o = realish(out);
  for (const input of inputs) {
    if (input.dir === undefined || input.dir === '') continue;
    const d = realish(input.dir);
    if (o === d) throw new HaloError('E_ARG', `${flag} ${out} is the ${input.flag} folder: writing there would replace what it holds; write to a new folder`);
    if (within(o, d)) throw new HaloError('E_ARG', `${flag} ${out} contains the ${input.flag} folder ${input.dir}; write to a folder outside it`);
  }
}

/** mkdir -p with a one-line E_IO (a path component that is a file, no permission) instead of a stack trace. */
export function makeOutDir(out: string, flag = '--out'): void {
  try {
    fs.mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new HaloError('E_IO', `cannot create ${flag} folder ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}
