// Browser conformance of the WebGPU kernels (src/backend/webgpu) against the reference backend, bundled by
// test/browser/run.ts with esbuild (platform 'browser': the bundle fails to build if anything here imports
// `node:`, which is how we know the browser path has no Node imports) and run in headless Chromium.
// Every op runs on seeded random inputs of odd shapes in every layout and is compared with src/backend/reference:
// i8 GEMM, rotations, int8 codes + scales and dequantize bit for bit; f32 GEMM within the recursive-summation
// bound |gpu − ref| ≤ (K+3)·2^-24·|α|·Σ_k|a||b|. The page publishes { done, adapter, results: [{ name, pass,
// detail, ms }] } on globalThis.__haloConformance for the runner to collect.
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import type { GemmOptions, Rotation } from '../../src/backend/backend.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { WebGpuKernels } from '../../src/backend/webgpu/kernels.ts';
import { planHadamard, type HadamardPlan } from '../../src/hadamard/index.ts';
import { gemm, quantOperand } from '../../src/halo/operand.ts';
import { decodeTable, formatTraits, type Granularity, type QuantFormat, type Quantized, type TableDType } from '../../src/quant/index.ts';

export interface ConformanceResult {
  name: string;
  pass: boolean;
  detail: string;
  ms: number;
}

export interface ConformanceReport {
  done: true;
  /** WebGPU itself is missing (no navigator.gpu / adapter): the runner exits 2, not 1. */
  unsupported?: string;
  adapter?: string;
  results: ConformanceResult[];
  ms: number;
}

const ref = referenceBackend;
const U = 2 ** -24;

// ---- inputs --------------------------------------------------------------------------------------------

function randF32(rng: Rng, r: number, c: number, std = 1): Tensor<'f32'> {
  return new Tensor([r, c], 'f32', rng.fillNormal(new Float32Array(r * c), std));
}

/** Gaussian values with a few channels (columns) 30× larger: the outliers HALO's rotations exist for. */
function outlierF32(rng: Rng, r: number, c: number): Tensor<'f32'> {
  const t = randF32(rng, r, c);
  const hot = new Set([0, Math.floor(c / 3), c - 1]);
  for (let i = 0; i < r; i++) for (const j of hot) t.data[i * c + j]! *= 30;
  return t;
}

/** Codes in [-128, 127], the extremes more often than chance. */
function randI8(rng: Rng, r: number, c: number): Tensor<'i8'> {
  const d = new Int8Array(r * c);
  for (let i = 0; i < d.length; i++) {
    const u = rng.next();
    d[i] = u < 0.05 ? 127 : u < 0.1 ? -127 : u < 0.12 ? -128 : rng.int(255) - 127;
  }
  return new Tensor([r, c], 'i8', d);
}

const abs = (t: Tensor<'f32'>) => new Tensor(t.shape, 'f32', t.data.map(Math.abs));

/** Codes of a float format (bf16, fp8, fp6) for Gaussian values spread over the format's range. */
function randCodes(format: QuantFormat, rng: Rng, r: number, c: number): Tensor {
  const tr = formatTraits(format);
  const spread = Number.isFinite(tr.qmax) ? tr.qmax / 4 : 3;
  const q = Tensor.zeros([r, c], tr.dtype);
  for (let i = 0; i < q.numel; i++) (q.data as Uint8Array | Uint16Array)[i] = tr.encode(rng.normal() * spread);
  return q;
}

/** The decoded values of a code tensor, as f32 (to build the f32 error bound). */
function decodedAbs(t: Tensor): Tensor<'f32'> {
  if (t.dtype === 'f32') return abs(t as Tensor<'f32'>);
  const tr = formatTraits(({ bf16: 'bf16', fp8e4m3: 'fp8e4m3', fp8e5m2: 'fp8e5m2', fp6e3m2: 'fp6e3m2' } as Record<string, QuantFormat>)[t.dtype]!);
  return new Tensor(
    t.shape,
    'f32',
    Float32Array.from(t.data as Uint8Array, (v) => Math.abs(tr.decode(v))),
  );
}

// ---- comparisons ---------------------------------------------------------------------------------------

/** Positions whose f32 bit patterns differ (so −0 ≠ +0 and every last bit counts). */
function bitMismatches(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = a.length === b.length ? 0 : Math.max(a.length, b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (ua[i] !== ub[i]) n++;
  return n;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/** Codes that differ, and the largest difference of their raw values (bit patterns for float codes). */
function codeDiff(a: ArrayLike<number>, b: ArrayLike<number>): { n: number; max: number } {
  let n = 0,
    max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d) n++;
    max = Math.max(max, d);
  }
  return { n, max };
}

