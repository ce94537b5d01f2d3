// The optimizer flags of `halo finetune`, `halo pretrain` and `halo bench model` (--optimizer, --optim-block):
// f32 AdamW, or AdamW with block-wise 8-bit / FP8 moments (src/optim/optimizer.ts); and --grad-dtype, the
// gradients' storage between the backward and the optimizer (src/optim/bf16-grad.ts).
import { HaloError } from '../core/errors.ts';
import { DEFAULT_BLOCK } from '../optim/adamw8bit.ts';
import { GRAD_DTYPES, type GradDtype } from '../optim/bf16-grad.ts';
import { OPTIMIZER_KINDS, type OptimizerChoice, type OptimizerKind } from '../optim/optimizer.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';

export const OPTIMIZER_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'optimizer',
    type: 'string',
    default: 'adamw',
    choices: OPTIMIZER_KINDS,
    help: 'adamw: f32 moments (8 B/param); adamw8bit: block-wise 8-bit moments, dynamic code map (2 B/param); adamw-fp8: E4M3 moments. Tensors under 4096 values keep f32 moments',
  },
  {
    name: 'optim-block',
    type: 'int',
    help: `values per absmax scale of the 8-bit moments (default ${DEFAULT_BLOCK.adamw8bit} for adamw8bit, ${DEFAULT_BLOCK['adamw-fp8']} for adamw-fp8)`,
  },
  {
    name: 'grad-dtype',
    type: 'string',
    default: 'f32',
    choices: GRAD_DTYPES,
    help: 'f32, or bf16: the gradients of the 2-D weights (projections, embedding, lm_head) kept as bf16, half the bytes (norms stay f32); full fine-tuning without FSDP',
  },
];

/** --grad-dtype (E_UNSUPPORTED for bf16 with --fsdp/--hq-fsdp or --peft: their gradients are f32). */
export function gradDtypeFrom(o: ParsedOptions): GradDtype {
  const dtype = (o['grad-dtype'] as GradDtype | undefined) ?? 'f32';
  if (dtype === 'bf16' && (o.fsdp === true || o['hq-fsdp'] === true)) {
    throw new HaloError('E_UNSUPPORTED', '--grad-dtype bf16 does not run with --fsdp/--hq-fsdp (their gradient shards are f32); use --grad-dtype f32');
  }
  if (dtype === 'bf16' && typeof o.peft === 'string') {
    throw new HaloError('E_UNSUPPORTED', `--grad-dtype bf16 applies to full fine-tuning; --peft ${o.peft} trains small f32 adapters, drop --grad-dtype`);
  }
  return dtype;
}

/** The choice the flags ask for (E_ARG for a bad block size; E_UNSUPPORTED for a quantized kind with FSDP). */
export function optimizerChoiceFrom(o: ParsedOptions): OptimizerChoice {
  const kind = (o.optimizer as OptimizerKind | undefined) ?? 'adamw';
  // Quantized moments are per block of a whole tensor; FSDP's row shards would cut the blocks.
  if (kind !== 'adamw' && (o.fsdp === true || o['hq-fsdp'] === true))
    throw new HaloError('E_UNSUPPORTED', `--optimizer ${kind} does not run with --fsdp/--hq-fsdp yet; use --optimizer adamw`);
  const block = o['optim-block'] as number | undefined;
  if (block !== undefined) {
    if (kind === 'adamw') throw new HaloError('E_ARG', '--optim-block applies to --optimizer adamw8bit or adamw-fp8 (adamw keeps f32 moments)');
    if (!(Number.isInteger(block) && block >= 1 && block <= 1 << 20))
      throw new HaloError('E_ARG', `--optim-block must be an integer in [1, 1048576], got ${block}`);
  }
  return { kind, block };
}
