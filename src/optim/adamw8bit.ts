// AdamW with block-wise quantized moments (Dettmers et al., "8-bit Optimizers via Block-wise Quantization",
// 2022; bitsandbytes' AdamW8bit): m and v of every large tensor are stored as one byte per value — the index of
// the nearest value in a 256-entry code map (src/optim/code-maps.ts) — plus one f32 absmax per block of
// `block` values. A step of one block dequantizes both moments, takes the AdamW step of src/optim/adamw.ts in
// f32 arithmetic (the weight update read from the new moments), then re-scales the block by its new absmax and
// stores each moment as the code nearest to moment/absmax. 2 bytes + 8/block per value instead of adamw's 8.
//
// Tensors under MIN_QUANTIZED values (norms, biases) keep f32 moments and the plain AdamW update, as
// bitsandbytes does: they are a rounding error of the memory and the most sensitive to noise.
//
// adamwBlockUpdate below is the oracle, written as the obvious loop; the native kernel
// (native/src/nn_adamw8bit.cc, through nnKernels(backend).adamwBlockUpdate) is bit-identical to it.
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { AdamW, adamwHyper, checkOptimParams, span, type AdamWConfig, type AdamWHyper, type AdamWState, type OptimParam } from './adamw.ts';
import { forEachF32Chunk, GRAD_CHUNK } from './bf16-grad.ts';
import { codeThresholds, momentMaps, nearestCode, type CodeMapKind, type MomentMaps } from './code-maps.ts';

/** Tensors with fewer values keep f32 moments (bitsandbytes' min_8bit_size). */
export const MIN_QUANTIZED = 4096;

/** One tensor's quantized moments: codes [N] and per-block absmax scales [ceil(N / block)]. */
export interface QuantizedMoments {
  m: Uint8Array;
  v: Uint8Array;
  mScale: Float32Array;
  vScale: Float32Array;
}

export function emptyQuantizedMoments(n: number, block: number): QuantizedMoments {
  const nb = Math.ceil(n / block);
  // Scale 0 makes every code dequantize to 0: the zero moments of step 0.
  return { m: new Uint8Array(n), v: new Uint8Array(n), mScale: new Float32Array(nb), vScale: new Float32Array(nb) };
}

const thresholdCache = new WeakMap<Float32Array, Float64Array>();
function thresholdsOf(map: Float32Array): Float64Array {
  let t = thresholdCache.get(map);
  if (!t) thresholdCache.set(map, (t = codeThresholds(map)));
  return t;
}

const FLT_MIN = 2 ** -126;
/** 1/absmax as an f32; below the smallest normal f32 (where it would overflow) 1/FLT_MIN. A zero block then codes 0 as 0. */
function reciprocal(absmax: number): number {
  return Math.fround(1 / Math.max(absmax, FLT_MIN));
}

/** Throws E_SHAPE unless q fits a tensor of n values in blocks of `block`. */
export function checkQuantizedMoments(op: string, n: number, q: QuantizedMoments, block: number): void {
  if (!(Number.isInteger(block) && block >= 1)) throw new HaloError('E_ARG', `${op}: block size must be a positive integer, got ${block}`);
  const nb = Math.ceil(n / block);
  if (q.m.length !== n || q.v.length !== n || q.mScale.length !== nb || q.vScale.length !== nb) {
    throw new HaloError(
      'E_SHAPE',
      `${op}: a tensor of ${n} values in blocks of ${block} needs ${n} codes and ${nb} scales per moment; ` +
        `got ${q.m.length}/${q.v.length} codes and ${q.mScale.length}/${q.vScale.length} scales`,
    );
  }
}

/**
 * One AdamW step of one tensor with quantized moments, in place (param, codes and scales). `t` is the 1-based
 * step; the scalars are computed as adamwUpdate computes them, then rounded to f32.
 */