function compareQuantized(g: Quantized, r: Quantized): { pass: boolean; detail: string } {
  if (!sameShape(g.q, r.q) || g.q.dtype !== r.q.dtype)
    return { pass: false, detail: `codes ${g.q.dtype} [${g.q.shape}] vs reference ${r.q.dtype} [${r.q.shape}]` };
  const c = codeDiff(g.q.data, r.q.data);
  const s = bitMismatches(g.scales, r.scales);
  const pass = c.n === 0 && s === 0 && g.scales.length === r.scales.length;
  return { pass, detail: `${r.q.numel} codes: ${c.n} differ (max |Δ| ${c.max}); ${r.scales.length} scales: ${s} differ in bits` };
}

// ---- the run -------------------------------------------------------------------------------------------

type Check = () => Promise<{ pass: boolean; detail: string }>;

const LAYOUTS: GemmOptions[] = [{}, { aT: true }, { bT: true }, { aT: true, bT: true }];
const layoutName = (o: GemmOptions) => `${o.aT ? 'Aᵀ' : 'A'}·${o.bT ? 'Bᵀ' : 'B'}`;

/** [M, K, N] */
const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 65, 17],
  [64, 256, 96],
  [130, 768, 256],
];

function stored<T extends Tensor>(rng: Rng, make: (rng: Rng, r: number, c: number) => T, rows: number, cols: number, t: boolean | undefined): T {
  return t ? make(rng, cols, rows) : make(rng, rows, cols);
}

async function expectError(code: string, f: () => Promise<unknown>): Promise<{ pass: boolean; detail: string }> {
  try {
    await f();
    return { pass: false, detail: `no error; expected HaloError ${code}` };
  } catch (e) {
    const got = e instanceof HaloError ? e.code : String(e);
    return { pass: got === code, detail: `${got}: ${(e as Error).message.slice(0, 160)}` };
  }
}

