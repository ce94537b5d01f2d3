// Token embedding (torch.nn.Embedding as used by LlamaModel.embed_tokens): forward gathers rows of the table,
// backward scatter-adds the output gradient back into the rows that were read. Saves nothing: backward needs
// only the ids, which the caller already has.
import { HaloError } from '../../core/errors.ts';
import type { FloatArray } from '../../core/dtype.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from './check.ts';

/**
 * out[n, :] = wte[ids[n], :].
 * @param ids  [N] token ids, each in [0, V)
 * @param wte  [V, C] embedding table
 * @param out  [N, C] optional output buffer (allocated when omitted)
 * @returns    [N, C]
 */
export function embeddingForward(ids: Int32Array, wte: FloatArray, V: number, C: number, out?: FloatArray): FloatArray {
  const op = 'embeddingForward';
  const N = ids.length;
  checkDims(op, { V, C });
  checkLen(op, 'wte', wte, V * C, '[V, C]');
  checkTokenIds(op, ids, V);
  const y = outBuffer(op, 'out', out, wte, N * C, '[N, C]');
  for (let n = 0; n < N; n++) y.set(wte.subarray(ids[n] * C, ids[n] * C + C), n * C);
  return y;
}

/**
 * dwte[ids[n], :] += dout[n, :] — ACCUMULATES (a repeated id sums its rows; tied lm_head grads add on top).
 * @param dout [N, C] gradient of the output
 * @param ids  [N] the ids the forward used
 * @param dwte [V, C] table gradient, accumulated into
 */
export function embeddingBackward(dout: FloatArray, ids: Int32Array, dwte: FloatArray, V: number, C: number): void {
  const op = 'embeddingBackward';
  const N = ids.length;
  checkDims(op, { V, C });
  checkLen(op, 'dout', dout, N * C, '[N, C]');
  checkLen(op, 'dwte', dwte, V * C, '[V, C]');
  checkSameFloat(op, dout, { dwte });
  checkTokenIds(op, ids, V);
  for (let n = 0; n < N; n++) {
    const src = n * C;
    const dst = ids[n] * C;
    for (let c = 0; c < C; c++) dwte[dst + c] += dout[src + c];
  }
}

/** Every id in [0, V) (shared with the native kernels). */
export function checkTokenIds(op: string, ids: Int32Array, V: number): void {
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id < 0 || id >= V) {
      throw new HaloError(
        'E_ARG',
        `${op}: token id ${id} at position ${n} is outside the vocabulary [0, ${V}); the tokenizer and the model's vocab_size (${V}) disagree`,
      );
    }
  }
}
