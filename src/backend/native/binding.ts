// The exact typed surface of the C++ addon native/build/Release/halo_native.node (native/src/binding.cc), and
// its loader. TypedArrays cross without copies; shapes are integers; enums are the small integers below
// (mirrored in native/src/common.h). Nothing here allocates: callers pass output arrays.
import { HaloError } from '../../core/errors.ts';
import type { QuantFormat, Granularity } from '../../quant/index.ts';

// Node's own modules come from process.getBuiltinModule instead of import statements: the backend registry
// imports this file, and the browser build has no node: modules (there the native backend is unavailable).
const nodeBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
const nodeFs = nodeBuiltin?.('node:fs') as typeof import('node:fs') | undefined;
const nodeModule = nodeBuiltin?.('node:module') as typeof import('node:module') | undefined;
const nodeUrl = nodeBuiltin?.('node:url') as typeof import('node:url') | undefined;

/** Path of the built addon ('' outside Node). */
export const ADDON_PATH = nodeUrl ? nodeUrl.fileURLToPath(new URL('../../../native/build/Release/halo_native.node', import.meta.url)) : '';

/** Operand types of matmul/matmulT (native GemmType). fp8/fp6 codes are decoded to bf16 exactly, then a bf16 GEMM. */
export const GEMM_TYPES = { f32: 0, bf16: 1, i8: 2, fp8e4m3: 3, fp8e5m2: 4, fp6e3m2: 5 } as const;
export type GemmDType = keyof typeof GEMM_TYPES;

/** Quantized formats (native Format); same order as QUANT_FORMAT_NAMES. */
export const FORMAT_CODES: { readonly [F in QuantFormat]: number } = { int8: 0, fp8e4m3: 1, fp8e5m2: 2, fp6e3m2: 3, bf16: 4 };
export const GRANULARITY_CODES: { readonly [G in Granularity]: number } = { tensor: 0, row: 1, block32: 2, tile32: 3 };
export const SIDE_CODES = { none: -1, right: 0, left: 1 } as const;

/** How the fused quantizer keeps rotated values between its absmax and encode passes (tests and benchmarks). */
export const QUANT_STRATEGY = { auto: 0, recompute: 1, scratch: 2 } as const;

export interface CpuFeatures {
  avx2: boolean;
  fma: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512dq: boolean;
  avx512vl: boolean;
  avx512vnni: boolean;
  avx512bf16: boolean;
  avx512fp16: boolean;
  amxTile: boolean;
  amxInt8: boolean;
  amxBf16: boolean;
  /** Code path of halo's own kernels: 2 AVX-512, 1 AVX2, 0 portable. */
  tier: number;
}

/** Codes storage per format: Int8Array (int8), Uint16Array (bf16), Uint8Array (fp8/fp6). */
export type CodeArray = Int8Array | Uint8Array | Uint16Array;

export interface NativeAddon {
  /** Whether loading the addon set glibc malloc to keep freed memory (native/src/allocator.cc; HALO_MALLOC=system: off). */
  keepsFreedMemory: boolean;
  cpuFeatures(): CpuFeatures;
  /** Caps the code path (0 portable, 1 AVX2, 2 AVX-512) so tests can run every path; returns the tier in use. */
  setKernelTier(tier: number): number;
  /** OpenMP threads used by oneDNN and halo's kernels. */
  getThreads(): number;
  setThreads(n: number): void;
  /** α = 1 float GEMMs with M·N·K below `work`, s8 GEMMs below 16·work, run on the calling thread only (0: never; default 2^21); returns the previous bound. */
  setSerialGemmWork(work: number): number;
  dnnlVersion(): string;
  /** oneDNN's implementation name for a GEMM problem, e.g. 'brg:avx512_core_vnni'; aKM/bKN as in matmul. */
  gemmImpl(type: number, m: number, n: number, k: number, aKM?: boolean, bKN?: boolean): string;
  /** out [m, n] = alpha·a [m, k]·b [n, k]ᵀ. a, b: Float32Array (f32), Uint16Array (bf16), Int8Array (i8), Uint8Array (fp8/fp6). */
  matmulT(type: number, a: ArrayBufferView, b: ArrayBufferView, m: number, n: number, k: number, alpha: number, out: Float32Array): void;
  /**
   * out [m, n] = alpha·Σ_k A[m, k]·B[n, k], a stored [m, k] or, with aKM, [k, m]; b stored [n, k] or, with bKN,
   * [k, n] (oneDNN strides, no copies). Same operand arrays as matmulT.
   */
  matmul(
    type: number,
    a: ArrayBufferView,
    b: ArrayBufferView,
    m: number,
    n: number,
    k: number,
    aKM: boolean,
    bKN: boolean,
    alpha: number,
    out: Float32Array,
  ): void;
  /** dst [cols, rows] = src [rows, cols]ᵀ; src and dst of the same element size (1, 2, 4 or 8 bytes), not the same memory. */
  transpose(src: ArrayBufferView, dst: ArrayBufferView, rows: number, cols: number): void;
  /** out = x rotated (out may be x). side 0 right (cols = n), 1 left (rows = n). hadK: K×K ±1, null when K = 1. */
  rotate(
    x: Float32Array,
    out: Float32Array,
    rows: number,
    cols: number,
    side: number,
    n: number,
    block: number,
    K: number,
    pow2: number,
    hadK: Int8Array | null,
    transpose: boolean,
  ): void;
  /**
   * Fused rotate + absmax + quantize (+ transpose). side -1: no rotation (plan arguments ignored).
   * codes: [rows, cols], or [cols, rows] with transposeOut; scales: 1 | code rows | code rows·ceil(code cols/32).
   * Returns 0, or the number of non-finite inputs (codes unspecified), or -1 when a scale overflows f32.
   */
  quantize(
    x: Float32Array,
    rows: number,
    cols: number,
    side: number,
    n: number,
    block: number,
    K: number,
    pow2: number,
    hadK: Int8Array | null,
    transpose: boolean,
    format: number,
    granularity: number,
    transposeOut: boolean,
    unitScale: boolean,
    clipRatio: number,
    codes: CodeArray,
    scales: Float32Array,
    strategy?: number,
  ): number;
  /** out [R, C] = scale·decode(codes [R, C]). */
  dequantize(codes: CodeArray, R: number, C: number, format: number, granularity: number, scales: Float32Array, out: Float32Array): void;
}

