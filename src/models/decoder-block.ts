// One Llama / Qwen2 decoder block, written once for training and for decoding:
//   x1 = x0 + o(attention(rope(q(h)), rope(k(h)), v(h))),  h = rmsnorm1(x0)
//   x  = x1 + down(swiglu(gate(h2), up(h2))),               h2 = rmsnorm2(x1)
// Training (llama.ts) runs it over whole sequences and records a tape for blockBackward; decoding
// (llama-decode.ts) runs it over the new positions against KV caches and records nothing. The two differ only
// in how attention gets its keys and values (block-attention.ts), so a decode step follows the training
// forward op for op, on the same backend kernels.
//
// The seven projections are HALO linears (src/halo/linear.ts): quantized and rotated as the HALO config says,
// saving only their 8-bit inputs. q/k/v read the same normalised input, and gate/up too, so that input is
// rotated and quantized once and shared (HALO's code does it three times). Norms, RoPE, attention, SwiGLU and
// the residual adds come from nnKernels(backend) (model.nn): src/nn/ops on the reference backend (the oracle),
// the addon's f32 kernels on the native one. Output adapters (LoRA) add Δ(x) beside their projection; weight
// adapters (HUT) are already inside model.weight().
// https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py
import { floatMatrix, type Backend, type FloatTensor } from '../backend/backend.ts';
import type { NnKernels } from '../backend/nn-kernels.ts';
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import type { HaloConfig } from '../halo/config.ts';
import {
  canSumRotatedInputGrads,
  finishInputGrad,
  linearBackward,
  linearForward,
  prepareInput,
  type LinearSaved,
  type PreparedWeight,
} from '../halo/linear.ts';
import type { RopeTables } from '../nn/ops/rope.ts';
import { addIntoBf16 } from '../optim/bf16-grad.ts';
import type { Adapter } from '../peft/adapter.ts';
import type { BlockAttention, TrainableAttention } from './block-attention.ts';
import { isTrainable, type Param } from './causal-lm.ts';
import type { Dims, LayerNames } from './llama-names.ts';

/** What a block reads from its model (LlamaModel is one). */
export interface BlockModel {
  readonly be: Backend;
  readonly halo: HaloConfig;
  readonly nn: NnKernels;
  readonly dims: Dims;
  readonly names: readonly LayerNames[];
  readonly adapters: ReadonlyMap<string, Adapter>;
  param(name: string): Param;
  /** A parameter the architecture may lack (a bias), or undefined. */
  findParam(name: string): Param | undefined;
  /** A projection's rotated + quantized weight, prepared once per optimizer step. */
  weight(name: string): PreparedWeight;
}

/** The rows one block call runs on: N tokens, their RoPE tables, and how attention gets keys and values. */
export interface BlockRows<A extends BlockAttention = BlockAttention> {
  N: number;
  rope: RopeTables;
  attention: A;
}

/** Everything the forward keeps for the backward of one decoder block. */
export interface LayerTape {
  x0: FloatArray; // [N, C] block input (residual stream)
  rstd1: FloatArray; // [N]
  q: FloatArray; // [N, Hq·D] after RoPE
  k: FloatArray; // [N, Hkv·D] after RoPE
  v: FloatArray; // [N, Hkv·D]
  lse: FloatArray; // [B, Hq, T]
  qkv: [LinearSaved, LinearSaved, LinearSaved];
  o: LinearSaved;
  x1: FloatArray; // [N, C] after the attention residual
  rstd2: FloatArray; // [N]
  gate: FloatArray; // [N, I]
  up: FloatArray; // [N, I]
  gateUp: [LinearSaved, LinearSaved];
  down: LinearSaved;
  adapterTapes: Map<string, unknown>;
}

/**
 * Decoder block l: x0 [N, C] → x [N, C]. With `record`, also what blockBackward needs (the attention must then
 * return lse); without, the tape is null.
 */
