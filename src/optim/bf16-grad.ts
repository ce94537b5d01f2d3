// Gradients stored as bf16 (--grad-dtype bf16): half the bytes of an f32 gradient for the large 2-D tensors
// (projections, embedding, lm_head), which at 1B parameters is 2.3 GB of a full fine-tune's peak.
//
// A gradient is either f32 (FloatArray) or bf16 bits (Uint16Array). Accumulation adds in f32 and rounds the
// sum to bf16 (round to nearest even) once per add, so a sum of k contributions carries up to k bf16
// roundings (relative 2⁻⁹ each); the add runs in the addon (native/src/nn_bf16_grad.cc, the same bits) when it
// is built, whatever the model's backend, since it is the step's largest element-wise pass. The optimizers
// and clipGradNorm read a bf16 gradient chunk by chunk: a chunk is decoded into an f32 scratch and handed to
// the existing f32 kernels, so no f32 copy of a whole tensor is ever made.
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { callAddon, loadAddon, type NativeNnAddon } from '../backend/native/binding.ts';

/** An f32 (or f64, gradient checks) gradient, or bf16 bits. */
export type GradArray = FloatArray | Uint16Array;

export const GRAD_DTYPES = ['f32', 'bf16'] as const;
export type GradDtype = (typeof GRAD_DTYPES)[number];

/** Values decoded per chunk: a multiple of every optimizer block size up to 2¹⁶ (512 KiB of f32 scratch). */
export const GRAD_CHUNK = 1 << 17;

export function isBf16Grad(g: GradArray): g is Uint16Array {
  return g instanceof Uint16Array;
}

/** bf16 bits of an f32 bit pattern, round to nearest even (NaN kept quiet), as src/quant/codecs/bf16.ts. */
function roundBits(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) return ((b >>> 16) | 0x0040) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * g[i] = bf16(f32(g[i]) + x[i]) for i < x.length: the f32 sum of the stored value and the contribution,
 * rounded to bf16 (nearest even). g [n] bf16 bits, x [n] f32.
 */
export function addIntoBf16(g: Uint16Array, x: FloatArray): void {
  if (g.length !== x.length) throw new HaloError('E_SHAPE', `addIntoBf16: the gradient has ${g.length} values but the contribution has ${x.length}`);
  const native = nativeBf16()?.addIntoBf16;
  if (native && x instanceof Float32Array) {
    callAddon(() => native(g, x));
    return;
  }
  addIntoBf16Ts(g, x);
}

/** The TypeScript loop (the oracle of native/src/nn_bf16_grad.cc, bit-identical). */
export function addIntoBf16Ts(g: Uint16Array, x: FloatArray): void {
  // Through a small f32 scratch, plain typed-array loops per slice: ~150–200 M values/s on one core, against
  // the addon's several G/s; at 1B parameters that is seconds per step, hence the native kernel.
  for (let lo = 0; lo < g.length; lo += SLICE) {
    const n = Math.min(SLICE, g.length - lo);
    for (let i = 0; i < n; i++) sBits[i] = g[lo + i]! << 16;
    for (let i = 0; i < n; i++) sF32[i] = sF32[i]! + x[lo + i]!;
    for (let i = 0; i < n; i++) {
      // Int32 bits keep the arithmetic in small integers (a Uint32 above 2³¹ would be a heap double).
      const v = sInt[i]!;
      g[lo + i] = (v & 0x7f800000) === 0x7f800000 && (v & 0x007fffff) !== 0 ? (v >>> 16) | 0x0040 : (v + 0x7fff + ((v >>> 16) & 1)) >>> 16;
    }
  }
}

type Bf16Kernels = Pick<Partial<NativeNnAddon>, 'addIntoBf16' | 'sumSquaresBf16' | 'scaleBf16'>;
let nativeKernels: Bf16Kernels | null | undefined;

/** The addon's bf16 gradient kernels when it is built (each optional: an older addon lacks them); else null. */
function nativeBf16(): Bf16Kernels | null {
  if (nativeKernels === undefined) {
    const a = loadAddon().addon as Partial<NativeNnAddon> | undefined;
    nativeKernels = a ? { addIntoBf16: a.addIntoBf16?.bind(a), sumSquaresBf16: a.sumSquaresBf16?.bind(a), scaleBf16: a.scaleBf16?.bind(a) } : null;
  }
  return nativeKernels;
}

