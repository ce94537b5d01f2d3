// The WebGPU kernels behind backend.ts's contract, device-resident and asynchronous: tensors live in GPU buffers
// (GpuTensor) between ops, every op only records and submits work, and only `read`/`readQuantized` map a buffer
// back. The *Host wrappers (upload → run → read, same argument types as backend.ts) are what the page side of
// the synchronous worker bridge calls; every call they cannot run rejects with HaloError('E_UNSUPPORTED')
// (support.ts says which, without a GPU) so the bridge can fall back to the reference backend.
//
// Results against the reference backend (test/browser/conformance.entry.ts): i8 GEMM, rotation, int8
// rotate+quantize codes and scales, dequantize bit-identical; f32 GEMM within the recursive-summation bound.
import type { FloatDType } from '../../core/dtype.ts';
import { HaloError } from '../../core/errors.ts';
import { Tensor } from '../../core/tensor.ts';
import type { HadamardPlan } from '../../hadamard/index.ts';
import {
  decodeTable,
  formatTraits,
  GRANULARITIES,
  scaleCount,
  type Granularity,
  type QuantFormat,
  type Quantized,
  type TableDType,
} from '../../quant/index.ts';
import type { FloatTensor, GemmOptions, Rotation } from '../backend.ts';
import { gemmDims } from '../reference/matmul.ts';
import { requestGpu, type GpuContext } from './device.ts';
import type { Gpu, GpuBuffer, GpuCommandEncoder } from './gpu-types.ts';
import { GpuRuntime, WG, type Dispatch } from './runtime.ts';

type Step = Dispatch | ((enc: GpuCommandEncoder) => void);
import { dequantizeUnsupported, matmulUnsupported, rotateQuantizeUnsupported, rotateUnsupported } from './support.ts';
import { FWHT_MIX_WGSL, FWHT_SHARED_WGSL, FWHT_STAGE_WGSL, SHARED_BLOCK } from './wgsl/fwht.ts';
import { decodeWgsl } from './wgsl/decode.ts';
import { GEMM_TILE, gemmF32Wgsl } from './wgsl/gemm-f32.ts';
import { gemmS8Wgsl, PACK_S8_WGSL } from './wgsl/gemm-s8.ts';
import { wgslCodec } from './wgsl/codecs.ts';
import { ABSMAX_GROUPS_WGSL, ABSMAX_TENSOR_WGSL, dequantizeWgsl, quantizeWgsl, scalesWgsl } from './wgsl/quantize.ts';

/**
 * Element types a GpuTensor holds: f32 values; int8 codes and 8/6-bit float codes packed 4 per u32 in row-major
 * byte order; bf16 codes 2 per u32.
 */
export type GpuDType = 'f32' | 'i8' | 'bf16' | 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2';
const GPU_DTYPES: readonly string[] = ['f32', 'i8', 'bf16', 'fp8e4m3', 'fp8e5m2', 'fp6e3m2'];
const bytesOf = (dtype: GpuDType, n: number) => n * (dtype === 'f32' ? 4 : dtype === 'bf16' ? 2 : 1);

/** A [rows, cols] row-major matrix in a GPU buffer. The caller owns it: `release` frees it. */
export interface GpuTensor {
  readonly buffer: GpuBuffer;
  readonly shape: readonly [number, number];
  readonly dtype: GpuDType;
}

/** Codes + scales on the GPU, as src/quant's Quantized (q [R, C]: x's shape, or xᵀ's with transposeOut). */
export interface GpuQuantized {
  readonly format: QuantFormat;
  readonly granularity: Granularity;
  readonly q: GpuTensor;
  /** f32 [1, scaleCount]: src/quant's scales (one, per row, per 1×32 block, per 32×32 tile of q). */
  readonly scales: GpuTensor;
  /** How many quantized inputs were NaN/±inf (u32); readQuantized throws E_NUMERIC when nonzero, as the reference does. */
  readonly nonFinite: GpuBuffer;
  /** The shape of the float matrix that was quantized (for the E_NUMERIC message). */
  readonly sourceShape: readonly [number, number];
}