export function blockForward(m: BlockModel, l: number, x0: FloatArray, rows: BlockRows, record: boolean): { x: FloatArray; tape: LayerTape | null } {
  const { N, rope, attention } = rows;
  const { C, Hq, Hkv, D, I, eps } = m.dims;
  const { be, halo, nn } = m;
  const n = m.names[l];
  const { y: h, rstd: rstd1 } = nn.rmsnormForward(x0, m.param(n.ln1).data, N, C, eps);
  const adapterTapes = new Map<string, unknown>();
  const adapt = (name: string, x: FloatArray, y: FloatArray) => {
    const a = m.adapters.get(name);
    if (a?.kind !== 'output') return;
    const r = a.forward(x, N);
    accumulate(y, r.y);
    if (record) adapterTapes.set(name, r.tape);
  };
  const shared = prepareInput(be, halo, floatMatrix(h, N, C), m.weight(n.q));
  const [q, k, v] = ([n.q, n.k, n.v] as const).map((name, i) => {
    const r = linearForward(be, halo, shared, m.weight(name));
    const bias = m.findParam(n.qkvBias[i]);
    if (bias) addBias(r.y.data, bias.data, N);
    adapt(name, h, r.y.data);
    return r;
  });
  const qr = nn.ropeForward(q.y.data, rope.cos, rope.sin, N, Hq, D, q.y.data);
  const kr = nn.ropeForward(k.y.data, rope.cos, rope.sin, N, Hkv, D, k.y.data);
  const att = attention.forward(l, qr, kr, v.y.data);
  const o = linearForward(be, halo, floatMatrix(att.out, N, Hq * D), m.weight(n.o));
  const oBias = m.findParam(n.oBias);
  if (oBias) addBias(o.y.data, oBias.data, N);
  adapt(n.o, att.out, o.y.data);
  // The residual sums go into the projections' outputs, which nothing else reads afterwards; the first is
  // fused with the norm that reads it.
  const { x: x1, y: h2, rstd: rstd2 } = nn.addRmsnormForward(x0, o.y.data, m.param(n.ln2).data, N, C, eps, { x: o.y.data });
  const shared2 = prepareInput(be, halo, floatMatrix(h2, N, C), m.weight(n.gate));
  const g = linearForward(be, halo, shared2, m.weight(n.gate));
  const u = linearForward(be, halo, shared2, m.weight(n.up));
  adapt(n.gate, h2, g.y.data);
  adapt(n.up, h2, u.y.data);
  const s = nn.swigluForward(g.y.data, u.y.data);
  const d = linearForward(be, halo, floatMatrix(s, N, I), m.weight(n.down));
  adapt(n.down, s, d.y.data);
  const x = nn.add(x1, d.y.data, d.y.data);
  if (!record) return { x, tape: null };
  if (!att.lse)
    throw new HaloError(
      'E_ARG',
      `blockForward: layer ${l}'s attention kept no lse, so no tape can be recorded; record with an attention that has a backward (sequenceAttention)`,
    );
  return {
    x,
    tape: {
      x0,
      rstd1,
      q: qr,
      k: kr,
      v: v.y.data,
      lse: att.lse,
      qkv: [q.saved, k.saved, v.saved],
      o: o.saved,
      x1,
      rstd2,
      gate: g.y.data,
      up: u.y.data,
      gateUp: [g.saved, u.saved],
      down: d.saved,
      adapterTapes,
    },
  };
}

/**
 * Backward of decoder block l: dx [N, C] at its output → its input's gradient; accumulates its parameters'
 * (and its adapters') gradients. `rows` must be the forward's.
 */
export function blockBackward(m: BlockModel, l: number, t: LayerTape, dx: FloatArray, rows: BlockRows<TrainableAttention>): FloatArray {
  const { N, rope, attention } = rows;
  const { C, Hq, Hkv, D, I } = m.dims;
  const { nn } = m;
  const n = m.names[l];
  // x = x1 + down(swiglu(gate(h2), up(h2))), h2 = norm2(x1)
  const ds = linearGrad(m, n.down, t.down, dx, N, C, t);
  const { dgate, dup } = nn.swigluBackward(ds!, t.gate, t.up);
  const dh2 = sharedInputGrad(m, N, t, [
    { name: n.gate, saved: t.gateUp[0], dy: dgate, out: I },
    { name: n.up, saved: t.gateUp[1], dy: dup, out: I },
  ]);
  const ln2 = m.param(n.ln2);
  const dx1 = nn.rmsnormBackwardAdd(dh2, t.x1, ln2.data, t.rstd2, N, C, ln2.grad, dx, dh2); // + the residual's dx, over dh2
  // x1 = x0 + o(attention(rope(q(h)), rope(k(h)), v(h))), h = norm1(x0)
  const da = linearGrad(m, n.o, t.o, dx1, N, C, t, n.oBias)!;
  const { dq, dk, dv } = attention.backward(da, t.q, t.k, t.v, t.lse);
  nn.ropeBackward(dq, rope.cos, rope.sin, N, Hq, D, dq);
  nn.ropeBackward(dk, rope.cos, rope.sin, N, Hkv, D, dk);
  const dh = sharedInputGrad(m, N, t, [
    { name: n.q, saved: t.qkv[0], dy: dq, out: Hq * D, biasName: n.qkvBias[0] },
    { name: n.k, saved: t.qkv[1], dy: dk, out: Hkv * D, biasName: n.qkvBias[1] },
    { name: n.v, saved: t.qkv[2], dy: dv, out: Hkv * D, biasName: n.qkvBias[2] },
  ]);
  const ln1 = m.param(n.ln1);
  return nn.rmsnormBackwardAdd(dh, t.x0, ln1.data, t.rstd1, N, C, ln1.grad, dx1, dh);
}

