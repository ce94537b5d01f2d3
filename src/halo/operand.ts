// A GEMM operand is either a float matrix or a quantized one (codes + scales). `gemm` multiplies two of
// them through the backend's matmulT contract (α·A·Bᵀ), taking the integer/low-precision path whenever the
// scales factor out of the sum — per-tensor scales always do, per-row scales of A's and B's rows do — and
// the simulated path (dequantize, float GEMM) otherwise or when emulating.
import type { Backend, FloatTensor } from '../backend/backend.ts';
import type { Quantized } from '../quant/index.ts';

export type Operand = { kind: 'float'; t: FloatTensor } | { kind: 'quant'; q: Quantized };

export const floatOperand = (t: FloatTensor): Operand => ({ kind: 'float', t });
export const quantOperand = (q: Quantized): Operand => ({ kind: 'quant', q });

export function operandShape(op: Operand): readonly number[] {
  return op.kind === 'float' ? op.t.shape : op.q.q.shape;
}

/** Bytes an operand occupies (codes + scales), for memory accounting of saved activations. */
export function operandBytes(op: Operand): number {
  return op.kind === 'float' ? op.t.bytes : op.q.q.bytes + op.q.scales.byteLength;
}

export function toFloat(be: Backend, op: Operand): FloatTensor {
  return op.kind === 'float' ? op.t : be.dequantize(op.q, 'f32');
}

/**
 * The transpose of an operand. Per-tensor codes transpose exactly (one scale); per-row or per-block scales
 * would become column scales, which no quantized GEMM can factor out, so those are dequantized first.
 */
export function transposeOperand(be: Backend, op: Operand): Operand {
  if (op.kind === 'float') return floatOperand(be.transpose(op.t));
  if (op.q.granularity === 'tensor') return quantOperand({ ...op.q, q: be.transpose(op.q.q) });
  return floatOperand(be.transpose(be.dequantize(op.q, 'f32')));
}

/** out [M,N] = A [M,K] · B [N,K]ᵀ with both operands' scales applied. */
export function gemm(be: Backend, a: Operand, b: Operand, emulate = false): FloatTensor {
  if (a.kind === 'float' && b.kind === 'float') return be.matmulT(a.t, b.t, 1);
  if (a.kind === 'quant' && b.kind === 'quant' && !emulate && a.q.format === b.q.format) {
    const qa = a.q;
    const qb = b.q;
    if (qa.granularity === 'tensor' && qb.granularity === 'tensor') {
      return be.matmulT(qa.q, qb.q, qa.scales[0] * qb.scales[0]);
    }
    if (qa.granularity !== 'block32' && qb.granularity !== 'block32') {
      const out = be.matmulT(qa.q, qb.q, 1);
      scaleRowsCols(out, qa.granularity === 'row' ? qa.scales : null, qb.granularity === 'row' ? qb.scales : null, qa.scales[0], qb.scales[0]);
      return out;
    }
  }
  return be.matmulT(toFloat(be, a), toFloat(be, b), 1);
}

/** out[m,n] *= sa[m]·sb[n] (a null vector means the single per-tensor scale). */
function scaleRowsCols(out: FloatTensor, sa: Float32Array | null, sb: Float32Array | null, sa0: number, sb0: number): void {
  const [m, n] = out.dims2('GEMM output');
  const d = out.data;
  for (let i = 0; i < m; i++) {
    const ra = sa ? sa[i] : sa0;
    for (let j = 0; j < n; j++) d[i * n + j] *= ra * (sb ? sb[j] : sb0);
  }
}
