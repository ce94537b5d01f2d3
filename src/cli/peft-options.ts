// The PEFT flags of `halo finetune` (--peft lora|hut and its switches) and their conversion to PeftOptions.
// Defaults are HALO's PEFT recipe (spec §8: r 16, alpha 8, dropout 0.05, all seven projections).
import { HaloError } from '../core/errors.ts';
import { HALO_PEFT_DEFAULTS, PEFT_METHODS, type PeftOptions } from '../peft/build.ts';
import { parseTargetModules, TARGET_MODULES } from '../peft/names.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';

export const PEFT_OPTIONS: readonly OptionSpec[] = [
  { name: 'peft', type: 'string', help: 'train adapters on a frozen base instead of every weight (saves an HF PEFT adapter folder)', choices: PEFT_METHODS },
  // No parser defaults below: a flag that is set without --peft is an error, so "given" must be visible.
  { name: 'rank', type: 'int', help: `with --peft: adapter rank r (default ${HALO_PEFT_DEFAULTS.rank})` },
  { name: 'alpha', type: 'number', help: `with --peft: scale numerator, scale = alpha/r (default ${HALO_PEFT_DEFAULTS.alpha})` },
  { name: 'dropout', type: 'number', help: `with --peft lora: dropout on the adapter input (default ${HALO_PEFT_DEFAULTS.dropout})` },
  {
    name: 'target-modules',
    type: 'string',
    help: `with --peft: comma-separated projections to adapt, of ${TARGET_MODULES.join(',')}, or all-linear (default)`,
  },
  { name: 'rslora', type: 'boolean', help: 'with --peft: scale alpha/sqrt(r) instead of alpha/r (peft use_rslora)' },
  {
    name: 'base-8bit',
    type: 'boolean',
    help: 'with --peft lora and a quantized format: keep the frozen base only as rotated 8-bit codes, made as each weight is read (the default there; --no-base-8bit keeps f32 copies)',
  },
];

/** PeftOptions from the flags, or null without --peft (then the PEFT-only flags must not be given). */
export function peftOptionsFrom(o: ParsedOptions): PeftOptions | null {
  const method = o.peft as PeftOptions['method'] | undefined;
  if (method === undefined) {
    const given = PEFT_OPTIONS.filter((s) => s.name !== 'peft' && o[s.name] !== undefined && o[s.name] !== false);
    if (given.length) throw new HaloError('E_ARG', `${given.map((s) => `--${s.name}`).join(', ')} only apply with --peft lora|hut`);
    return null;
  }
  const rank = (o.rank as number | undefined) ?? HALO_PEFT_DEFAULTS.rank;
  if (rank < 1) throw new HaloError('E_ARG', `--rank must be at least 1, got ${rank}`);
  if (method === 'hut' && o.dropout !== undefined && o.dropout !== 0) {
    throw new HaloError('E_ARG', "--dropout applies to LoRA's input only; HUT transforms the weight and has no dropout");
  }
  const dropout = method === 'hut' ? 0 : ((o.dropout as number | undefined) ?? HALO_PEFT_DEFAULTS.dropout);
  if (!(dropout >= 0 && dropout < 1)) throw new HaloError('E_ARG', `--dropout must be in [0, 1), got ${dropout}`);
  if (o['base-8bit'] && method !== 'lora') throw new HaloError('E_ARG', "--base-8bit needs --peft lora: HUT rebuilds W' from the f32 base every step");
  return {
    method,
    rank,
    alpha: (o.alpha as number | undefined) ?? HALO_PEFT_DEFAULTS.alpha,
    dropout,
    targetModules: parseTargetModules(o['target-modules'] as string | undefined),
    rslora: o.rslora === true,
    seed: o.seed as number,
  };
}
