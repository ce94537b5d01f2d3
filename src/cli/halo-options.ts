// The flags every command that runs a model shares: HALO level/format/granularity/Hadamard block and the
// backend, plus FILE[:FROM:TO] row ranges for datasets.
import { backendNames } from '../backend/select.ts';
import { HaloError } from '../core/errors.ts';
import { DEFAULT_MAX_LINE_BYTES } from '../data/jsonl.ts';
import { FORMATS, haloConfig, LEVELS, type Format, type HaloConfig, type Level } from '../halo/config.ts';
import { GRANULARITIES, type Granularity } from '../quant/index.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';

export const HALO_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'level',
    type: 'string',
    help: "where Hadamard rotations go (none = full precision; switchback, jetfire = the paper's baselines)",
    default: 'halo2',
    choices: LEVELS,
  },
  { name: 'format', type: 'string', help: 'precision of the linear-layer matmul operands', default: 'int8', choices: FORMATS },
  { name: 'granularity', type: 'string', help: 'quantizer scale granularity', default: 'tensor', choices: GRANULARITIES },
  { name: 'hadamard-block', type: 'string', help: "channel rotation: 'auto', 'full' or a block size", default: 'auto' },
  {
    name: 'lm-head',
    type: 'string',
    help: "lm_head GEMMs: f32, or bf16 operands with f32 accumulation as HALO's reference and PyTorch autocast run it; auto = bf16 when the linears are low precision, f32 for --level none --format fp32",
    default: 'auto',
    choices: ['auto', 'f32', 'bf16'],
  },
  { name: 'backend', type: 'string', help: 'kernel backend (default: native if built, else reference; or HALO_BACKEND)', choices: backendNames() },
];

export function haloConfigFromOptions(o: ParsedOptions): HaloConfig {
  const blockArg = String(o['hadamard-block'] ?? 'auto');
  let hadamardBlock: HaloConfig['hadamardBlock'];
  if (blockArg === 'auto' || blockArg === 'full') hadamardBlock = blockArg;
  else if (/^\d+$/.test(blockArg) && Number(blockArg) > 0) hadamardBlock = Number(blockArg);
  else throw new HaloError('E_ARG', `--hadamard-block takes auto, full or a positive integer, got '${blockArg}'`);
  return haloConfig({
    level: o.level as Level,
    format: o.format as Format,
    granularity: o.granularity as Granularity,
    hadamardBlock,
    ...(o['lm-head'] === 'bf16' || o['lm-head'] === 'f32' ? { lmHead: o['lm-head'] } : {}),
  });
}

/** The flag of every command that reads JSONL data: a longer line is a bad line (src/data/jsonl.ts). */
export const MAX_LINE_BYTES_OPTION: OptionSpec = {
  name: 'max-line-bytes',
  type: 'int',
  default: DEFAULT_MAX_LINE_BYTES,
  help: 'a JSONL line longer than this many bytes is a bad line (an error; skipped and counted with --skip-bad-lines where there is one)',
};

/** --max-line-bytes, checked. */
export function maxLineBytesFrom(o: ParsedOptions): number {
  const v = (o['max-line-bytes'] as number | undefined) ?? DEFAULT_MAX_LINE_BYTES;
  if (!(v >= 1)) throw new HaloError('E_ARG', `--max-line-bytes must be at least 1, got ${v}`);
  return v;
}

// FILE[:FROM:TO] data specs live in src/data/data-specs.ts (the API reads them too); re-exported for the commands.
export { readDataSpecs, splitSpec } from '../data/data-specs.ts';
