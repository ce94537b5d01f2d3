// Seeded PRNG (mulberry32 + Box-Muller) so every test, benchmark input and training run is reproducible.
export class Rng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal. */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
  /** The generator's whole state, to replay its draws (activation checkpointing recomputes dropout masks). */
  state(): { s: number; spare: number | null } {
    return { s: this.s, spare: this.spare };
  }
  restore(st: { s: number; spare: number | null }): void {
    this.s = st.s;
    this.spare = st.spare;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  fillNormal<T extends Float32Array | Float64Array>(a: T, std = 1): T {
    for (let i = 0; i < a.length; i++) a[i] = this.normal() * std;
    return a;
  }
}