export interface RotateQuantizeOptions {
  transposeOut?: boolean;
  unitScale?: boolean;
}

/** Operand layouts of matmulQuantized (its α comes from the scales). */
export type GemmLayout = Pick<GemmOptions, 'aT' | 'bT'>;

const f32Bytes = (n: number) => n * 4;

/** The quantize kernels' scale-index mode of each granularity (wgsl/quantize.ts's scale_index). */
const MODE: Record<Granularity, number> = { tensor: 0, row: 1, block32: 2, tile32: 3 };

function unsupported(why: string | null): void {
  if (why) throw new HaloError('E_UNSUPPORTED', why);
}

/** |α| = (lo + 2^32·hi)·2^e with the f64's own mantissa, and its sign: the s8 GEMM's uniform. */
function alphaParts(alpha: number): { lo: number; hi: number; e: number; neg: boolean } {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, alpha, true);
  const lo = v.getUint32(0, true);
  const top = v.getUint32(4, true);
  const exp = (top >>> 20) & 0x7ff;
  const frac = top & 0xfffff;
  return exp === 0 ? { lo, hi: frac, e: -1074, neg: top >>> 31 === 1 } : { lo, hi: frac | 0x100000, e: exp - 1075, neg: top >>> 31 === 1 };
}

function checkPlan(plan: HadamardPlan): void {
  const { n, block, K, pow2, hadK } = plan;
  const pow2ok = Number.isInteger(pow2) && pow2 >= 1 && (pow2 & (pow2 - 1)) === 0;
  if (n % block !== 0 || K * pow2 !== block || !pow2ok || (K === 1) !== (hadK === null) || (hadK !== null && hadK.length !== K * K)) {
    throw new HaloError('E_ARG', `inconsistent Hadamard plan n=${n} block=${block} K=${K} pow2=${pow2}`);
  }
}

export class WebGpuKernels {
  private readonly rt: GpuRuntime;
  /** H_K buffers by K, matched by content: the bridge's plans arrive as fresh structured clones every call. */
  private readonly hadK = new Map<number, { h: Int8Array; buf: GpuBuffer }[]>();
  private readonly noHadK: GpuBuffer;
  private readonly tables = new Map<TableDType, GpuBuffer>();

  private constructor(readonly ctx: GpuContext) {
    this.rt = new GpuRuntime(ctx);
    this.noHadK = this.rt.storageFrom(new Int32Array([1]), 'no H_K');
  }

  /** Opens the default WebGPU device (HaloError('E_UNSUPPORTED') without WebGPU or an adapter). */
  static async create(opts: { gpu?: Gpu } = {}): Promise<WebGpuKernels> {
    return new WebGpuKernels(await requestGpu(opts));
  }

  /** The adapter, as one line. */
  get description(): string {
    return this.ctx.description;
  }

  /** Pipelines compiled so far (each distinct kernel variant once). */
  get pipelineCount(): number {
    return this.rt.pipelineCount;
  }

  // ---- tensors ------------------------------------------------------------------------------------------

  /** A GPU copy of a 2-D tensor of a GpuDType (f64 and the rest: E_UNSUPPORTED). */
  upload(t: Tensor): GpuTensor {
    const [r, c] = t.dims2('upload');
    if (!GPU_DTYPES.includes(t.dtype)) throw new HaloError('E_UNSUPPORTED', `WebGPU tensors hold ${GPU_DTYPES.join(', ')}, not ${t.dtype}`);
    return { buffer: this.rt.storageFrom(t.data, `${t.dtype} [${r}, ${c}]`), shape: [r, c], dtype: t.dtype as GpuDType };
  }

  private alloc(shape: readonly [number, number], dtype: GpuDType, label: string): GpuTensor {
    return { buffer: this.rt.storage(bytesOf(dtype, shape[0] * shape[1]), label), shape, dtype };
  }

