// Fused log-softmax + negative log-likelihood over the vocabulary, as LlamaForCausalLM's loss (F.cross_entropy
// with ignore_index −100, reduction mean over the counted tokens). Targets are already shifted: row n of
// logits predicts targets[n]. Each row is max-subtracted before exp, and the loss is summed in a JS number
// (f64), so a large vocabulary in f32 neither overflows nor loses the small per-token terms.
// Saves lse [N] (logsumexp of each row): backward is then one pass, softmax = exp(logit − lse), with no
// second reduction. The logits themselves are the caller's (they can be overwritten in place by dlogits,
// which for a 128k vocabulary is the single largest buffer of a step). Extra memory: N floats.
import { HaloError } from '../../core/errors.ts';
import type { FloatArray } from '../../core/dtype.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from './check.ts';

export const IGNORE_INDEX = -100;

export interface CrossEntropyOptions {
  /** target value meaning "no loss here" (default −100, transformers' ignore_index) */
  ignoreIndex?: number;
  /** [N] extra mask: 0 = ignore this row (e.g. prompt tokens), nonzero = count it */
  mask?: Uint8Array | null;
}

export interface CrossEntropyOut {
  /** mean loss over counted rows (0 when none is counted) */
  loss: number;
  /** sum of per-token losses over counted rows */
  lossSum: number;
  /** number of counted rows */
  count: number;
  /** [N] logsumexp of each logits row, saved for backward */
  lse: FloatArray;
}

/**
 * @param logits  [N, V] unnormalised scores
 * @param targets [N] class of each row, or ignoreIndex
 * @param lseOut  [N] optional buffer for the saved logsumexp
 */
export function crossEntropyForward(
  logits: FloatArray,
  targets: Int32Array,
  N: number,
  V: number,
  opts: CrossEntropyOptions = {},
  lseOut?: FloatArray,
): CrossEntropyOut {
  const op = 'crossEntropyForward';
  checkCrossEntropyArgs(op, logits, targets, N, V, opts);
  const ignore = opts.ignoreIndex ?? IGNORE_INDEX;
  const mask = opts.mask ?? null;
  const lse = outBuffer(op, 'lse', lseOut, logits, N, '[N]');
  let lossSum = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    const o = n * V;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[o + i] > max) max = logits[o + i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[o + i] - max);
    const l = max + Math.log(sum);
    lse[n] = l;
    if (counted(targets[n], ignore, mask, n)) {
      lossSum += l - logits[o + targets[n]];
      count++;
    }
  }
  if (!Number.isFinite(lossSum)) {
    throw new HaloError('E_NUMERIC', `${op}: loss is ${lossSum}; the logits contain NaN or ±Infinity (check the learning rate or the input data)`);
  }
  return { loss: count > 0 ? lossSum / count : 0, lossSum, count, lse };
}

/**
 * dlogits[n, i] = (softmax(logits[n])_i − [i = target_n]) / normalizer for counted rows, 0 for ignored rows.
 * WRITES dlogits (which may be the logits buffer itself, saving N·V floats).
 * @param logits  [N, V] the forward's logits
 * @param targets [N] the forward's targets
 * @param lse     [N] saved by the forward
 * @param normalizer divides every gradient: default the count of this call's counted rows (the gradient of
 *                the mean); pass the counted tokens of the whole optimizer step when accumulating micro-batches
 * @param dlogits [N, V] optional output buffer
 * @returns dlogits [N, V]
 */
export function crossEntropyBackward(
  logits: FloatArray,
  targets: Int32Array,
  lse: FloatArray,
  N: number,
  V: number,
  opts: CrossEntropyOptions & { normalizer?: number } = {},
  dlogits?: FloatArray,
): FloatArray {
  const op = 'crossEntropyBackward';
  const { ignore, mask, norm } = checkCrossEntropyBackwardArgs(op, logits, targets, lse, N, V, opts);
  const g = outBuffer(op, 'dlogits', dlogits, logits, N * V, '[N, V]');
  const inv = norm > 0 ? 1 / norm : 0;
  for (let n = 0; n < N; n++) {
    const o = n * V;
    if (!counted(targets[n], ignore, mask, n)) {
      g.fill(0, o, o + V);
      continue;
    }
    const l = lse[n];
    for (let i = 0; i < V; i++) g[o + i] = Math.exp(logits[o + i] - l) * inv;
    g[o + targets[n]] -= inv;
  }
  return g;
}

function counted(target: number, ignore: number, mask: Uint8Array | null, n: number): boolean {
  return target !== ignore && (mask === null || mask[n] !== 0);
}

/**
 * The backward's checks (shared with the native kernels), and what it needs from `opts`: the ignore index,
 * the mask, and the divisor (`opts.normalizer`, checked, else the count of this call's counted rows).
 */
export function checkCrossEntropyBackwardArgs(
  op: string,
  logits: FloatArray,
  targets: Int32Array,
  lse: FloatArray,
  N: number,
  V: number,
  opts: CrossEntropyOptions & { normalizer?: number },
): { ignore: number; mask: Uint8Array | null; norm: number } {
  checkCrossEntropyArgs(op, logits, targets, N, V, opts);
  checkLen(op, 'lse', lse, N, '[N]');
  checkSameFloat(op, logits, { lse });
  return { ignore: opts.ignoreIndex ?? IGNORE_INDEX, mask: opts.mask ?? null, norm: crossEntropyNormalizer(op, targets, N, opts) };
}

function crossEntropyNormalizer(op: string, targets: Int32Array, N: number, opts: CrossEntropyOptions & { normalizer?: number }): number {
  const norm = opts.normalizer;
  if (norm !== undefined) {
    if (!(norm > 0) || !Number.isFinite(norm)) {
      throw new HaloError('E_ARG', `${op}: normalizer must be a positive finite number (the counted tokens of the step), got ${norm}`);
    }
    return norm;
  }
  const ignore = opts.ignoreIndex ?? IGNORE_INDEX;
  const mask = opts.mask ?? null;
  let count = 0;
  for (let n = 0; n < N; n++) if (counted(targets[n], ignore, mask, n)) count++;
  return count;
}

/** Shapes, and every target a vocabulary index or the ignore index (shared with the native kernels). */
export function checkCrossEntropyArgs(op: string, logits: FloatArray, targets: Int32Array, N: number, V: number, opts: CrossEntropyOptions): void {
  checkDims(op, { N, V });
  checkLen(op, 'logits', logits, N * V, '[N, V]');
  checkLen(op, 'targets', targets, N, '[N]');
  if (opts.mask) checkLen(op, 'mask', opts.mask, N, '[N]');
  const ignore = opts.ignoreIndex ?? IGNORE_INDEX;
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (t !== ignore && (t < 0 || t >= V)) {
      throw new HaloError('E_ARG', `${op}: target ${t} at row ${n} is outside the vocabulary [0, ${V}) and is not the ignore index ${ignore}`);
    }
  }
}
