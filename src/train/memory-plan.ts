// The memory a fine-tuning run will need, estimated from config.json and the run's settings before any weight
// is read, so that a run that cannot fit is refused in seconds with the flag that would make it fit instead of
// being killed by the OOM killer an hour into loading. Each item is what the code actually allocates:
//   weights       f32 master copies (4 B/param); a frozen LoRA base kept as codes: 1 B per projection weight
//   weight codes  the rotated 8-bit copies the HALO linears multiply with, made once per optimizer step
//   gradients     f32, trainable parameters only (--grad-dtype bf16, full fine-tuning: 2 B for the 2-D tensors)
//   optimizer     AdamW's two f32 moments (8 B per trainable parameter), or with --optimizer adamw8bit/adamw-fp8
//                 two 1-byte codes + 8 B of scales per block for tensors of 4096 values or more
//   activations   what one decoder block's forward keeps for its backward (src/models/llama.ts LayerTape), times
//                 the blocks (or only the blocks' inputs plus one block, with activation checkpointing)
//   work          the largest transient buffers of a step: a block's backward and the chunked head/loss
//   runtime       Node, V8, the addon and oneDNN's primitives
// The estimate is compared with measured peak RSS in docs/scaling.md (`halo bench model` prints both).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { HaloError } from '../core/errors.ts';
import { headPrecisionOf, operandFormat, type HaloConfig } from '../halo/config.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { expectedTensors } from '../io/hf-folder.ts';
import { defaultChunkTokens, DW_SLICE_BYTES } from '../models/head-loss.ts';
import { describeOptimizer, optimizerStateBytes, type OptimizerChoice } from '../optim/optimizer.ts';

export interface PlanSettings {
  halo: HaloConfig;
  /** full: every weight trains; lora/hut: adapters on a frozen base. */
  mode: 'full' | 'lora' | 'hut';
  /** Adapter rank (PEFT). */
  rank?: number;
  /** Frozen base projections as 8-bit codes only (LoRA with a quantized format). */
  base8bit?: boolean;
  batchSize: number;
  seqLen: number;
  gradCheckpointing: boolean;
  /** Storage dtype of the checkpoint: a frozen embedding / head of a bf16 one stays bf16 with base8bit. */
  checkpointDtype?: string;
  /** The optimizer (default adamw): its state is counted per trainable tensor. */
  optimizer?: OptimizerChoice;
  /** --grad-dtype (default f32): bf16 stores the full fine-tune's 2-D tensors' gradients in 2 bytes. */
  gradDtype?: 'f32' | 'bf16';
}

export interface PlanItem {
  name: string;
  bytes: number;
  /** The flags that shrink this item. */
  shrinkWith: string;
}

export interface MemoryPlan {
  items: PlanItem[];
  totalBytes: number;
}

/** Node + V8 heap + the addon and oneDNN, measured on an idle run of a tiny model (about 150 MiB). */
const RUNTIME_BYTES = 160 * 2 ** 20;