  /** Frees GPU tensors / quantized tensors (work already submitted that reads them still completes). */
  release(...items: (GpuTensor | GpuQuantized | null | undefined)[]): void {
    for (const it of items) {
      if (!it) continue;
      if ('q' in it) {
        it.q.buffer.destroy();
        it.scales.buffer.destroy();
        it.nonFinite.destroy();
      } else it.buffer.destroy();
    }
  }

  /** The tensor's values on the host (waits for every op queued before it). */
  async read(t: GpuTensor): Promise<Tensor<GpuDType>> {
    const bytes = await this.rt.readBytes(t.buffer, bytesOf(t.dtype, t.shape[0] * t.shape[1]));
    switch (t.dtype) {
      case 'f32':
        return new Tensor(t.shape, 'f32', new Float32Array(bytes));
      case 'i8':
        return new Tensor(t.shape, 'i8', new Int8Array(bytes));
      case 'bf16':
        return new Tensor(t.shape, 'bf16', new Uint16Array(bytes));
      default:
        return new Tensor(t.shape, t.dtype, new Uint8Array(bytes));
    }
  }

  /** Codes and scales on the host; E_NUMERIC if the quantized input held NaN/±inf (as the reference throws). */
  async readQuantized(q: GpuQuantized): Promise<Quantized> {
    const [codes, scales, bad] = await Promise.all([this.read(q.q), this.read(q.scales), this.rt.readBytes(q.nonFinite, 4)]);
    const nBad = new Uint32Array(bad)[0]!;
    if (nBad > 0) {
      const [r, c] = q.sourceShape;
      throw new HaloError(
        'E_NUMERIC',
        `cannot quantize to ${q.format}: ${nBad} non-finite value(s) (NaN or ±inf) among the ${r * c} elements of a [${r}, ${c}] tensor`,
      );
    }
    return { format: q.format, granularity: q.granularity, q: codes as Quantized['q'], scales: scales.data as Float32Array };
  }

  // ---- GEMM ---------------------------------------------------------------------------------------------

  /**
   * out[M,N] = α·op(A)·op(B) (backend.ts's GemmOptions): f32·f32 with f32 accumulation; i8·i8 with exact i32
   * accumulation and α applied once (bit-identical to the reference); bf16/fp8/fp6 codes of one format decoded
   * exactly, then f32 accumulation. f64: E_UNSUPPORTED.
   */
  matmul(a: GpuTensor, b: GpuTensor, opts: GemmOptions = {}): GpuTensor {
    const { m, n, k } = this.dims(a, b, opts);
    unsupported(matmulUnsupported(a, b, opts));
    const out = this.alloc([m, n], 'f32', `matmul [${m}, ${n}]`);
    if (m === 0 || n === 0) return out;
    const alpha = opts.alpha ?? 1;
    if (a.dtype !== 'i8') {
      // float codes are widened to f32 copies in their stored layout, then share the f32 kernel
      const da = a.dtype === 'f32' ? null : this.decodeSteps(a);
      const db = b.dtype === 'f32' ? null : this.decodeSteps(b);
      const aT = opts.aT ?? false;
      const bT = opts.bT ?? false;
      const pipeline = this.rt.pipeline(`gemm-f32-${aT ? 't' : 'n'}${bT ? 't' : 'n'}`, () => gemmF32Wgsl(aT, bT));
      const u = this.rt.uniform([m, n, k, { f32: Math.fround(alpha) }, alpha === 1 ? 0 : 1], 'gemm-f32');
      const steps: Step[] = [...(da?.steps ?? []), ...(db?.steps ?? [])];
      steps.push({ pipeline, buffers: [u, da?.buffer ?? a.buffer, db?.buffer ?? b.buffer, out.buffer], grid: this.gemmGrid(m, n) });
      this.rt.submit(steps, 'gemm-f32');
      for (const t of [u, ...(da?.temps ?? []), ...(db?.temps ?? [])]) t.destroy();
      return out;
    }
    const p = alphaParts(alpha);
    this.s8Gemm(a, b, opts, m, n, k, out, [p.lo, p.hi, { i32: p.e }, p.neg ? 1 : 0], null);
    return out;
  }