export function adamwBlockUpdate(
  param: FloatArray, // [N]
  grad: FloatArray, // [N]
  q: QuantizedMoments,
  block: number,
  t: number,
  h: AdamWHyper,
  maps: MomentMaps,
): void {
  const n = param.length;
  if (grad.length !== n) throw new HaloError('E_SHAPE', `adamwBlockUpdate: param has ${n} values but grad has ${grad.length}`);
  checkQuantizedMoments('adamwBlockUpdate', n, q, block);
  const { lr, beta1, beta2, eps, weightDecay } = h;
  // The step's scalars as adamwUpdate computes them, then rounded to f32: the step runs in f32 arithmetic, every
  // operation rounded with f (the kernel's f32 vector operations give the same values). Not double as in
  // adamwUpdate: the native kernel then does 16 values per vector, and the moments' 8-bit codes are far coarser.
  const f = Math.fround;
  const b1 = f(beta1),
    b2 = f(beta2),
    c1 = f(1 - beta1),
    c2 = f(1 - beta2);
  const decay = f(1 - lr * weightDecay);
  const stepSize = f(lr / (1 - Math.pow(beta1, t)));
  const bc2Sqrt = f(Math.sqrt(1 - Math.pow(beta2, t)));
  const e = f(eps);
  const thM = thresholdsOf(maps.m);
  const thV = thresholdsOf(maps.v);
  // The block's new moments as f32, kept until the block's new absmax is known.
  const mf = new Float32Array(Math.min(block, n));
  const vf = new Float32Array(mf.length);
  for (let b = 0, i0 = 0; i0 < n; b++, i0 += block) {
    const len = Math.min(block, n - i0);
    const sm = q.mScale[b]!;
    const sv = q.vScale[b]!;
    let am = 0;
    let av = 0;
    for (let j = 0; j < len; j++) {
      const i = i0 + j;
      const g = f(grad[i]!);
      const m = f(maps.m[q.m[i]!]! * sm);
      const v = f(maps.v[q.v[i]!]! * sv);
      const mn = f(f(b1 * m) + f(c1 * g));
      const vn = f(f(b2 * v) + f(f(c2 * g) * g));
      mf[j] = mn;
      vf[j] = vn;
      param[i] = f(f(param[i]! * decay) - f(f(stepSize * mn) / f(f(f(Math.sqrt(vn)) / bc2Sqrt) + e)));
      // `>` skips NaN, as the kernel's max does.
      const a = Math.abs(mn);
      if (a > am) am = a;
      const w = Math.abs(vn);
      if (w > av) av = w;
    }
    q.mScale[b] = am;
    q.vScale[b] = av;
    // x = moment · (1/absmax) as f32 operations (each correctly rounded, like the kernel's): |x| ≤ 1, and a
    // multiply is much cheaper than a divide in the kernel. Compared with the thresholds in double.
    const im = reciprocal(am);
    const iv = reciprocal(av);
    for (let j = 0; j < len; j++) {
      q.m[i0 + j] = nearestCode(thM, Math.fround(mf[j]! * im));
      q.v[i0 + j] = nearestCode(thV, Math.fround(vf[j]! * iv));
    }
  }
}

/** Values of quantized codes: out[i] = map[codes[i]] · scales[i / block], exact in f64 (for tests and inspection). */
export function dequantizeMoments(codes: Uint8Array, scales: Float32Array, map: Float32Array, block: number): Float64Array {
  const out = new Float64Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = map[codes[i]!]! * scales[Math.floor(i / block)]!;
  return out;
}

/** Which quantized optimizer: adamw8bit (dynamic map) or adamw-fp8 (E4M3 values, COAT-style). */
export type QuantizedKind = 'adamw8bit' | 'adamw-fp8';
export const CODE_MAP_OF: Record<QuantizedKind, CodeMapKind> = { adamw8bit: 'dynamic', 'adamw-fp8': 'e4m3' };
/** Default values per scale: bitsandbytes' 2048 for 8-bit; COAT's groups of 128 for FP8. */
export const DEFAULT_BLOCK: Record<QuantizedKind, number> = { adamw8bit: 2048, 'adamw-fp8': 128 };

export interface AdamW8bitConfig extends AdamWConfig {
  kind?: QuantizedKind;
  /** Values per absmax scale (default DEFAULT_BLOCK[kind]). */
  block?: number;
  /** The per-tensor quantized update (default adamwBlockUpdate; the trainer passes the backend's kernel). */
  blockUpdate?: typeof adamwBlockUpdate;
}

/** Checkpointable state: AdamWState's f32 moments for the small tensors, codes + scales for the others. */
export interface QuantizedAdamWState extends AdamWState {
  kind: QuantizedKind;
  block: number;
  quantized: Record<string, QuantizedMoments>;
}

export class AdamW8bit {
  readonly kind: QuantizedKind;
  readonly block: number;
  readonly params: readonly OptimParam[];
  readonly maps: MomentMaps;
  private readonly hyper: AdamWHyper;
  private readonly small: AdamW;
  private readonly bigIdx: number[];
  private readonly q: QuantizedMoments[];
  private readonly blockUpdate: typeof adamwBlockUpdate;