/** Backward of one projection: accumulates its weight (and bias) gradient, returns the input gradient. */
function linearGrad(
  m: BlockModel,
  name: string,
  saved: LinearSaved,
  dy: FloatArray,
  N: number,
  out: number,
  tape: LayerTape,
  biasName?: string,
): FloatArray | null {
  const { dx } = projectionGrad(m, { name, saved, dy, out, biasName }, N, tape, false);
  return dx ? dx.data : null;
}

/** One projection's part in a backward: its name, what its forward saved, its output gradient [N, out]. */
interface Projection {
  name: string;
  saved: LinearSaved;
  dy: FloatArray;
  out: number;
  biasName?: string;
}

/**
 * The input gradient of projections that read one prepared input (q/k/v, gate/up), accumulating each one's
 * weight (and bias) gradient. Where the HALO recipe allows (canSumRotatedInputGrads), the GEMM outputs are
 * summed before the undo rotations, which then run once instead of once per projection.
 */
function sharedInputGrad(m: BlockModel, N: number, tape: LayerTape, parts: Projection[]): FloatArray {
  const rotated = canSumRotatedInputGrads(m.halo);
  const grads = parts.map((p) => projectionGrad(m, p, N, tape, rotated));
  const sum = grads[0]!.dx!;
  for (const g of grads.slice(1)) m.nn.addInto(sum.data, g.dx!.data);
  const dx = rotated ? finishInputGrad(m.be, m.halo, parts[0]!.saved, sum).data : sum.data;
  // Output adapters (LoRA) add their own input gradient, which never was in the rotated basis.
  for (const g of grads) if (g.adapterDx) m.nn.addInto(dx, g.adapterDx);
  return dx;
}

/**
 * The HALO backward of one projection; accumulates its weight (and bias) gradient and its weight adapter's.
 * rotatedDx: dx as linearBackward's rotatedDx leaves it, with an output adapter's input gradient apart
 * (adapterDx); otherwise dx includes it.
 */
function projectionGrad(
  m: BlockModel,
  { name, saved, dy, out, biasName }: Projection,
  N: number,
  tape: LayerTape,
  rotatedDx: boolean,
): { dx: FloatTensor | null; adapterDx: FloatArray | null } {
  const p = m.param(name);
  const adapter = m.adapters.get(name);
  const needW = isTrainable(p) || adapter?.kind === 'weight';
  const { dx, dw } = linearBackward(m.be, m.halo, saved, floatMatrix(dy, N, out), { dx: true, dw: needW, rotatedDx });
  if (p.grad && dw) m.nn.addInto(p.grad, dw.data);
  else if (p.gradBf16 && dw) addIntoBf16(p.gradBf16, dw.data);
  if (adapter?.kind === 'weight' && dw) adapter.backward(p.data, dw.data);
  let adapterDx: FloatArray | null = null;
  if (adapter?.kind === 'output' && dx) {
    adapterDx = adapter.backward(tape.adapterTapes.get(name), dy, N);
    if (!rotatedDx) {
      accumulate(dx.data, adapterDx);
      adapterDx = null;
    }
  }
  const bias = biasName ? m.findParam(biasName) : undefined;
  if (bias?.grad) columnSums(dy, N, out, bias.grad);
  return { dx, adapterDx };
}

function accumulate(into: FloatArray, src: FloatArray): void {
  for (let i = 0; i < into.length; i++) into[i] += src[i];
}

function addBias(y: FloatArray, bias: FloatArray, N: number): void {
  const F = bias.length;
  for (let n = 0; n < N; n++) for (let f = 0; f < F; f++) y[n * F + f] += bias[f];
}

function columnSums(dy: FloatArray, N: number, F: number, into: FloatArray): void {
  for (let n = 0; n < N; n++) for (let f = 0; f < F; f++) into[f] += dy[n * F + f];
}