export function memoryPlan(c: ModelConfig, s: PlanSettings): MemoryPlan {
  const specs = expectedTensors(c);
  const isProj = (n: string) => /_proj\.weight$/.test(n);
  const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const projParams = specs.filter((t) => isProj(t.name)).reduce((a, t) => a + numel(t.shape), 0);
  const allParams = specs.reduce((a, t) => a + numel(t.shape), 0);
  const quantized = operandFormat(s.halo) !== null;
  const full = s.mode === 'full';
  const C = c.hidden_size;
  const I = c.intermediate_size;
  const V = c.vocab_size;
  const L = c.num_hidden_layers;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  const N = s.batchSize * s.seqLen;

  // Sizes of the trainable tensors (the quantized optimizers keep small ones in f32): every weight, or each
  // adapter's two factors [r, in] and [out, r].
  const trainableSizes: number[] = full ? specs.map((t) => numel(t.shape)) : [];
  if (!full) {
    const r = s.rank ?? 16;
    for (const t of specs) {
      if (!isProj(t.name)) continue;
      trainableSizes.push(r * t.shape[1]!, r * t.shape[0]!);
    }
  }
  const codesOnly = !full && (s.base8bit ?? false) && quantized;
  // Codes per projection weight: one byte per element (a float format keeps the f32 weight itself).
  const codeBytes = quantized ? projParams : 0;
  const tableParams = specs.filter((t) => t.name === 'model.embed_tokens.weight' || t.name === 'lm_head.weight').reduce((a, t) => a + numel(t.shape), 0);
  const tableBytes = codesOnly && s.checkpointDtype === 'bf16' ? 2 : 4;
  const weightBytes = codesOnly ? 4 * (allParams - projParams - tableParams) + tableBytes * tableParams : 4 * allParams;
  const trainable = trainableSizes.reduce((a, n) => a + n, 0);
  const bf16Grads = full && s.gradDtype === 'bf16';
  const gradBytes = bf16Grads ? specs.reduce((a, t) => a + (t.shape.length === 2 ? 2 : 4) * numel(t.shape), 0) : 4 * trainable;

  // One block's saved activations per token (LayerTape): f32 x0, x1, q, k, v, gate, up (+ rstd, lse), and
  // the linears' saved inputs: 8-bit codes when quantized, f32 otherwise (q/k/v share one, gate/up another).
  const savedInputBytes = (quantized ? 1 : 4) * (C + q + C + I);
  // LoRA's tapes keep the f32 inputs of its adapters (the normed x for q/k/v and gate/up, o's and down's input).
  const adapterInputs = full ? 0 : 4 * (2 * C + q + I);
  const tapePerToken = 4 * (2 * C + q + 2 * kv + 2 * I) + savedInputBytes + 4 * (2 + c.num_attention_heads) + adapterInputs;
  const activations = s.gradCheckpointing ? N * (L * 4 * C + tapePerToken) : N * L * tapePerToken;
  // A block's backward holds its tape plus a few [N, max(C, I)] f32 gradients at once; the head's chunk
  // holds its logits (and their bf16 or transposed copy) for chunkRows rows of V, and one dW slice.
  const chunkRows = Math.min(N, defaultChunkTokens(V));
  // A bf16 head on an f32-stored W also holds W's bf16 codes for the head's GEMMs.
  const headCodes = headPrecisionOf(s.halo) === 'bf16' && tableBytes === 4 ? 2 * V * C : 0;
  const work = 4 * N * (3 * I + 4 * C) + 3 * 4 * chunkRows * V + 4 * 2 * N * C + DW_SLICE_BYTES + headCodes;

  const items: PlanItem[] = [
    {
      name: codesOnly ? `weights (8-bit base, ${tableBytes === 2 ? 'bf16' : 'f32'} embeddings)` : 'weights (f32 master copies)',
      bytes: weightBytes + (codesOnly ? codeBytes : 0),
      shrinkWith: full ? '--peft lora' : '',
    },
    { name: 'weight codes (rotated 8-bit, per step)', bytes: codesOnly ? 0 : codeBytes, shrinkWith: full ? '--peft lora' : '' },
    {
      name: bf16Grads ? 'gradients (bf16; norms f32)' : 'gradients (f32)',
      bytes: gradBytes,
      shrinkWith: full ? (bf16Grads ? '--peft lora' : '--grad-dtype bf16, --peft lora') : '',
    },
    optimizerItem(s.optimizer ?? { kind: 'adamw' }, trainableSizes, full),
    {
      name: `activations (${N} tokens${s.gradCheckpointing ? ', checkpointed' : ''})`,
      bytes: activations,
      shrinkWith: s.gradCheckpointing ? '--batch-size, --max-seq-len' : '--grad-checkpointing, --batch-size, --max-seq-len',
    },
    { name: 'step work buffers', bytes: work, shrinkWith: `--batch-size, --max-seq-len${headCodes > 0 ? ', --lm-head f32' : ''}` },
    { name: 'runtime (Node, addon, oneDNN)', bytes: RUNTIME_BYTES, shrinkWith: '' },
  ];
  return { items: items.filter((i) => i.bytes > 0), totalBytes: items.reduce((a, i) => a + i.bytes, 0) };
}

function optimizerItem(choice: OptimizerChoice, sizes: readonly number[], full: boolean): PlanItem {
  const name = choice.kind === 'adamw' ? 'optimizer (AdamW moments, f32)' : `optimizer (${describeOptimizer(choice)} moments)`;
  const shrink = [...(choice.kind === 'adamw' ? ['--optimizer adamw8bit'] : []), ...(full ? ['--peft lora'] : [])].join(', ');
  return { name, bytes: optimizerStateBytes(choice, sizes), shrinkWith: shrink };
}

export const GiB = 2 ** 30;
const fmt = (b: number) => (b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(0)} MiB`);

/** The plan as aligned lines, biggest item first. */
export function describePlan(p: MemoryPlan): string {
  const rows = [...p.items].sort((a, b) => b.bytes - a.bytes).map((i) => `  ${fmt(i.bytes).padStart(10)}  ${i.name}`);
  return `memory plan: ${fmt(p.totalBytes)} estimated peak\n${rows.join('\n')}`;
}

/** MemAvailable from /proc/meminfo (what can be allocated without swapping), else os.freemem(). */
export function availableMemory(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

/** Throws a one-line E_MEMORY error naming the biggest item and the flags that shrink it when the plan does not fit. */
export function checkPlanFits(p: MemoryPlan, available = availableMemory()): void {
  if (p.totalBytes <= available) return;
  const biggest = [...p.items].sort((a, b) => b.bytes - a.bytes)[0]!;
  const flags = [
    ...new Set(
      p.items
        .filter((i) => i.shrinkWith)
        .sort((a, b) => b.bytes - a.bytes)
        .flatMap((i) => i.shrinkWith.split(', ')),
    ),
  ];
  throw new HaloError(
    'E_MEMORY',
    `this run needs about ${fmt(p.totalBytes)} but ${fmt(available)} is available; the biggest item is ${biggest.name} (${fmt(biggest.bytes)}); ` +
      `shrink it with ${flags.join(', ') || 'a smaller model'}, or pass --force to try anyway`,
  );
}
