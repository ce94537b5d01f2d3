// AdamW with decoupled weight decay, matching torch.optim.AdamW (amsgrad=False, maximize=False):
//   https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
//   p ← p − lr·λ·p                                   (decay first, on the pre-update weights)
//   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
//   p ← p − lr/(1−β1^t) · m / (√v / √(1−β2^t) + ε)    (t = 1 on the first step)
// HALO trains with Composer's DecoupledAdamW and weight decay 0, where the two coincide; with λ > 0 Composer
// scales the decay by lr/initial_lr instead of lr, which this class does not do.
//
// Parameters are named flat arrays with their gradients beside them (llm.c style); m and v have the
// parameter's precision (Float32Array for f32 parameters; f64 parameters — finite-difference tests — get f64
// state). Per-element arithmetic is done in JS doubles and rounded once when stored.
import type { FloatArray } from '../core/dtype.ts';
import { floatLike } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { forEachF32Chunk, gradSumSquares, scaleGrad, type GradArray } from './bf16-grad.ts';

export interface OptimParam {
  /** Unique name (the HF tensor name), used as the key of the optimizer state. */
  name: string;
  /** [N] the weights, updated in place. */
  param: FloatArray;
  /** [N] the gradient of the loss w.r.t. param: f32, or bf16 bits (--grad-dtype bf16, read chunk by chunk). */
  grad: GradArray;
  /** Overrides AdamWConfig.weightDecay for this tensor (e.g. 0 for norms and biases). */
  weightDecay?: number;
}

export interface AdamWConfig {
  /** Learning rate used when step() is called without one. */
  lr: number;
  /** (β1, β2). Default (0.9, 0.999). */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay λ. Default 0 (HALO; torch's default is 0.01). */
  weightDecay?: number;
  /**
   * The per-tensor update to run: default `adamwUpdate` below (the oracle); the trainer passes the backend's
   * (nnKernels(backend).adamwUpdate, a native kernel bit-identical to it on f32 tensors).
   */
  update?: typeof adamwUpdate;
}

/** Checkpointable optimizer state. m and v are the live arrays (no copy); copy them if kept across steps. */
export interface AdamWState {
  /** Steps taken so far (bias correction uses step + 1 on the next step). */
  step: number;
  m: Record<string, FloatArray>;
  v: Record<string, FloatArray>;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * One AdamW update of one tensor, in place: the obvious reference loop (a native kernel would be checked
 * against it). `t` is the 1-based step number.
 */
export function adamwUpdate(
  param: FloatArray, // [N]
  grad: FloatArray, // [N]
  m: FloatArray, // [N]
  v: FloatArray, // [N]
  t: number,
  h: AdamWHyper,
): void {
  const { lr, beta1, beta2, eps, weightDecay } = h;
  const decay = 1 - lr * weightDecay;
  const stepSize = lr / (1 - Math.pow(beta1, t));
  const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, t));
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]!;
    const mi = beta1 * m[i]! + (1 - beta1) * g;
    const vi = beta2 * v[i]! + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    // Read the moments back as stored (rounded to the state's precision), as torch does.
    param[i] = param[i]! * decay - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / bc2Sqrt + eps);
  }
}

export class AdamW {
  readonly kind = 'adamw' as const;
  readonly params: readonly OptimParam[];
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private t = 0;
  private readonly m: FloatArray[];
  private readonly v: FloatArray[];
  private readonly update: typeof adamwUpdate;

  constructor(params: readonly OptimParam[], config: AdamWConfig) {
    ({ lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay } = adamwHyper(config));
    this.update = config.update ?? adamwUpdate;
    checkOptimParams('AdamW', params);
    this.params = [...params];
    this.m = this.params.map((p) => floatLike(p.param, p.param.length));
    this.v = this.params.map((p) => floatLike(p.param, p.param.length));
  }

