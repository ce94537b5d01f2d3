// A GEMM operand is either a float matrix or a quantized one (codes + scales). `gemm` multiplies two of
// them through the backend's matmul contract (α·op(A)·op(B), either operand read transposed in place, so no
// operand is ever copied into the other layout), taking the integer/low-precision path whenever the scales
// factor out of the sum — per-tensor scales always do; per-row scales do when the stored rows are an output
// dimension (A stored [M,K], B stored [N,K]), not when they run along the contraction dimension K — and the
// simulated path (dequantize, float GEMM) otherwise or when emulating.
import type { Backend, FloatTensor, GemmOptions } from '../backend/backend.ts';
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

/** gemm's operand layouts (Backend.matmul's aT/bT) and whether to run the simulated path. */
export type OperandGemmOptions = Pick<GemmOptions, 'aT' | 'bT'> & { emulate?: boolean };

/** out [M,N] = op(A)·op(B) (aT: A stored [K,M]; bT: B stored [N,K]) with both operands' scales applied. */
export function gemm(be: Backend, a: Operand, b: Operand, opts: OperandGemmOptions = {}): FloatTensor {
  const layout = { aT: opts.aT ?? false, bT: opts.bT ?? false };
  if (a.kind === 'float' && b.kind === 'float') return be.matmul(a.t, b.t, layout);
  if (a.kind === 'quant' && b.kind === 'quant' && !opts.emulate && a.q.format === b.q.format) {
    const qa = a.q;
    const qb = b.q;
    if (qa.granularity === 'tensor' && qb.granularity === 'tensor') {
      return be.matmul(qa.q, qb.q, { ...layout, alpha: qa.scales[0] * qb.scales[0] });
    }
    // Row scales are per M (A's rows unless A is given transposed) or per N (B's rows only when B is given
    // transposed); rows along K would scale single products inside the sum.
    const rowsA = qa.granularity === 'row' && !layout.aT;
    const rowsB = qb.granularity === 'row' && layout.bT;
    if ((qa.granularity === 'tensor' || rowsA) && (qb.granularity === 'tensor' || rowsB)) {
      const out = be.matmul(qa.q, qb.q, layout);
      scaleRowsCols(out, rowsA ? qa.scales : null, rowsB ? qb.scales : null, qa.scales[0], qb.scales[0]);
      return out;
    }
  }
  return be.matmul(toFloat(be, a), toFloat(be, b), layout);
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
