// One table describing every element type halo stores (ggml's type_traits idea): storage array, bytes per
// element, whether the values are floating point. Codes for the 8-bit and 6-bit float formats are kept
// one per byte; FP6 is simulated (no hardware GEMM), so packing 6 bits would only cost time.
export type DType = 'f64' | 'f32' | 'bf16' | 'f16' | 'i32' | 'i8' | 'fp8e4m3' | 'fp8e5m2' | 'fp6e3m2';

export interface StorageMap {
  f64: Float64Array;
  f32: Float32Array;
  bf16: Uint16Array;
  f16: Uint16Array;
  i32: Int32Array;
  i8: Int8Array;
  fp8e4m3: Uint8Array;
  fp8e5m2: Uint8Array;
  fp6e3m2: Uint8Array;
}
export type Storage<D extends DType = DType> = StorageMap[D];

interface DTypeInfo {
  bytes: number;
  make(n: number): Storage;
}

export const DTYPES: { readonly [D in DType]: DTypeInfo } = {
  f64: { bytes: 8, make: (n) => new Float64Array(n) },
  f32: { bytes: 4, make: (n) => new Float32Array(n) },
  bf16: { bytes: 2, make: (n) => new Uint16Array(n) },
  f16: { bytes: 2, make: (n) => new Uint16Array(n) },
  i32: { bytes: 4, make: (n) => new Int32Array(n) },
  i8: { bytes: 1, make: (n) => new Int8Array(n) },
  fp8e4m3: { bytes: 1, make: (n) => new Uint8Array(n) },
  fp8e5m2: { bytes: 1, make: (n) => new Uint8Array(n) },
  fp6e3m2: { bytes: 1, make: (n) => new Uint8Array(n) },
};

/** Arrays the float math runs on. f64 exists for finite-difference gradient checks. */
export type FloatArray = Float32Array | Float64Array;
export type FloatDType = 'f32' | 'f64';

export function isFloatArray(a: unknown): a is FloatArray {
  return a instanceof Float32Array || a instanceof Float64Array;
}

/** A new float array of the same precision as `like`. */
export function floatLike(like: FloatArray, n: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}
