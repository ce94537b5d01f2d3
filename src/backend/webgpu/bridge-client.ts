// The worker side of the synchronous WebGPU bridge (bridge-protocol.ts): a Backend whose f32 and int8 GEMMs
// and int8 rotate+quantize run on the page's GPU, each call blocking until the page answers. Everything else
// — f64 (gradient checks), bf16 and fp8/fp6 codes, other granularities, transposes, dequantize — runs on the
// reference backend in the worker, as does any call the GPU refused once (E_UNSUPPORTED), so a model trains
// the same either way. Small calls stay in the worker too (BridgeOptions): a round trip costs milliseconds
// whatever its size (tens of them on SwiftShader), more than a decode step's 4-row GEMM or a LoRA factor's
// rank-16 product takes on the CPU. Each call copies its operands in and its result out: the tensors do not stay on the
// device between kernels (the device-resident API is kernels.ts; the model's contract is synchronous).
import type { Backend, FloatTensor, GemmOptions, Rotation } from '../backend.ts';
import { referenceBackend } from '../reference/index.ts';
import { HaloError } from '../../core/errors.ts';
import { Tensor } from '../../core/tensor.ts';
import type { Granularity, QuantFormat, Quantized } from '../../quant/index.ts';
import { matmulUnsupported } from './support.ts';
import {
  align16,
  DATA_START,
  ERROR_BYTES,
  FAILED,
  IDLE,
  OK,
  SCALE_COUNT,
  STATE,
  type BridgeMessage,
  type BridgeRequest,
  type SharedArray,
} from './bridge-protocol.ts';

/** How the worker reaches the page: postMessage of the worker's global scope. */
export type PostToHost = (msg: BridgeMessage) => void;

export interface BridgeStats {
  gpuCalls: number;
  cpuCalls: number;
  /** Milliseconds the worker spent blocked on the GPU (copies included). */
  gpuMs: number;
}

export interface BridgeOptions {
  /** GEMMs with fewer multiply-adds than this run in the worker (default 2^22). */
  minGpuMacs?: number;
  /** rotate+quantize calls on fewer elements than this run in the worker (default 2^16). */
  minGpuElements?: number;
  /**
   * f32 GEMMs on the GPU (default true). False keeps them in the worker: on a CPU-emulated adapter (SwiftShader)
   * the JavaScript GEMM is faster than the round trip.
   */
  gpuF32?: boolean;
}

export class BridgedBackend implements Backend {
  readonly name: string;
  private readonly minMacs: number;
  private readonly minElements: number;
  private readonly gpuF32: boolean;
  readonly stats: BridgeStats = { gpuCalls: 0, cpuCalls: 0, gpuMs: 0 };
  private buffer: SharedArrayBuffer | null = null;
  private control: Int32Array | null = null;
  private fresh = false;
  private readonly refused = new Set<string>();

  constructor(
    private readonly post: PostToHost,
    opts: BridgeOptions & { name?: string } = {},
  ) {
    this.name = opts.name ?? 'webgpu';
    this.minMacs = opts.minGpuMacs ?? 1 << 22;
    this.minElements = opts.minGpuElements ?? 1 << 16;
    this.gpuF32 = opts.gpuF32 ?? true;
  }

  matmul(a: Tensor, b: Tensor, opts: GemmOptions = {}): FloatTensor {
    const [ar, ac] = a.dims2('matmul A');
    const [br, bc] = b.dims2('matmul B');
    const M = opts.aT ? ac : ar;
    const N = opts.bT ? br : bc;
    const K = opts.aT ? ar : ac;
    const key = `matmul:${a.dtype}`;
    const gpu =
      ((a.dtype === 'f32' && b.dtype === 'f32') || (a.dtype === 'i8' && b.dtype === 'i8')) &&
      M * N * K >= this.minMacs &&
      matmulUnsupported(a, b, opts) === null;
    if (!gpu || this.refused.has(key)) return this.cpu(() => referenceBackend.matmul(a, b, opts));
    return this.gpu(
      key,
      () => referenceBackend.matmul(a, b, opts),
      (place) => {
        const pa = place(a);
        const pb = place(b);
        const out = place(null, M * N * 4);
        const req: BridgeRequest = { kind: 'matmul', a: pa, b: pb, opts: { aT: opts.aT, bT: opts.bT, alpha: opts.alpha }, out: out.offset, outShape: [M, N] };
        return { req, read: (buf) => new Tensor([M, N], 'f32', new Float32Array(buf, out.offset, M * N).slice()) as FloatTensor };
      },
    );
  }

  matmulT(a: Tensor, b: Tensor, alpha?: number): FloatTensor {
    return this.matmul(a, b, { bT: true, alpha });
  }

  transpose<T extends Tensor>(a: T): T {
    return referenceBackend.transpose(a);
  }