  /**
   * out [M,N] = op(A_Q)·op(B_Q) with both operands' scales applied on the device, as src/halo/operand.ts's gemm
   * does on the host: per-tensor × per-tensor scales fold into α = sa·sb (one rounding); per-row scales are
   * allowed where the rows are an output dimension (A not transposed, B transposed) and multiply the α = 1
   * result by sa[m]·sb[n] (a second rounding, as operand.ts's scaleRowsCols). Bit-identical to that path on
   * the reference backend. Other combinations: E_UNSUPPORTED (dequantize and use the f32 matmul).
   */
  matmulQuantized(a: GpuQuantized, b: GpuQuantized, layout: GemmLayout = {}): GpuTensor {
    const opts = { aT: layout.aT ?? false, bT: layout.bT ?? false };
    if (a.format !== 'int8' || b.format !== 'int8') {
      throw new HaloError(
        'E_UNSUPPORTED',
        `WebGPU matmulQuantized multiplies int8 codes only, not ${a.format}·${b.format}; read the codes and use matmulHost with α = sa·sb`,
      );
    }
    const { m, n, k } = this.dims(a.q, b.q, opts);
    unsupported(matmulUnsupported(a.q, b.q, opts));
    for (const q of [a, b]) {
      if (q.granularity !== 'tensor' && q.granularity !== 'row') {
        throw new HaloError('E_UNSUPPORTED', `WebGPU matmulQuantized: ${q.granularity} scales do not factor out of the sum; dequantize instead`);
      }
    }
    const rowsA = a.granularity === 'row';
    const rowsB = b.granularity === 'row';
    if ((rowsA && opts.aT) || (rowsB && !opts.bT)) {
      throw new HaloError(
        'E_UNSUPPORTED',
        'WebGPU matmulQuantized: per-row scales along the contraction dimension do not factor out of the sum; dequantize instead',
      );
    }
    const out = this.alloc([m, n], 'f32', `matmulQuantized [${m}, ${n}]`);
    if (m === 0 || n === 0) return out;
    this.s8Gemm(a.q, b.q, opts, m, n, k, out, [0, 0, { i32: 0 }, 0], { a: a.scales.buffer, b: b.scales.buffer, rowsA, rowsB });
    return out;
  }

  private dims(a: GpuTensor, b: GpuTensor, opts: GemmOptions): { m: number; n: number; k: number } {
    // gemmDims wants Tensors only for dims2/dtype; a shape-only stand-in keeps its error messages identical
    const view = (t: GpuTensor) => ({ dtype: t.dtype, dims2: (what: string) => checkDims2(t, what) }) as unknown as Tensor;
    return gemmDims(view(a), view(b), opts);
  }

  private gemmGrid(m: number, n: number): [number, number] {
    const gx = Math.ceil(n / GEMM_TILE);
    const gy = Math.ceil(m / GEMM_TILE);
    const max = this.rt.device.limits.maxComputeWorkgroupsPerDimension;
    if (gx > max || gy > max) throw new HaloError('E_UNSUPPORTED', `WebGPU matmul: [${m}, ${n}] output needs ${gy}×${gx} tiles, above ${max} per dimension`);
    return [gx, gy];
  }

