// The synchronous bridge between a training worker and the WebGPU device: the model, the trainer and the
// Backend contract are synchronous, and WebGPU gives results only asynchronously (mapAsync). So the training
// code runs in a Web Worker whose backend (bridge-client.ts) writes a request's operands into a
// SharedArrayBuffer, posts a short message to the page, and blocks in Atomics.wait; the page (bridge-host.ts)
// runs the kernels on the GPU, writes the result into the same buffer and wakes it with Atomics.notify.
// Needs a cross-origin-isolated page (COOP/COEP headers, web/serve.ts) for SharedArrayBuffer.
//
// Buffer layout: an Int32 control block of CONTROL_INTS words, then the data area (operands, then results),
// each array at an offset aligned to 16 bytes. The control words are below.
import type { GemmOptions, Side } from '../backend.ts';
import type { Granularity, QuantFormat } from '../../quant/index.ts';

export const CONTROL_INTS = 16;
export const DATA_START = CONTROL_INTS * 4;

/** Control word indices. */
export const STATE = 0; // IDLE while a request runs, then OK or FAILED
export const ERROR_BYTES = 1; // length of the UTF-8 error message written at DATA_START when FAILED
export const SCALE_COUNT = 2; // scales written by rotateQuantize

export const IDLE = 0;
export const OK = 1;
export const FAILED = 2;

/** A typed array in the shared buffer: dtype, shape and byte offset. */
export interface SharedArray {
  dtype: 'f32' | 'i8';
  shape: number[];
  offset: number;
}

/** A Hadamard plan as it crosses (structured clone keeps the Int8Array). */
export interface PlanMessage {
  n: number;
  block: number;
  K: number;
  pow2: number;
  hadK: Int8Array | null;
}

export type BridgeRequest =
  | { kind: 'matmul'; a: SharedArray; b: SharedArray; opts: GemmOptions; out: number; outShape: [number, number] }
  | {
      kind: 'rotateQuantize';
      x: SharedArray;
      rot: { plan: PlanMessage; side: Side; transpose: boolean } | null;
      format: QuantFormat;
      granularity: Granularity;
      transposeOut: boolean;
      codes: number;
      scales: number;
    };

/** What the worker posts: the request, and the shared buffer when it is new (first call, or grown). */
export interface BridgeMessage {
  halobridge: BridgeRequest;
  buffer?: SharedArrayBuffer;
}

export const align16 = (n: number): number => (n + 15) & ~15;
