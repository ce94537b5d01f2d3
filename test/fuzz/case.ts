// What the fuzz driver passes around. A case is a set of files written into an empty folder (every parser
// under test reads files, and a folder is also what a reproducer is); a target turns valid seeds into hostile
// cases and runs halo's parsers on a case folder. A HaloError from `run` is the expected rejection; any other
// exception is a crash; an InvariantViolation means the parser accepted the input but produced something wrong.
import type { Rng } from '../../src/core/rng.ts';

export const TARGET_NAMES = ['safetensors', 'config', 'tokenizer', 'jsonl'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface FuzzCase {
  /** Path relative to the case folder → contents. A path ending in '/' makes an (empty) folder. */
  files: Record<string, Uint8Array | string>;
  /** What was done to which seed, for the reproducer. */
  note: string;
}

export interface FuzzTarget {
  readonly name: TargetName;
  /** One hostile case, a pure function of `rng`'s state (so a case index alone reproduces it). */
  generate(rng: Rng): FuzzCase;
  /**
   * Runs the parsers on a case folder and checks what they accepted. Returns the parsed values (kept alive while
   * memory is measured). Throws HaloError to reject, InvariantViolation when an accepted result is wrong.
   */
  run(dir: string): unknown;
}

/** The parser accepted the input but its result breaks a promise of its API. */
export class InvariantViolation extends Error {
  override name = 'InvariantViolation';
}

export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InvariantViolation(message);
}

export type Outcome = 'ok' | 'rejected' | 'crash' | 'bad' | 'hang';