  rotate(x: FloatTensor, rot: Rotation): FloatTensor {
    return referenceBackend.rotate(x, rot);
  }

  rotateQuantize(
    x: FloatTensor,
    rot: Rotation | null,
    format: QuantFormat,
    granularity: Granularity,
    opts: { transposeOut?: boolean; unitScale?: boolean } = {},
  ): Quantized {
    const key = `rq:${granularity}`;
    const [r, c] = x.dims2('rotateQuantize input');
    const gpu = x.dtype === 'f32' && format === 'int8' && (granularity === 'tensor' || granularity === 'row') && !opts.unitScale && r * c >= this.minElements;
    const fallback = () => referenceBackend.rotateQuantize(x, rot, format, granularity, opts);
    if (!gpu || this.refused.has(key)) return this.cpu(fallback);
    const transposeOut = opts.transposeOut === true;
    const nScales = granularity === 'tensor' ? 1 : transposeOut ? c : r;
    return this.gpu(key, fallback, (place) => {
      const px = place(x);
      const codes = place(null, r * c);
      const scales = place(null, nScales * 4);
      const plan = rot ? { n: rot.plan.n, block: rot.plan.block, K: rot.plan.K, pow2: rot.plan.pow2, hadK: rot.plan.hadK } : null;
      const req: BridgeRequest = {
        kind: 'rotateQuantize',
        x: px,
        rot: rot && plan ? { plan, side: rot.side, transpose: rot.transpose } : null,
        format,
        granularity,
        transposeOut,
        codes: codes.offset,
        scales: scales.offset,
      };
      const shape = transposeOut ? [c, r] : [r, c];
      return {
        req,
        read: (buf) => ({
          format,
          granularity,
          q: new Tensor(shape, 'i8', new Int8Array(buf, codes.offset, r * c).slice()),
          scales: new Float32Array(buf, scales.offset, nScales).slice(),
        }),
      };
    });
  }

  dequantize(q: Quantized, dtype: 'f32' | 'f64'): FloatTensor {
    return referenceBackend.dequantize(q, dtype);
  }

  private cpu<T>(f: () => T): T {
    this.stats.cpuCalls++;
    return f();
  }

  /**
   * Lays out a request in the shared buffer (growing it when needed), posts it, blocks until the page answers.
   * A FAILED answer with E_UNSUPPORTED marks `key` refused and runs `fallback`; other failures throw.
   */
  private gpu<T>(
    key: string,
    fallback: () => T,
    build: (place: (t: Tensor | null, bytes?: number) => SharedArray & { offset: number }) => { req: BridgeRequest; read: (buf: SharedArrayBuffer) => T },
  ): T {
    const t0 = performance.now();
    // First pass sizes the request, second writes it into a buffer at least that big.
    let size = DATA_START;
    const measure = (t: Tensor | null, bytes = 0) => {
      const offset = size;
      size = align16(size + (t ? t.data.byteLength : bytes));
      return { dtype: 'f32' as const, shape: [], offset };
    };
    build(measure);
    this.ensure(size);
    const buf = this.buffer!;
    let at = DATA_START;
    const place = (t: Tensor | null, bytes = 0): SharedArray => {
      const offset = at;
      if (t) {
        new Uint8Array(buf, offset, t.data.byteLength).set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        at = align16(at + t.data.byteLength);
        return { dtype: t.dtype as 'f32' | 'i8', shape: [...t.shape], offset };
      }
      at = align16(at + bytes);
      return { dtype: 'f32', shape: [], offset };
    };
    const { req, read } = build(place);
    const control = this.control!;
    Atomics.store(control, STATE, IDLE);
    this.post(this.fresh ? { halobridge: req, buffer: buf } : { halobridge: req });
    this.fresh = false;
    while (Atomics.load(control, STATE) === IDLE) Atomics.wait(control, STATE, IDLE);
    this.stats.gpuMs += performance.now() - t0;
    if (Atomics.load(control, STATE) === OK) {
      this.stats.gpuCalls++;
      return read(buf);
    }
    const n = Atomics.load(control, ERROR_BYTES);
    const message = new TextDecoder().decode(new Uint8Array(buf, DATA_START, n).slice());
    if (message.startsWith('E_UNSUPPORTED')) {
      this.refused.add(key);
      return this.cpu(fallback);
    }
    throw new HaloError('E_DEVICE', `WebGPU ${req.kind} failed on the page: ${message}`);
  }

  private ensure(bytes: number): void {
    if (this.buffer && this.buffer.byteLength >= bytes) return;
    // Grow by half again so a slowly growing batch does not reallocate every step.
    const size = Math.max(bytes, Math.ceil((this.buffer?.byteLength ?? 0) * 1.5), 1 << 20);
    this.buffer = new SharedArrayBuffer(align16(size));
    this.control = new Int32Array(this.buffer, 0, 16);
    this.fresh = true;
  }
}