function checks(k: WebGpuKernels): [string, Check][] {
  const list: [string, Check][] = [];
  const rng = new Rng(2501);

  // f32 GEMM (and the float-code formats decoded to it): every shape × layout, α = 1 and α = −0.37, against
  // the recursive-summation bound
  const floatGemm = (name: string, a: Tensor, b: Tensor, opts: GemmOptions, kk: number) =>
    list.push([
      name,
      async () => {
        const alpha = opts.alpha ?? 1;
        const g = await k.matmulHost(a, b, opts);
        const r = ref.matmul(a, b, opts);
        const bound = ref.matmul(decodedAbs(a), decodedAbs(b), { aT: opts.aT, bT: opts.bT });
        let worst = 0,
          bad = 0;
        for (let i = 0; i < r.numel; i++) {
          const unit = U * Math.abs(alpha) * bound.data[i]!;
          const err = Math.abs(g.data[i]! - r.data[i]!);
          if (!(err <= (kk + 3) * unit + 1e-30)) bad++;
          if (unit > 0) worst = Math.max(worst, err / unit);
        }
        const pass = sameShape(g, r) && bad === 0;
        return { pass, detail: `max |Δ| = ${worst.toFixed(2)}·u·|α|Σ|ab| (bound ${kk + 3}); ${bad} of ${r.numel} outside` };
      },
    ]);
  for (const [m, kk, n] of GEMM_SHAPES) {
    for (const lay of LAYOUTS) {
      for (const alpha of [1, -0.37]) {
        const a = stored(rng, randF32, m, kk, lay.aT);
        const b = stored(rng, randF32, kk, n, lay.bT);
        floatGemm(`gemm-f32 ${m}×${kk}×${n} ${layoutName(lay)} α=${alpha}`, a, b, { ...lay, alpha }, kk);
      }
    }
  }
  for (const format of ['bf16', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'] as QuantFormat[]) {
    for (const [m, kk, n] of [
      [7, 13, 5],
      [33, 65, 17],
      [64, 256, 96],
    ] as [number, number, number][]) {
      for (const lay of LAYOUTS) {
        const codes = (r: Rng, rows: number, cols: number) => randCodes(format, r, rows, cols);
        const a = stored(rng, codes, m, kk, lay.aT);
        const b = stored(rng, codes, kk, n, lay.bT);
        floatGemm(`gemm-${format} ${m}×${kk}×${n} ${layoutName(lay)} α=0.25`, a, b, { ...lay, alpha: 0.25 }, kk);
      }
    }
  }

  // i8 GEMM: bit-identical, α = 1, a product of two f32 scales (an f64 the kernel rounds through), −0.3
  const sa = Math.fround(0.0123),
    sb = Math.fround(0.00731);
  for (const [m, kk, n] of [...GEMM_SHAPES, [3, 2048, 5] as [number, number, number]]) {
    for (const lay of LAYOUTS) {
      const a = stored(rng, randI8, m, kk, lay.aT);
      const bS = stored(rng, randI8, kk, n, lay.bT);
      if (m === 3) {
        // saturated codes: sums beyond 2^24, where α·s needs both roundings (f64, then f32) to match
        a.data.fill(127);
        bS.data.fill(-127);
      }
      for (const alpha of [1, sa * sb, -0.3]) {
        const opts = { ...lay, alpha };
        list.push([
          `gemm-s8 ${m}×${kk}×${n} ${layoutName(lay)} α=${alpha === sa * sb ? 'sa·sb' : alpha}`,
          async () => {
            const g = await k.matmulHost(a, bS, opts);
            const r = ref.matmul(a, bS, opts);
            const bad = bitMismatches(g.data as Float32Array, r.data as Float32Array);
            return { pass: sameShape(g, r) && bad === 0, detail: `${bad} of ${r.numel} outputs differ in bits` };
          },
        ]);
      }
    }
  }

  // empty products
  list.push([
    'gemm K = 0 → zeros; M = 0 → [0, N]',
    async () => {
      const z = await k.matmulHost(new Tensor([2, 0], 'f32', new Float32Array(0)), new Tensor([0, 3], 'f32', new Float32Array(0)));
      const e = await k.matmulHost(new Tensor([0, 4], 'i8', new Int8Array(0)), new Tensor([4, 3], 'i8', new Int8Array(4 * 3)));
      const pass = z.shape.join() === '2,3' && z.data.every((v) => v === 0) && e.shape.join() === '0,3';
      return { pass, detail: `[${z.shape}] all zero: ${z.data.every((v) => v === 0)}; [${e.shape}]` };
    },
  ]);
  list.push([
    'empty tensors: rotate [0, 96], rotateQuantize [0, 96] tensor/row/tile32',
    async () => {
      const x = new Tensor([0, 96], 'f32', new Float32Array(0));
      const rot: Rotation = { plan: planHadamard(96), side: 'right', transpose: false };
      const r = await k.rotateHost(x, rot);
      const out: string[] = [`rotate [${r.shape}]`];
      let pass = r.shape.join() === '0,96';
      for (const granularity of ['tensor', 'row', 'tile32'] as Granularity[]) {
        const c = compareQuantized(await k.rotateQuantizeHost(x, rot, 'int8', granularity), ref.rotateQuantize(x, rot, 'int8', granularity));
        pass &&= c.pass;
        out.push(`${granularity}: ${c.detail}`);
      }
      return { pass, detail: out.join('; ') };
    },
  ]);

  // rotations: pow2, K·2^p, pure H_K, block-diagonal (pow2 and K·2^p blocks), blocks past the shared-memory kernel
  const plans: [string, HadamardPlan][] = [
    ['n=256 (2^8)', planHadamard(256)],
    ['n=768 (K=12·64)', planHadamard(768)],
    ['n=96 (K=12·8)', planHadamard(96)],
    ['n=12 (K=12·1)', planHadamard(12)],
    ['n=768 block 64', planHadamard(768, { block: 64 })],
    ['n=160 block 40 (K=20·2)', planHadamard(160, { block: 40 })],
    ['n=8192 (global FWHT)', planHadamard(8192)],
    ['n=5120 (K=20·256, global)', planHadamard(5120)],
  ];
  for (const [pname, plan] of plans) {
    for (const side of ['right', 'left'] as const) {
      for (const transpose of [false, true]) {
        const other = plan.n > 4096 ? 3 : [1, 7, 33][rng.int(3)]!;
        const x = side === 'right' ? outlierF32(rng, other, plan.n) : outlierF32(rng, plan.n, other);
        const rot: Rotation = { plan, side, transpose };
        list.push([
          `rotate ${pname} ${side}${transpose ? ' ᵀ' : ''} [${x.shape}]`,
          async () => {
            const g = await k.rotateHost(x, rot);
            const r = ref.rotate(x, rot);
            const bad = bitMismatches(g.data as Float32Array, r.data as Float32Array);
            return { pass: sameShape(g, r) && bad === 0, detail: `${bad} of ${r.numel} differ in bits (max |Δ| ${maxAbsDiff(g.data, r.data)})` };
          },
        ]);
      }
    }
  }

  // rotate + quantize, every granularity × transposeOut, with and without a rotation, unitScale
  const rq: [string, Tensor<'f32'>, Rotation | null][] = [
    ['none [7, 13]', outlierF32(rng, 7, 13), null],
    ['none [130, 768]', outlierF32(rng, 130, 768), null],
    ['right n=768 [33, 768]', outlierF32(rng, 33, 768), { plan: planHadamard(768), side: 'right', transpose: false }],
    ['right n=96 ᵀ [130, 96]', outlierF32(rng, 130, 96), { plan: planHadamard(96), side: 'right', transpose: true }],
    ['left n=256 [256, 17]', outlierF32(rng, 256, 17), { plan: planHadamard(256), side: 'left', transpose: false }],
    ['right block 64 [5, 768]', outlierF32(rng, 5, 768), { plan: planHadamard(768, { block: 64 }), side: 'right', transpose: false }],
  ];
  const FORMATS: QuantFormat[] = ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2', 'bf16'];
  for (const format of FORMATS) {
    for (const [xname, x, rot] of rq) {
      for (const granularity of ['tensor', 'row', 'block32', 'tile32'] as Granularity[]) {
        for (const transposeOut of [false, true]) {
          if (format === 'bf16' && granularity !== 'tensor') continue; // a cast: scales are all 1 either way
          // block/tile scales on the two shapes whose edges cut blocks short, for every format; the rest for int8
          if ((granularity === 'block32' || granularity === 'tile32') && format !== 'int8' && !/\[(130|7),/.test(xname)) continue;
          list.push([
            `rotateQuantize ${format} ${granularity}${transposeOut ? ' transposeOut' : ''} rot ${xname}`,
            async () => {
              const g = await k.rotateQuantizeHost(x, rot, format, granularity, { transposeOut });
              return compareQuantized(g, ref.rotateQuantize(x, rot, format, granularity, { transposeOut }));
            },
          ]);
        }
      }
    }
  }
  list.push([
    'rotateQuantize int8 unitScale (saturating cast, ties at k+½)',
    async () => {
      const d = new Float32Array(4 * 64);
      for (let i = 0; i < d.length; i++) d[i] = rng.int(300) - 150 + (rng.next() < 0.5 ? 0.5 : rng.next());
      const x = new Tensor([4, 64], 'f32', d);
      const g = await k.rotateQuantizeHost(x, null, 'int8', 'row', { unitScale: true });
      return compareQuantized(g, ref.rotateQuantize(x, null, 'int8', 'row', { unitScale: true }));
    },
  ]);
  for (const format of ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'] as QuantFormat[]) {
    list.push([
      `rotateQuantize ${format} near-tie stress (x within 2 ulp of a rounding boundary × scale)`,
      async () => {
        const { x, nearTies } = tieStress(format, rng, 16, 512);
        const results: string[] = [];
        let pass = nearTies > 0;
        for (const granularity of ['row', 'tensor'] as Granularity[]) {
          const c = compareQuantized(await k.rotateQuantizeHost(x, null, format, granularity), ref.rotateQuantize(x, null, format, granularity));
          pass &&= c.pass;
          results.push(`${granularity}: ${c.detail}`);
        }
        return { pass, detail: `${nearTies} values where an f32 quotient rounds the other way; ${results.join('; ')}` };
      },
    ]);
  }
  list.push([
    'rotateQuantize fp8e4m3 unitScale (saturating cast past ±448, signed zeros)',
    async () => {
      const d = new Float32Array(4 * 64);
      for (let i = 0; i < d.length; i++) d[i] = rng.normal() * 2 ** (rng.int(24) - 12);
      d[0] = 600;
      d[1] = -460;
      d[2] = -0;
      d[3] = -1e-9;
      d[4] = 464;
      d[5] = 3.0e-3;
      const x = new Tensor([4, 64], 'f32', d);
      const g = await k.rotateQuantizeHost(x, null, 'fp8e4m3', 'row', { unitScale: true });
      return compareQuantized(g, ref.rotateQuantize(x, null, 'fp8e4m3', 'row', { unitScale: true }));
    },
  ]);

  // dequantize
  for (const format of ['int8', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2', 'bf16'] as QuantFormat[]) {
    for (const granularity of ['tensor', 'row', 'block32', 'tile32'] as Granularity[]) {
      list.push([
        `dequantize ${format} ${granularity} [33, 65] transposeOut`,
        async () => {
          const q = ref.rotateQuantize(outlierF32(rng, 33, 65), null, format, granularity, { transposeOut: true });
          const g = await k.dequantizeHost(q, 'f32');
          const r = ref.dequantize(q, 'f32');
          const bad = bitMismatches(g.data as Float32Array, r.data as Float32Array);
          return { pass: sameShape(g, r) && bad === 0, detail: `${bad} of ${r.numel} differ in bits` };
        },
      ]);
    }
  }

  // device-resident HALO GEMMs: rotate+quantize both operands and multiply their codes without leaving the GPU,
  // against src/halo/operand.ts's gemm on the reference backend (forward X̃·W̃ᵀ, input gradient E·W̃, weight
  // gradient Eᵀ·X̃), per-tensor and per-row scales
  const T = 33,
    C = 96,
    O = 40;
  const rotC: Rotation = { plan: planHadamard(C), side: 'right', transpose: false };
  const X = outlierF32(rng, T, C),
    W = randF32(rng, O, C, 0.05),
    E = randF32(rng, T, O, 0.01);
  const cases: [string, Tensor<'f32'>, Rotation | null, Granularity, Tensor<'f32'>, Rotation | null, Granularity, GemmOptions][] = [
    ['forward X̃·W̃ᵀ tensor', X, rotC, 'tensor', W, rotC, 'tensor', { bT: true }],
    ['forward X̃·W̃ᵀ row × row', X, rotC, 'row', W, rotC, 'row', { bT: true }],
    ['forward X̃·W̃ᵀ row × tensor', X, rotC, 'row', W, rotC, 'tensor', { bT: true }],
    ['input gradient E·W̃ tensor', E, null, 'tensor', W, rotC, 'tensor', {}],
    ['weight gradient Eᵀ·X̃ tensor', E, null, 'tensor', X, rotC, 'tensor', { aT: true }],
  ];
  for (const [name, A, ra, ga, B, rb, gb, lay] of cases) {
    list.push([
      `device chain ${name}`,
      async () => {
        const da = k.upload(A),
          db = k.upload(B);
        const qa = k.rotateQuantize(da, ra, 'int8', ga),
          qb = k.rotateQuantize(db, rb, 'int8', gb);
        const out = k.matmulQuantized(qa, qb, lay);
        const g = await k.read(out);
        k.release(da, db, qa, qb, out);
        const r = gemm(ref, quantOperand(ref.rotateQuantize(A, ra, 'int8', ga)), quantOperand(ref.rotateQuantize(B, rb, 'int8', gb)), lay);
        const bad = bitMismatches(g.data as Float32Array, r.data as Float32Array);
        return { pass: sameShape(g, r) && bad === 0, detail: `${bad} of ${r.numel} differ in bits` };
      },
    ]);
  }

  // errors the bridge relies on
  list.push(['mixed dtypes → E_DTYPE', () => expectError('E_DTYPE', () => k.matmulHost(randF32(rng, 2, 3), randCodes('bf16', rng, 3, 2)))]);
  list.push([
    'f64 matmul → E_UNSUPPORTED',
    () => expectError('E_UNSUPPORTED', () => k.matmulHost(new Tensor([2, 2], 'f64', new Float64Array(4)), new Tensor([2, 2], 'f64', new Float64Array(4)))),
  ]);
  list.push([
    'f64 rotateQuantize → E_UNSUPPORTED',
    () => expectError('E_UNSUPPORTED', () => k.rotateQuantizeHost(new Tensor([2, 4], 'f64', new Float64Array(8)), null, 'fp8e4m3', 'tensor')),
  ]);
  list.push([
    'fp8 matmulQuantized → E_UNSUPPORTED',
    () =>
      expectError('E_UNSUPPORTED', async () => {
        const x = k.upload(randF32(rng, 4, 8));
        const q = k.rotateQuantize(x, null, 'fp8e4m3', 'tensor');
        try {
          return k.matmulQuantized(q, q, { bT: true });
        } finally {
          k.release(x, q);
        }
      }),
  ]);
  list.push([
    'unknown granularity → E_ARG',
    () => expectError('E_ARG', () => k.rotateQuantizeHost(randF32(rng, 2, 64), null, 'int8', 'block64' as Granularity)),
  ]);
  list.push([
    'block32 matmulQuantized → E_UNSUPPORTED',
    () =>
      expectError('E_UNSUPPORTED', async () => {
        const x = k.upload(randF32(rng, 4, 64));
        const q = k.rotateQuantize(x, null, 'int8', 'block32');
        try {
          return k.matmulQuantized(q, q, { bT: true });
        } finally {
          k.release(x, q);
        }
      }),
  ]);
  list.push(['shape mismatch → E_SHAPE', () => expectError('E_SHAPE', () => k.matmulHost(randF32(rng, 2, 3), randF32(rng, 4, 5)))]);
  list.push([
    'NaN input → E_NUMERIC (as the reference)',
    async () => {
      const x = randF32(rng, 3, 96);
      x.data[40] = NaN;
      const refErr = (() => {
        try {
          ref.rotateQuantize(x, null, 'int8', 'tensor');
          return 'none';
        } catch (e) {
          return (e as HaloError).code;
        }
      })();
      const r = await expectError('E_NUMERIC', () => k.rotateQuantizeHost(x, rotC, 'int8', 'row'));
      return { pass: r.pass && refErr === 'E_NUMERIC', detail: `reference: ${refErr}; webgpu: ${r.detail}` };
    },
  ]);
  return list;
}

/**
 * Rows whose first value is the row's absmax A and whose others sit within 2 ulp of a rounding boundary of the
 * format times s = fround(A/qmax) (int8: (k+½)·s; minifloats: midpoints of adjacent grid values): exact ties
 * and near-ties, where deciding the rounding from an f32 quotient goes wrong. Returns how many values an f32
 * quotient would round differently from the reference (the test insists there are some).
 */
function tieStress(format: QuantFormat, rng: Rng, rows: number, cols: number): { x: Tensor<'f32'>; nearTies: number } {
  const tr = formatTraits(format);
  const grid =
    format === 'int8'
      ? Array.from({ length: 128 }, (_, i) => i)
      : [...new Set(Array.from(decodeTable(tr.dtype as TableDType)).filter((v) => Number.isFinite(v) && v >= 0 && v <= tr.qmax))].sort((a, b) => a - b);
  const d = new Float32Array(rows * cols);
  const bits = new Uint32Array(d.buffer);
  let nearTies = 0;
  for (let i = 0; i < rows; i++) {
    const A = Math.fround((0.5 + rng.next()) * 2 ** (rng.int(20) - 10));
    const s = Math.fround(A / tr.qmax);
    d[i * cols] = A;
    for (let j = 1; j < cols; j++) {
      const g = rng.int(grid.length - 1);
      const o = i * cols + j;
      d[o] = ((grid[g]! + grid[g + 1]!) / 2) * s;
      bits[o] = bits[o]! + (rng.int(5) - 2);
      if (Math.abs(d[o]!) > A) d[o] = A;
      if (rng.next() < 0.5) d[o] = -d[o]!;
      if (tr.encode(Math.fround(d[o]! / s)) !== tr.encode(d[o]! / s)) nearTies++;
    }
  }
  return { x: new Tensor([rows, cols], 'f32', d), nearTies };
}

export async function runConformance(onResult?: (r: ConformanceResult) => void): Promise<ConformanceReport> {
  const t0 = performance.now();
  let k: WebGpuKernels;
  try {
    k = await WebGpuKernels.create();
  } catch (e) {
    if (e instanceof HaloError && e.code === 'E_UNSUPPORTED') return { done: true, unsupported: e.message, results: [], ms: performance.now() - t0 };
    throw e;
  }
  const results: ConformanceResult[] = [];
  for (const [name, check] of checks(k)) {
    const t = performance.now();
    let r: { pass: boolean; detail: string };
    try {
      r = await check();
    } catch (e) {
      r = { pass: false, detail: `threw ${e instanceof HaloError ? e.code + ': ' : ''}${(e as Error).message}` };
    }
    const res = { name, ...r, ms: Math.round(performance.now() - t) };
    results.push(res);
    onResult?.(res);
  }
  const report: ConformanceReport = { done: true, adapter: k.description, results, ms: performance.now() - t0 };
  k.destroy();
  return report;
}

// On the conformance page: run and publish for the runner.
const g = globalThis as { __haloConformance?: ConformanceReport | { done: true; error: string }; document?: unknown };
if (g.document !== undefined) {
  runConformance((r) => console.log(`${r.pass ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`)).then(
    (report) => {
      g.__haloConformance = report;
    },
    (e: unknown) => {
      g.__haloConformance = { done: true, error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e) };
    },
  );
}