  private s8Gemm(
    a: GpuTensor,
    b: GpuTensor,
    opts: GemmOptions,
    m: number,
    n: number,
    k: number,
    out: GpuTensor,
    alpha: [number, number, { i32: number }, number],
    scales: { a: GpuBuffer; b: GpuBuffer; rowsA: boolean; rowsB: boolean } | null,
  ): void {
    const kw = Math.ceil(k / 4);
    const pa = this.packS8(a, m, k, opts.aT ?? false);
    const pb = this.packS8(b, n, k, !(opts.bT ?? false));
    const mode = scales ? `${scales.rowsA ? 'r' : 't'}${scales.rowsB ? 'r' : 't'}` : 'host';
    const dot4 = this.ctx.dot4I8Packed;
    const pipeline = this.rt.pipeline(`gemm-s8-${mode}-${dot4 ? 'dot4' : 'shift'}`, () =>
      gemmS8Wgsl({ dot4, scales: scales ? { rowsA: scales.rowsA, rowsB: scales.rowsB } : null }),
    );
    const u = this.rt.uniform([m, n, kw, ...alpha], 'gemm-s8');
    const buffers = [u, pa.buffer, pb.buffer, out.buffer, ...(scales ? [scales.a, scales.b] : [])];
    this.rt.submit([...pa.steps, ...pb.steps, { pipeline, buffers, grid: this.gemmGrid(m, n) }], 'gemm-s8');
    for (const t of [u, ...pa.temps, ...pb.temps]) t.destroy();
  }

  /** An f32 copy of a bf16/fp8/fp6 code matrix, same layout, and the dispatch that fills it. */
  private decodeSteps(x: GpuTensor): { buffer: GpuBuffer; steps: Dispatch[]; temps: GpuBuffer[] } {
    const count = x.shape[0] * x.shape[1];
    const dst = this.rt.storage(f32Bytes(count), `decoded ${x.dtype}`);
    const u = this.rt.uniform([count], 'decode');
    const bf16 = x.dtype === 'bf16';
    const pipeline = this.rt.pipeline(`decode-${bf16 ? 'bf16' : 'table'}`, () => decodeWgsl(bf16));
    const buffers = [u, x.buffer, dst, ...(bf16 ? [] : [this.decodeTableBuffer(x.dtype as TableDType)])];
    return { buffer: dst, steps: [{ pipeline, buffers, grid: this.rt.grid1d(count, 'decode') }], temps: [dst, u] };
  }

  private decodeTableBuffer(dtype: TableDType): GpuBuffer {
    let buf = this.tables.get(dtype);
    if (!buf) {
      buf = this.rt.storageFrom(decodeTable(dtype), `${dtype} decode table`);
      this.tables.set(dtype, buf);
    }
    return buf;
  }

  /**
   * Codes of op(X) as rows along K, 4 per word ([R, ceil(K/4)]): `transposed` says X is stored [K, R]. An X
   * stored [R, K] with K a multiple of 4 already is that layout and is used as it is.
   */
  private packS8(x: GpuTensor, r: number, k: number, transposed: boolean): { buffer: GpuBuffer; steps: Dispatch[]; temps: GpuBuffer[] } {
    if (!transposed && k % 4 === 0) return { buffer: x.buffer, steps: [], temps: [] };
    const kw = Math.ceil(k / 4);
    const dst = this.rt.storage(r * kw * 4, 'packed s8');
    const u = this.rt.uniform([r, k, kw, transposed ? 1 : 0], 'pack-s8');
    const pipeline = this.rt.pipeline('pack-s8', () => PACK_S8_WGSL);
    return { buffer: dst, steps: [{ pipeline, buffers: [u, x.buffer, dst], grid: this.rt.grid1d(r * kw, 'pack-s8') }], temps: [dst, u] };
  }

  // ---- rotations ----------------------------------------------------------------------------------------

  /** A rotated copy of an f32 matrix (backend.ts's Rotation), bit-identical to the reference's. */
  rotate(x: GpuTensor, rot: Rotation): GpuTensor {
    unsupported(rotateUnsupported(x, rot));
    const { steps, out, temps } = this.rotateSteps(x, rot);
    this.rt.submit(steps, 'rotate');
    for (const t of temps) t.destroy();
    return out;
  }

