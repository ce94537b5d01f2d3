// A checkpoint's optimizer.safetensors: an optimizer state (src/optim/optimizer.ts) as named tensors and back.
//   m.NAME, v.NAME     f32 moments (adamw; the small tensors of the quantized kinds)
//   qm.NAME, qv.NAME   8-bit codes of a quantized tensor's moments (stored as I8: the same bytes; halo's dtype
//                      table has no u8), indices into the optimizer's code maps
//   sm.NAME, sv.NAME   their f32 absmax per block
// Metadata: step; and for the quantized kinds optimizer (the kind) and block. An adamw file has only `step`, as
// before the quantized kinds existed, so its bytes are unchanged and older checkpoints read as adamw's.
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import { OPTIMIZER_KINDS, type OptimizerKind, type OptimizerState } from '../optim/optimizer.ts';
import type { QuantizedMoments } from '../optim/adamw8bit.ts';
import type { FloatArray } from '../core/dtype.ts';

export function optimizerTensors(s: OptimizerState): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const f32 = (a: FloatArray) => new Tensor([a.length], 'f32', a instanceof Float32Array ? a : Float32Array.from(a));
  const codes = (a: Uint8Array) => new Tensor([a.length], 'i8', new Int8Array(a.buffer, a.byteOffset, a.length));
  const tensors = new Map<string, Tensor>();
  for (const [n, a] of Object.entries(s.m)) tensors.set(`m.${n}`, f32(a));
  for (const [n, a] of Object.entries(s.v)) tensors.set(`v.${n}`, f32(a));
  for (const [n, q] of Object.entries(s.quantized ?? {})) {
    tensors.set(`qm.${n}`, codes(q.m));
    tensors.set(`qv.${n}`, codes(q.v));
    tensors.set(`sm.${n}`, f32(q.mScale));
    tensors.set(`sv.${n}`, f32(q.vScale));
  }
  const metadata: Record<string, string> = { step: String(s.step) };
  if (s.kind !== undefined) {
    metadata.optimizer = s.kind;
    metadata.block = String(s.block);
  }
  return { tensors, metadata };
}

/** The state stored by optimizerTensors; E_FORMAT naming `file` for a tensor or field that does not fit. */
export function optimizerFromTensors(
  tensors: ReadonlyMap<string, Tensor>,
  metadata: Readonly<Record<string, string>> | null,
  fallbackStep: number,
  file: string,
): OptimizerState {
  const step = Number(metadata?.step ?? fallbackStep);
  const kindName = metadata?.optimizer ?? 'adamw';
  if (!(OPTIMIZER_KINDS as readonly string[]).includes(kindName))
    throw new HaloError('E_FORMAT', `${file}: unknown optimizer '${kindName}' (known: ${OPTIMIZER_KINDS.join(', ')})`);
  const kind = kindName as OptimizerKind;
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  const parts: Record<string, Partial<QuantizedMoments>> = {};
  for (const [key, t] of tensors) {
    const dot = key.indexOf('.');
    const prefix = key.slice(0, dot);
    const name = key.slice(dot + 1);
    const want = prefix === 'qm' || prefix === 'qv' ? 'i8' : 'f32';
    if (dot < 0 || !['m', 'v', 'qm', 'qv', 'sm', 'sv'].includes(prefix))
      throw new HaloError('E_FORMAT', `${file}: unexpected tensor '${key}' (want m., v., qm., qv., sm. or sv. and a parameter name)`);
    if (t.dtype !== want) throw new HaloError('E_FORMAT', `${file}: ${key} is ${t.dtype}, want ${want}`);
    if (prefix === 'm') m[name] = t.data as Float32Array;
    else if (prefix === 'v') v[name] = t.data as Float32Array;
    else {
      const q = (parts[name] ??= {});
      const d = t.data as Int8Array | Float32Array;
      if (prefix === 'qm') q.m = new Uint8Array(d.buffer, d.byteOffset, d.length);
      else if (prefix === 'qv') q.v = new Uint8Array(d.buffer, d.byteOffset, d.length);
      else if (prefix === 'sm') q.mScale = d as Float32Array;
      else q.vScale = d as Float32Array;
    }
  }
  if (kind === 'adamw') {
    if (Object.keys(parts).length) throw new HaloError('E_FORMAT', `${file}: 8-bit moments in an adamw optimizer state (no 'optimizer' in its metadata)`);
    return { step, m, v };
  }
  const block = Number(metadata?.block);
  if (!(Number.isInteger(block) && block >= 1))
    throw new HaloError('E_FORMAT', `${file}: optimizer ${kind} needs a positive integer 'block' in its metadata, got ${metadata?.block}`);
  const quantized: Record<string, QuantizedMoments> = {};
  for (const [name, q] of Object.entries(parts)) {
    if (!q.m || !q.v || !q.mScale || !q.vScale) throw new HaloError('E_FORMAT', `${file}: the 8-bit moments of '${name}' lack some of qm., qv., sm., sv.`);
    quantized[name] = q as QuantizedMoments;
  }
  return { step, m, v, kind, block, quantized };
}