  /** Bytes of optimizer state held (the two moments). */
  stateBytes(): number {
    return this.m.reduce((a, m) => a + m.byteLength, 0) + this.v.reduce((a, v) => a + v.byteLength, 0);
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /** One update of every parameter from its current gradient, with learning rate `lr` (from the schedule). */
  step(lr: number = this.lr): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new HaloError('E_ARG', `AdamW: learning rate must be finite and ≥ 0, got ${lr}`);
    this.t++;
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const h = { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: p.weightDecay ?? this.weightDecay };
      const [m, v] = [this.m[k]!, this.v[k]!];
      // Element-wise, so a bf16 gradient's chunks (decoded to f32) give the same update as a whole f32 copy.
      forEachF32Chunk(p.grad, (lo, hi, g) => this.update(span(p.param, lo, hi), g, span(m, lo, hi), span(v, lo, hi), this.t, h));
    }
  }

  /** Sets every gradient to 0. */
  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  /** The state to checkpoint (live arrays: serialise before the next step). */
  state(): AdamWState {
    const m: Record<string, FloatArray> = {};
    const v: Record<string, FloatArray> = {};
    this.params.forEach((p, k) => {
      m[p.name] = this.m[k]!;
      v[p.name] = this.v[k]!;
    });
    return { step: this.t, m, v };
  }

  /** Restores a state() (copied in). Every parameter must be present with the same length. */
  loadState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new HaloError('E_FORMAT', `optimizer state: invalid step ${state.step}`);
    const known = new Set(this.params.map((p) => p.name));
    for (const name of Object.keys(state.m)) {
      if (!known.has(name)) throw new HaloError('E_FORMAT', `optimizer state has moments for '${name}', which is not a trained parameter`);
    }
    this.params.forEach((p, k) => {
      const m = state.m[p.name];
      const v = state.v[p.name];
      if (!m || !v) throw new HaloError('E_FORMAT', `optimizer state has no moments for parameter '${p.name}'`);
      if (m.length !== p.param.length || v.length !== p.param.length) {
        throw new HaloError('E_FORMAT', `optimizer state for '${p.name}' has ${m.length}/${v.length} values, the parameter has ${p.param.length}`);
      }
      this.m[k]!.set(m);
      this.v[k]!.set(v);
    });
    this.t = state.step;
  }
}

/** [lo, hi) of a (the array itself when that is all of it). */
export function span<T extends FloatArray | Uint8Array | Uint16Array>(a: T, lo: number, hi: number): T {
  return (lo === 0 && hi === a.length ? a : a.subarray(lo, hi)) as T;
}

/** Global L2 norm of several gradients (float64 accumulation), as torch.nn.utils.clip_grad_norm_ computes it. */
export function gradNorm(grads: readonly GradArray[]): number {
  return Math.sqrt(sumSquares(grads));
}

function sumSquares(grads: readonly GradArray[]): number {
  let s = 0;
  for (const g of grads) s = gradSumSquares(g, s);
  return s;
}

export interface ClipResult {
  /** Norm before clipping (what to log). */
  norm: number;
  /** Factor the gradients were multiplied by (1 if not clipped). */
  scale: number;
}

/**
 * torch.nn.utils.clip_grad_norm_: if the global norm exceeds maxNorm, scale every gradient in place by
 * maxNorm / (norm + 1e-6). A NaN/Inf norm throws E_NUMERIC when errorIfNonfinite (torch's flag), else the
 * gradients are left alone and the norm is returned for the caller to act on.
 */
export function clipGradNorm(
  grads: readonly GradArray[],
  maxNorm: number,
  opts: { errorIfNonfinite?: boolean; sumOverRanks?: (localSumSq: number) => number } = {},
): ClipResult {
  if (!(maxNorm > 0)) throw new HaloError('E_ARG', `clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  // Sharded gradients (FSDP): the norm is over the whole model, so the squared sums are added across ranks.
  const norm = opts.sumOverRanks ? Math.sqrt(opts.sumOverRanks(sumSquares(grads))) : gradNorm(grads);
  if (!Number.isFinite(norm)) {
    if (opts.errorIfNonfinite) throw new HaloError('E_NUMERIC', `gradient norm is ${norm}; the loss or a gradient overflowed`);
    return { norm, scale: 1 };
  }
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return { norm, scale: 1 };
  for (const g of grads) scaleGrad(g, coef);
  return { norm, scale: coef };
}

/** The config's hyper-parameters with their defaults, each checked (E_ARG). */
export function adamwHyper(config: AdamWConfig): AdamWHyper {
  const [beta1, beta2] = config.betas ?? [0.9, 0.999];
  const h = { lr: config.lr, beta1, beta2, eps: config.eps ?? 1e-8, weightDecay: config.weightDecay ?? 0 };
  checkHyper('lr', h.lr, 0, Infinity);
  checkHyper('beta1', beta1, 0, 1);
  checkHyper('beta2', beta2, 0, 1);
  checkHyper('eps', h.eps, 0, Infinity);
  checkHyper('weightDecay', h.weightDecay, 0, Infinity);
  return h;
}

/** Names unique, gradients as long as their parameters, per-tensor decays valid. */
export function checkOptimParams(op: string, params: readonly OptimParam[]): void {
  const seen = new Set<string>();
  for (const p of params) {
    if (seen.has(p.name)) throw new HaloError('E_ARG', `${op}: parameter '${p.name}' is listed twice`);
    seen.add(p.name);
    if (p.grad.length !== p.param.length) {
      throw new HaloError('E_SHAPE', `${op}: '${p.name}' has ${p.param.length} values but its gradient has ${p.grad.length}`);
    }
    if (p.weightDecay !== undefined) checkHyper(`weightDecay of '${p.name}'`, p.weightDecay, 0, Infinity);
  }
}

function checkHyper(name: string, x: number, lo: number, hi: number): void {
  if (!(Number.isFinite(x) && x >= lo && x < hi)) {
    throw new HaloError('E_ARG', `AdamW: ${name} must be in [${lo}, ${hi}), got ${x}`);
  }
}