  private hadKBuffer(plan: HadamardPlan): GpuBuffer {
    const h = plan.hadK;
    if (!h) return this.noHadK;
    const same = (a: Int8Array) => a.length === h.length && a.every((v, i) => v === h[i]);
    const list = this.hadK.get(plan.K) ?? [];
    const hit = list.find((e) => same(e.h));
    if (hit) return hit.buf;
    const buf = this.rt.storageFrom(Int32Array.from(h), `H_${plan.K}`);
    list.push({ h: h.slice(), buf });
    this.hadK.set(plan.K, list);
    return buf;
  }

  private rotateSteps(x: GpuTensor, rot: Rotation): { steps: Step[]; out: GpuTensor; temps: GpuBuffer[] } {
    const plan = rot.plan;
    checkPlan(plan);
    const [r, c] = x.shape;
    const { n, block, K, pow2: P } = plan;
    if (rot.side === 'right' && c !== n) throw new HaloError('E_SHAPE', `rightHadamard: [${r}, ${n}] needs ${r * n} elements, got ${r * c}`);
    if (rot.side === 'left' && r !== n) throw new HaloError('E_SHAPE', `leftHadamard: plan is for ${n} rows, matrix has ${r}`);
    const right = rot.side === 'right';
    const vectors = right ? (r * n) / block : (n / block) * c;
    const out = this.alloc([r, c], 'f32', `rotated [${r}, ${c}]`);
    if (vectors === 0) return { steps: [], out, temps: [] };
    const scale = Math.fround(1 / Math.sqrt(block));
    const H = this.hadKBuffer(plan);
    const fields = (vpw: number, h: number) => [vectors, block, K, P, right ? 1 : 0, c, vpw, rot.transpose ? 1 : 0, { f32: scale }, h, 0, 0] as const;
    if (block <= SHARED_BLOCK) {
      const vpw = Math.max(1, Math.floor(SHARED_BLOCK / block));
      const u = this.rt.uniform(fields(vpw, 0), 'fwht');
      const pipeline = this.rt.pipeline('fwht-shared', () => FWHT_SHARED_WGSL);
      return { steps: [{ pipeline, buffers: [u, x.buffer, out.buffer, H], grid: this.rt.grid(Math.ceil(vectors / vpw), 'rotation') }], out, temps: [u] };
    }
    // Large blocks: butterflies in place on a copy, one dispatch per stage, then the mix into `out`.
    const work = this.rt.storage(f32Bytes(r * c), 'rotation scratch');
    const temps: GpuBuffer[] = [work];
    const steps: Step[] = [(enc) => enc.copyBufferToBuffer(x.buffer, 0, work, 0, f32Bytes(r * c))];
    const stage = this.rt.pipeline('fwht-stage', () => FWHT_STAGE_WGSL);
    for (let h = 1; h < P; h *= 2) {
      const u = this.rt.uniform(fields(1, h), 'fwht-stage');
      temps.push(u);
      steps.push({ pipeline: stage, buffers: [u, work], grid: this.rt.grid1d((vectors * K * P) / 2, 'rotation stage') });
    }
    const u = this.rt.uniform(fields(1, 0), 'fwht-mix');
    temps.push(u);
    steps.push({
      pipeline: this.rt.pipeline('fwht-mix', () => FWHT_MIX_WGSL),
      buffers: [u, work, out.buffer, H],
      grid: this.rt.grid1d(vectors * block, 'rotation mix'),
    });
    return { steps, out, temps };
  }

  // ---- quantization -------------------------------------------------------------------------------------

