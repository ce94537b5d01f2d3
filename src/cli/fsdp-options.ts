// The sharded data-parallel flags of `halo finetune` (--fsdp, --hq-fsdp, --gather-dtype) and loading the model
// for them. Run as `mpirun -np N halo finetune … --hq-fsdp`; without mpirun they run as a 1-rank job.
import { HaloError } from '../core/errors.ts';
import type { FsdpMode } from '../dist/fsdp.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';

export const FSDP_OPTIONS: readonly OptionSpec[] = [
  { name: 'fsdp', type: 'boolean', help: 'shard weights, gradients and AdamW state by rows across mpirun ranks; gather weights in full precision' },
  {
    name: 'hq-fsdp',
    type: 'boolean',
    help: "as --fsdp, but gather each layer's projection weights as rotated 8-bit codes (HALO HQ-FSDP; needs an 8-bit --format)",
  },
  { name: 'gather-dtype', type: 'string', help: 'with --fsdp: precision of the weight all-gathers (default fp32)', choices: ['fp32', 'bf16'] },
];

/** The FSDP mode the flags ask for, or null (then --gather-dtype must not be given). */
export function fsdpModeFrom(o: ParsedOptions, withPeft: boolean): FsdpMode | null {
  if (o.fsdp && o['hq-fsdp']) throw new HaloError('E_ARG', '--fsdp and --hq-fsdp exclude each other: --hq-fsdp is FSDP with 8-bit weight gathers');
  if (o['gather-dtype'] !== undefined && !o.fsdp) throw new HaloError('E_ARG', '--gather-dtype applies to --fsdp only (--hq-fsdp gathers 8-bit codes)');
  const mode: FsdpMode | null = o['hq-fsdp'] ? 'hq' : o.fsdp ? (o['gather-dtype'] === 'bf16' ? 'bf16' : 'fp32') : null;
  if (mode && withPeft) throw new HaloError('E_UNSUPPORTED', '--fsdp/--hq-fsdp with --peft is not supported: adapters are small, train them in one process');
  return mode;
}

// Loading for FSDP lives in src/dist/load-fsdp.ts (the API loads with it too).
export { loadFsdpLlama } from '../dist/load-fsdp.ts';