export type LoadResult = { addon: NativeAddon; error: null } | { addon: null; error: string };

let cached: LoadResult | null = null;

/** Loads the addon once; on failure says why (not built, or failed to load, e.g. libdnnl missing). */
export function loadAddon(): LoadResult {
  if (cached) return cached;
  if (!nodeFs || !nodeModule) {
    cached = { addon: null, error: 'the native addon loads only in Node.js (>= 20.16)' };
    return cached;
  }
  if (!nodeFs.existsSync(ADDON_PATH)) {
    cached = { addon: null, error: `native addon not built (${ADDON_PATH} missing; run 'node native/build.mjs', needs libdnnl-dev)` };
    return cached;
  }
  // OpenMP workers that spin between parallel regions (libgomp's default) fight Node's own threads (GC,
  // compiler, I/O) and anything else on a small machine: on 2 cores we measured 20–50× slowdowns of short
  // kernels. Sleeping workers cost a few µs of wake-up per region. libgomp reads this when the addon loads
  // it, so it must be set before the require; an explicit user setting wins.
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) process.env.OMP_WAIT_POLICY = 'passive';
  try {
    const addon = nodeModule.createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    cached = { addon, error: null };
  } catch (e) {
    cached = { addon: null, error: `native addon failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
  return cached;
}

/**
 * The model's element-wise kernels (native/src/nn.h), f32 only; typed wrapper with the reference ops' checks:
 * src/backend/native/nn-kernels.ts. Separate from NativeAddon because an addon built before they existed lacks them
 * (nnKernels() then falls back to the TypeScript ops). Outputs are caller-allocated; none allocates.
 */
export interface NativeNnAddon {
  /** y [N, C] = w ⊙ x·rstd; rstd [N] = 1/√(mean(x²) + eps). y may be x. */
  rmsnormForward(x: Float32Array, w: Float32Array, N: number, C: number, eps: number, y: Float32Array, rstd: Float32Array): void;
  /** dw [C] += Σ dy ⊙ x·rstd (null: frozen), dx [N, C] written (may be dy). */
  rmsnormBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rstd: Float32Array,
    N: number,
    C: number,
    dw: Float32Array | null,
    dx: Float32Array,
  ): void;
  /** x = a + b (x may be a or b), then y, rstd as rmsnormForward(x): one pass over the rows. */
  addRmsnormForward(
    a: Float32Array,
    b: Float32Array,
    w: Float32Array,
    N: number,
    C: number,
    eps: number,
    x: Float32Array,
    y: Float32Array,
    rstd: Float32Array,
  ): void;
  /** dx = rmsnormBackward(dy, x, w, rstd, …) + res, dw as rmsnormBackward; dx may be dy or res. */
  rmsnormBackwardAdd(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rstd: Float32Array,
    N: number,
    C: number,
    dw: Float32Array | null,
    res: Float32Array,
    dx: Float32Array,
  ): void;
  /** out [N, H, D] = x rotated by cos/sin [N, D/2]; sign 1 forward, −1 backward. out may be x. */
  ropeRotate(x: Float32Array, cos: Float32Array, sin: Float32Array, N: number, H: number, D: number, sign: 1 | -1, out: Float32Array): void;
  /** out = silu(gate) ⊙ up over gate.length elements. */
  swigluForward(gate: Float32Array, up: Float32Array, out: Float32Array): void;
  /** dgate, dup from dh (outputs may alias inputs). */
  swigluBackward(dh: Float32Array, gate: Float32Array, up: Float32Array, dgate: Float32Array, dup: Float32Array): void;
  /** lse [N] written; returns the summed loss (double) and the counted rows. Throws on a target outside [0, V). */
  crossEntropyForward(
    logits: Float32Array,
    targets: Int32Array,
    N: number,
    V: number,
    ignoreIndex: number,
    mask: Uint8Array | null,
    lse: Float32Array,
  ): { lossSum: number; count: number };
  /** dlogits [N, V] = (softmax − onehot)·inv on counted rows, 0 elsewhere; may be logits. */
  crossEntropyBackward(
    logits: Float32Array,
    targets: Int32Array,
    lse: Float32Array,
    N: number,
    V: number,
    ignoreIndex: number,
    mask: Uint8Array | null,
    inv: number,
    dlogits: Float32Array,
  ): void;
  /** out [ids.length, C] = rows of wte [V, C]. */
  embeddingForward(ids: Int32Array, wte: Float32Array, V: number, C: number, out: Float32Array): void;
  /** dwte rows ids[n] += dout row n, in order of n. */
  embeddingBackward(dout: Float32Array, ids: Int32Array, dwte: Float32Array, V: number, C: number): void;
  /** One AdamW step in place; scalars as src/optim/adamw.ts computes them. */
  adamwUpdate(
    param: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    beta1: number,
    beta2: number,
    oneMinusBeta1: number,
    oneMinusBeta2: number,
    decay: number,
    stepSize: number,
    bc2Sqrt: number,
    eps: number,
  ): void;
  /**
   * AdamW with block-wise quantized moments in place (src/optim/adamw8bit.ts adamwBlockUpdate): codes qm, qv
   * [n], scales [ceil(n / block)], maps [256]. Optional: an addon built before it lacks it (then the oracle runs).
   */
  adamw8bitUpdate?(
    param: Float32Array,
    grad: Float32Array,
    qm: Uint8Array,
    qv: Uint8Array,
    mScale: Float32Array,
    vScale: Float32Array,
    mapM: Float32Array,
    mapV: Float32Array,
    block: number,
    beta1: number,
    beta2: number,
    oneMinusBeta1: number,
    oneMinusBeta2: number,
    decay: number,
    stepSize: number,
    bc2Sqrt: number,
    eps: number,
  ): void;
  /** dst += src. */
  addInto(dst: Float32Array, src: Float32Array): void;
  /** g = bf16(f32(g) + x), g bf16 bits (src/optim/bf16-grad.ts addIntoBf16). Optional: older addons lack it. */
  addIntoBf16?(g: Uint16Array, x: Float32Array): void;
  /** s0 + Σ g² in f64, index order (gradSumSquares on bf16 bits). Optional. */
  sumSquaresBf16?(g: Uint16Array, s0: number): number;
  /** g = bf16(f32(g · coef)) (scaleGrad on bf16 bits). Optional. */
  scaleBf16?(g: Uint16Array, coef: number): void;
  /** out = a + b (out may be a or b). */
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /**
   * Causal GQA attention (native/src/nn_attention.cc; the op of src/nn/ops/attention.ts): q [B, T, Hq, D], k, v
   * [B, T, Hkv, D], keyMask [B, T] or null, window 0 = none; writes out [B, T, Hq, D] and lse [B, Hq, T].
   * Outputs must not alias the inputs. Optional: an addon built before it lacks it (then attention-gemm runs).
   */
  attentionForward?(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    keyMask: Uint8Array | null,
    B: number,
    T: number,
    Hq: number,
    Hkv: number,
    D: number,
    window: number,
    scale: number,
    out: Float32Array,
    lse: Float32Array,
  ): void;
  /** dq [B, T, Hq, D], dk, dv [B, T, Hkv, D] from dout and the forward's lse (every element written; no aliasing). */
  attentionBackward?(
    dout: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    lse: Float32Array,
    keyMask: Uint8Array | null,
    B: number,
    T: number,
    Hq: number,
    Hkv: number,
    D: number,
    window: number,
    scale: number,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
  ): void;
}

/** Names of NativeNnAddon's functions (to check an addon has all of them). */
export const NATIVE_NN_FUNCTIONS: readonly (keyof NativeNnAddon)[] = [
  'rmsnormForward',
  'rmsnormBackward',
  'addRmsnormForward',
  'rmsnormBackwardAdd',
  'ropeRotate',
  'swigluForward',
  'swigluBackward',
  'crossEntropyForward',
  'crossEntropyBackward',
  'embeddingForward',
  'embeddingBackward',
  'adamwUpdate',
  'addInto',
  'add',
];

/** Runs an addon call, turning its errors (which name the bad argument) into HaloError E_NATIVE. */
export function callAddon<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HaloError) throw e;
    throw new HaloError('E_NATIVE', (e as Error).message, { cause: e });
  }
}