  /**
   * Rotate (optional) + absmax + quantize (+ transpose): backend.ts's rotateQuantize on the device, for every
   * format (int8, fp8e4m3, fp8e5m2, fp6e3m2, bf16) and granularity (tensor, row, block32, tile32). Codes and scales equal the
   * reference's bit for bit; non-finite inputs surface as E_NUMERIC from readQuantized.
   */
  rotateQuantize(x: GpuTensor, rot: Rotation | null, format: QuantFormat, granularity: Granularity, opts: RotateQuantizeOptions = {}): GpuQuantized {
    formatTraits(format); // E_ARG for an unknown format or granularity, as the reference
    if (!GRANULARITIES.includes(granularity)) throw new HaloError('E_ARG', `unknown granularity '${granularity}'; use one of ${GRANULARITIES.join(', ')}`);
    unsupported(rotateQuantizeUnsupported(x, rot, format, granularity));
    const codec = wgslCodec(format);
    const g = granularity;
    const rotated = rot ? this.rotateSteps(x, rot) : null;
    const src = rotated ? rotated.out : x;
    const [xr, xc] = x.shape;
    const t = opts.transposeOut ?? false;
    const [R, C] = t ? [xc, xr] : [xr, xc];
    const count = scaleCount(g, R, C);
    const amax = this.rt.storage(count * 4, 'absmax');
    const bad = this.rt.storage(4, 'non-finite count');
    const scales = this.alloc([1, count], 'f32', 'scales');
    const q = this.alloc([R, C], formatTraits(format).dtype, `${format} codes [${R}, ${C}]`);
    const temps: GpuBuffer[] = [amax, ...(rotated ? [...rotated.temps, rotated.out.buffer] : [])];
    const steps: Step[] = rotated ? [...rotated.steps] : [];
    const total = R * C;
    if (g === 'tensor') {
      const u = this.rt.uniform([total], 'absmax');
      temps.push(u);
      const groups = Math.min(Math.ceil(total / WG), 1024);
      steps.push({
        pipeline: this.rt.pipeline('absmax-tensor', () => ABSMAX_TENSOR_WGSL),
        buffers: [u, src.buffer, amax, bad],
        grid: this.rt.grid(groups, 'absmax'),
      });
    } else {
      const u = this.rt.uniform([R, C, t ? 1 : 0, MODE[g], Math.ceil(C / 32), count], 'absmax-groups');
      temps.push(u);
      steps.push({
        pipeline: this.rt.pipeline('absmax-groups', () => ABSMAX_GROUPS_WGSL),
        buffers: [u, src.buffer, amax, bad],
        grid: this.rt.grid(count, 'absmax groups'),
      });
    }
    const us = this.rt.uniform([count, opts.unitScale ? 1 : 0], 'scales');
    const uq = this.rt.uniform([R, C, t ? 1 : 0, MODE[g], Math.ceil(C / 32)], 'quantize');
    temps.push(us, uq);
    steps.push({
      pipeline: this.rt.pipeline(`scales-${format}`, () => scalesWgsl(codec)),
      buffers: [us, amax, scales.buffer],
      grid: this.rt.grid1d(count, 'scales'),
    });
    steps.push({
      pipeline: this.rt.pipeline(`quantize-${format}`, () => quantizeWgsl(codec)),
      buffers: [uq, src.buffer, scales.buffer, q.buffer],
      grid: this.rt.grid1d(Math.ceil(total / codec.perWord), 'quantize'),
    });
    this.rt.submit(steps, 'rotateQuantize');
    for (const b of temps) b.destroy();
    return { format, granularity: g, q, scales, nonFinite: bad, sourceShape: [xr, xc] };
  }

  /** scale·decode(code) as f32 [R, C], bit-identical to the reference's dequantize. */
  dequantize(q: GpuQuantized, dtype: FloatDType = 'f32'): GpuTensor {
    unsupported(dequantizeUnsupported(q.format, q.granularity, dtype));
    const codec = wgslCodec(q.format);
    const [R, C] = q.q.shape;
    const out = this.alloc([R, C], 'f32', `dequantized [${R}, ${C}]`);
    const u = this.rt.uniform([R, C, 0, MODE[q.granularity], Math.ceil(C / 32)], 'dequantize');
    const table = codec.table ? [this.decodeTableBuffer(formatTraits(q.format).dtype as TableDType)] : [];
    this.rt.submit(
      [
        {
          pipeline: this.rt.pipeline(`dequantize-${q.format}`, () => dequantizeWgsl(codec)),
          buffers: [u, q.q.buffer, q.scales.buffer, out.buffer, ...table],
          grid: this.rt.grid1d(R * C, 'dequantize'),
        },
      ],
      'dequantize',
    );
    u.destroy();
    return out;
  }