const SLICE = 4096;
const sF32 = new Float32Array(SLICE);
const sBits = new Uint32Array(sF32.buffer);
const sInt = new Int32Array(sF32.buffer);

/** dW [V, C] bf16 += the rows of dout [N, C] at ids [N] (the embedding's backward into a bf16 gradient). */
export function embeddingBackwardBf16(dout: FloatArray, ids: Int32Array, dW: Uint16Array, V: number, C: number): void {
  if (dW.length !== V * C || dout.length !== ids.length * C) {
    throw new HaloError(
      'E_SHAPE',
      `embeddingBackwardBf16: dW has ${dW.length} values (want V·C = ${V * C}), dout ${dout.length} (want N·C = ${ids.length * C})`,
    );
  }
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!;
    if (!(id >= 0 && id < V)) throw new HaloError('E_ARG', `embeddingBackwardBf16: token id ${id} at ${n} is outside [0, ${V})`);
    addIntoBf16(dW.subarray(id * C, id * C + C), dout.subarray(n * C, n * C + C));
  }
}

/** dst[i] = the value of bf16 bits src[i]. */
export function decodeBf16Into(src: Uint16Array, dst: Float32Array): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
}

/**
 * Runs fn over the gradient as f32, in chunks of `chunk` values (offset lo, values g32 [hi − lo]): an f32
 * gradient in one call with itself, a bf16 one decoded chunk by chunk into one scratch buffer.
 */
export function forEachF32Chunk(grad: GradArray, fn: (lo: number, hi: number, g32: FloatArray) => void, chunk = GRAD_CHUNK): void {
  if (!isBf16Grad(grad)) {
    fn(0, grad.length, grad);
    return;
  }
  const scratch = new Float32Array(Math.min(chunk, grad.length));
  for (let lo = 0; lo < grad.length; lo += chunk) {
    const hi = Math.min(grad.length, lo + chunk);
    const g32 = scratch.subarray(0, hi - lo);
    decodeBf16Into(grad.subarray(lo, hi), g32);
    fn(lo, hi, g32);
  }
}

/** s0 + Σ g², accumulated in f64 onto s0 (one running sum over several tensors, as clipGradNorm always did). */
export function gradSumSquares(g: GradArray, s0 = 0): number {
  let s = s0;
  if (isBf16Grad(g)) {
    const native = nativeBf16()?.sumSquaresBf16;
    return native ? callAddon(() => native(g, s0)) : sumSquaresBf16Ts(g, s0);
  } else {
    for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  }
  return s;
}

/** g ← g·coef in place (a bf16 gradient: the f32 product rounded to bf16). */
export function scaleGrad(g: GradArray, coef: number): void {
  if (isBf16Grad(g)) {
    const native = nativeBf16()?.scaleBf16;
    if (native) callAddon(() => native(g, coef));
    else scaleBf16Ts(g, coef);
  } else {
    for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef;
  }
}

/** gradSumSquares' loop on bf16 bits (the oracle of the addon's sumSquaresBf16: the same order, the same f64 sum). */
export function sumSquaresBf16Ts(g: Uint16Array, s0: number): number {
  let s = s0;
  for (let lo = 0; lo < g.length; lo += SLICE) {
    const n = Math.min(SLICE, g.length - lo);
    for (let i = 0; i < n; i++) sBits[i] = g[lo + i]! << 16;
    for (let i = 0; i < n; i++) s += sF32[i]! * sF32[i]!;
  }
  return s;
}

/** scaleGrad's loop on bf16 bits (the oracle of the addon's scaleBf16). */
export function scaleBf16Ts(g: Uint16Array, coef: number): void {
  for (let lo = 0; lo < g.length; lo += SLICE) {
    const n = Math.min(SLICE, g.length - lo);
    for (let i = 0; i < n; i++) sBits[i] = g[lo + i]! << 16;
    for (let i = 0; i < n; i++) sF32[i] = sF32[i]! * coef;
    for (let i = 0; i < n; i++) g[lo + i] = roundBits(sBits[i]!);
  }
}