  constructor(params: readonly OptimParam[], config: AdamW8bitConfig) {
    this.kind = config.kind ?? 'adamw8bit';
    this.block = config.block ?? DEFAULT_BLOCK[this.kind];
    if (!(Number.isInteger(this.block) && this.block >= 1 && this.block <= 1 << 20)) {
      throw new HaloError('E_ARG', `${this.kind}: block size must be an integer in [1, 1048576], got ${this.block}`);
    }
    this.maps = momentMaps(CODE_MAP_OF[this.kind]);
    this.blockUpdate = config.blockUpdate ?? adamwBlockUpdate;
    this.hyper = adamwHyper(config);
    checkOptimParams(this.kind, params);
    this.params = [...params];
    const small = this.params.filter((p) => p.param.length < MIN_QUANTIZED);
    this.small = new AdamW(small, config);
    this.bigIdx = [];
    this.params.forEach((p, k) => {
      if (p.param.length >= MIN_QUANTIZED) this.bigIdx.push(k);
    });
    this.q = this.bigIdx.map((k) => emptyQuantizedMoments(this.params[k]!.param.length, this.block));
  }

  get stepCount(): number {
    return this.small.stepCount;
  }

  /** Bytes of optimizer state held (codes, scales, and the small tensors' f32 moments). */
  stateBytes(): number {
    let b = this.small.stateBytes();
    for (const q of this.q) b += q.m.byteLength + q.v.byteLength + q.mScale.byteLength + q.vScale.byteLength;
    return b;
  }

  step(lr: number = this.hyper.lr): void {
    this.small.step(lr); // checks lr, advances t
    const t = this.small.stepCount;
    this.bigIdx.forEach((k, j) => {
      const p = this.params[k]!;
      const h = { lr, beta1: this.hyper.beta1, beta2: this.hyper.beta2, eps: this.hyper.eps, weightDecay: p.weightDecay ?? this.hyper.weightDecay };
      const q = this.q[j]!;
      // A bf16 gradient is decoded in chunks of whole blocks: each block's update is independent of the others.
      const chunk = Math.max(1, Math.floor(GRAD_CHUNK / this.block)) * this.block;
      forEachF32Chunk(
        p.grad,
        (lo, hi, g) => {
          const b0 = lo / this.block;
          const b1 = Math.ceil(hi / this.block);
          const qc =
            lo === 0 && hi === p.param.length
              ? q
              : {
                  m: q.m.subarray(lo, hi),
                  v: q.v.subarray(lo, hi),
                  mScale: q.mScale.subarray(b0, b1),
                  vScale: q.vScale.subarray(b0, b1),
                };
          this.blockUpdate(span(p.param, lo, hi), g, qc, this.block, t, h, this.maps);
        },
        chunk,
      );
    });
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  /** Live arrays (serialise before the next step). */
  state(): QuantizedAdamWState {
    const { step, m, v } = this.small.state();
    const quantized: Record<string, QuantizedMoments> = {};
    this.bigIdx.forEach((k, j) => (quantized[this.params[k]!.name] = this.q[j]!));
    return { step, m, v, kind: this.kind, block: this.block, quantized };
  }

  /** Restores a state() of the same kind and block size (copied in); every parameter must be present. */
  loadState(state: AdamWState & Partial<QuantizedAdamWState>): void {
    const kind = state.kind ?? 'adamw';
    if (kind !== this.kind) throw new HaloError('E_FORMAT', `optimizer state is ${kind}'s, not ${this.kind}'s`);
    if (state.block !== this.block)
      throw new HaloError('E_FORMAT', `optimizer state has blocks of ${state.block} values, this ${this.kind} uses ${this.block}`);
    const quantized = state.quantized ?? {};
    const known = new Set(this.params.map((p) => p.name));
    for (const name of Object.keys(quantized)) {
      if (!known.has(name)) throw new HaloError('E_FORMAT', `optimizer state has moments for '${name}', which is not a trained parameter`);
    }
    this.bigIdx.forEach((k, j) => {
      const p = this.params[k]!;
      const saved = quantized[p.name];
      if (!saved) throw new HaloError('E_FORMAT', `optimizer state has no 8-bit moments for parameter '${p.name}'`);
      try {
        checkQuantizedMoments('optimizer state', p.param.length, saved, this.block);
      } catch (e) {
        throw new HaloError('E_FORMAT', `optimizer state for '${p.name}': ${(e as Error).message}`);
      }
      const q = this.q[j]!;
      q.m.set(saved.m);
      q.v.set(saved.v);
      q.mScale.set(saved.mScale);
      q.vScale.set(saved.vScale);
    });
    this.small.loadState({ step: state.step, m: state.m, v: state.v });
  }
}