  // ---- host-array wrappers (backend.ts's argument types; what the synchronous bridge calls) ------------------

  /** backend.matmul on host tensors: upload, run, read. Rejects with E_UNSUPPORTED for what support.ts rules out. */
  async matmulHost(a: Tensor, b: Tensor, opts: GemmOptions = {}): Promise<FloatTensor> {
    gemmDims(a, b, opts);
    unsupported(matmulUnsupported(a, b, opts));
    const ga = this.upload(a);
    const gb = this.upload(b);
    let out: GpuTensor | null = null;
    try {
      out = this.matmul(ga, gb, opts);
      return (await this.read(out)) as Tensor<'f32'>;
    } finally {
      this.release(ga, gb, out);
    }
  }

  /** backend.rotate on a host tensor. */
  async rotateHost(x: FloatTensor, rot: Rotation): Promise<FloatTensor> {
    unsupported(rotateUnsupported(x, rot));
    x.dims2('rotation input');
    const gx = this.upload(x);
    let out: GpuTensor | null = null;
    try {
      out = this.rotate(gx, rot);
      return (await this.read(out)) as Tensor<'f32'>;
    } finally {
      this.release(gx, out);
    }
  }

  /** backend.rotateQuantize on a host tensor. */
  async rotateQuantizeHost(
    x: FloatTensor,
    rot: Rotation | null,
    format: QuantFormat,
    granularity: Granularity,
    opts: RotateQuantizeOptions = {},
  ): Promise<Quantized> {
    unsupported(rotateQuantizeUnsupported(x, rot, format, granularity));
    x.dims2('quantize input');
    const gx = this.upload(x);
    let q: GpuQuantized | null = null;
    try {
      q = this.rotateQuantize(gx, rot, format, granularity, opts);
      return await this.readQuantized(q);
    } finally {
      this.release(gx, q);
    }
  }

  /** backend.dequantize on host codes. */
  async dequantizeHost(q: Quantized, dtype: FloatDType): Promise<FloatTensor> {
    unsupported(dequantizeUnsupported(q.format, q.granularity, dtype));
    const [R, C] = q.q.dims2('quantized codes');
    const want = scaleCount(q.granularity, R, C);
    if (q.scales.length !== want) throw new HaloError('E_SHAPE', `${q.granularity} scales of [${R}, ${C}] codes need ${want} entries, got ${q.scales.length}`);
    const codeType = formatTraits(q.format).dtype;
    if (q.q.dtype !== codeType) throw new HaloError('E_DTYPE', `${q.format} codes must be ${codeType}, got ${q.q.dtype}`);
    const gq: GpuQuantized = {
      format: q.format,
      granularity: q.granularity,
      q: this.upload(q.q),
      scales: this.upload(new Tensor([1, q.scales.length], 'f32', q.scales)),
      nonFinite: this.rt.storage(4, 'non-finite count'),
      sourceShape: [R, C],
    };
    let out: GpuTensor | null = null;
    try {
      out = this.dequantize(gq, dtype);
      return (await this.read(out)) as Tensor<'f32'>;
    } finally {
      this.release(gq, out);
    }
  }

  /** Frees the cached H_K buffers and the device. */
  destroy(): void {
    this.noHadK.destroy();
    for (const list of this.hadK.values()) for (const e of list) e.buf.destroy();
    for (const buf of this.tables.values()) buf.destroy();
    this.ctx.device.destroy();
  }
}

function checkDims2(t: GpuTensor, what: string): [number, number] {
  if (t.shape.length !== 2) throw new HaloError('E_SHAPE', `${what} must be 2-D, got shape [${t.shape.join(', ')}]`);
  return [t.shape[0], t.shape[1]];
}
