// Fast seeded normal samples, for filling billions of random weights (`halo init` of an 8B model draws ~8e9).
// Rng.normal (src/core/rng.ts) pays a log, a sqrt and a cos per value; here one 32-bit draw of xoshiro128**
// gives one value through a table of the standard normal quantile function: the high 16 bits pick one of
// 2^16 equally likely bins, the low 16 bits a point inside it, linearly interpolated between the bin's edges.
// So the distribution is the normal's, piecewise linear in its CDF between 65 537 exact quantiles: every bin
// holds exactly its 1/65536 of probability, and no value lies beyond ±4.61σ (the two end bins, each with the
// normal's own mass 2^-16 and conditional mean, stand in for the tails). That is plenty for random init,
// and exactly reproducible: the same (seed, stream name) always gives the same values, on any machine.
// Each stream (a tensor name) gets its own generator state, so a tensor's values do not depend on which
// other tensors were drawn before it, nor on the chunk sizes it is drawn in.
const BINS = 1 << 16;

let edgesCache: Float64Array | null = null;
let slopesCache: Float64Array | null = null;

/**
 * Q(i / 2^16) for i = 0 … 2^16 (Q = the standard normal quantile), from integrating dQ/dp = √(2π)·e^{Q²/2}
 * outward from Q(½) = 0 with RK4. The ends (±∞) are set so each end bin, uniform, has the conditional mean
 * of the normal's tail beyond its inner edge.
 */
export function quantileEdges(): Float64Array {
  if (edgesCache) return edgesCache;
  const e = new Float64Array(BINS + 1);
  const half = BINS / 2;
  const c = Math.sqrt(2 * Math.PI);
  const f = (q: number) => c * Math.exp(0.5 * q * q);
  // Substeps: the slope grows like 1/(tail mass), so the outer bins need many more to stay exact.
  let q = 0;
  for (let k = 1; k < half; k++) {
    const sub = k < half - 64 ? 8 : 256;
    const h = 1 / BINS / sub;
    for (let s = 0; s < sub; s++) {
      const k1 = f(q);
      const k2 = f(q + 0.5 * h * k1);
      const k3 = f(q + 0.5 * h * k2);
      const k4 = f(q + h * k3);
      q += (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
    }
    e[half + k] = q;
    e[half - k] = -q;
  }
  // Tail beyond q = Q(1 − 2^-16): mean φ(q)/2^-16; a uniform [q, end] has that mean when end = 2·mean − q.
  const inner = e[BINS - 1]!;
  const tailMean = (Math.exp(-0.5 * inner * inner) / c) * BINS;
  e[BINS] = 2 * tailMean - inner;
  e[0] = -e[BINS]!;
  edgesCache = e;
  return e;
}

function slopes(): Float64Array {
  if (slopesCache) return slopesCache;
  const e = quantileEdges();
  const s = new Float64Array(BINS);
  for (let i = 0; i < BINS; i++) s[i] = (e[i + 1]! - e[i]!) / 65536;
  slopesCache = s;
  return s;
}

/** 32-bit FNV-1a of a string's UTF-16 code units, mixed with a seed. */
function hashName(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** splitmix32 step: a well-mixed 32-bit value from a counter. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A seeded stream of approximately standard normal values (see the header), filled in bulk. */
export class NormalStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` and `stream` (e.g. a tensor name) together pick the sequence. */
  constructor(seed: number, stream = '') {
    const h = hashName(seed, stream);
    this.s0 = splitmix32(h);
    this.s1 = splitmix32(h + 0x632be5ab);
    this.s2 = splitmix32(h + 0x1b873593);
    this.s3 = splitmix32(h + 0x5bd1e995);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // xoshiro's one forbidden state
  }

  /** out[i] = mean + std · z_i, as f32. */
  fillF32(out: Float32Array, std = 1, mean = 0): Float32Array {
    const e = quantileEdges();
    const sl = slopes();
    let s0 = this.s0,
      s1 = this.s1,
      s2 = this.s2,
      s3 = this.s3;
    for (let i = 0; i < out.length; i++) {
      // xoshiro128** (Blackman & Vigna), written out so V8 keeps the state in registers.
      const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      const bin = r >>> 16;
      out[i] = mean + std * (e[bin]! + sl[bin]! * (r & 0xffff));
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }

  /**
   * out[i] = bf16 bits of (mean + std · z_i) rounded to nearest even: the same values fillF32 gives, rounded,
   * so a bf16 and an f32 init from one seed agree to bf16 precision.
   */
  fillBf16(out: Uint16Array, std = 1, mean = 0): Uint16Array {
    const CHUNK = 1 << 16;
    const f = new Float32Array(Math.min(CHUNK, out.length));
    const u = new Uint32Array(f.buffer);
    for (let at = 0; at < out.length; at += CHUNK) {
      const n = Math.min(CHUNK, out.length - at);
      const part = n === f.length ? f : f.subarray(0, n);
      this.fillF32(part, std, mean);
      // Finite by construction (|z| < 5), so round-to-nearest-even needs no NaN/Inf case.
      for (let i = 0; i < n; i++) {
        const b = u[i]!;
        out[at + i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
      }
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
