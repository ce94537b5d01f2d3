// Token embedding from a table kept as raw bf16 bits: a frozen embedding stored as loaded takes half the
// memory of an f32 copy, and only the N rows a batch reads are widened. bf16 is the top half of an f32, so
// widening is a 16-bit shift of the bits: exact, NaN payloads included, and equal to decoding the whole
// table and then nn's embeddingForward.
import { HaloError } from '../core/errors.ts';
import { checkDims, checkLen } from '../nn/ops/check.ts';
import { checkTokenIds } from '../nn/ops/embedding.ts';

/**
 * out[n, :] = f32(wte[ids[n], :]).
 * @param ids [N] token ids, each in [0, V)
 * @param wte [V, C] bf16 bits
 * @param out [N, C] optional output buffer
 * @returns   [N, C] f32
 */
export function embeddingForwardBf16(ids: Int32Array, wte: Uint16Array, V: number, C: number, out?: Float32Array): Float32Array {
  const op = 'embeddingForwardBf16';
  const N = ids.length;
  checkDims(op, { V, C });
  if (!(wte instanceof Uint16Array)) throw new HaloError('E_DTYPE', `${op}: wte must be a Uint16Array of bf16 bits, got a ${(wte as object).constructor.name}`);
  checkLen(op, 'wte', wte, V * C, '[V, C]');
  checkTokenIds(op, ids, V);
  if (out !== undefined) {
    if (!(out instanceof Float32Array)) throw new HaloError('E_DTYPE', `${op}: out must be a Float32Array, got a ${(out as object).constructor.name}`);
    checkLen(op, 'out', out, N * C, '[N, C]');
  }
  const y = out ?? new Float32Array(N * C);
  const bits = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let n = 0; n < N; n++) {
    const src = ids[n] * C;
    const dst = n * C;
    for (let c = 0; c < C; c++) bits[dst + c] = wte[src + c] << 16;
  }
  return y;
}
