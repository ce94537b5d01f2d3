// The plumbing under the WebGPU kernels: compiled pipelines cached by key, storage/uniform buffers, dispatch
// grids that stay under the per-dimension workgroup limit, one command encoder per op, and the device's
// asynchronous errors (shader compilation, validation, device loss) collected so the next read throws them
// instead of returning garbage. Kept apart from kernels.ts so that file reads as the list of ops.
import { HaloError } from '../../core/errors.ts';
import type { GpuContext } from './device.ts';
import {
  BufferUsage,
  MAP_READ,
  type GpuBindGroup,
  type GpuBuffer,
  type GpuCommandEncoder,
  type GpuComputePassEncoder,
  type GpuComputePipeline,
  type GpuDevice,
} from './gpu-types.ts';

/** Invocations per workgroup of every 1-D kernel (the WGSL sources say @workgroup_size(256)). */
export const WG = 256;

/** A uniform field: u32 by default, or tagged i32/f32. */
export type UniformField = number | { i32: number } | { f32: number };

/** One dispatch of one pipeline: its bindings in order (binding i ← buffers[i]) and its grid. */
export interface Dispatch {
  pipeline: GpuComputePipeline;
  buffers: readonly GpuBuffer[];
  grid: readonly [number, number];
}

export class GpuRuntime {
  readonly device: GpuDevice;
  private readonly pipelines = new Map<string, GpuComputePipeline>();
  private readonly errors: string[] = [];
  private lost: string | null = null;

  constructor(readonly ctx: GpuContext) {
    this.device = ctx.device;
    this.device.addEventListener('uncapturederror', (ev) => this.errors.push(ev.error.message));
    void this.device.lost.then((info) => {
      this.lost = `${info.reason}: ${info.message}`;
    });
  }

  /** The pipeline for `key`, compiling `source()` the first time. */
  pipeline(key: string, source: () => string): GpuComputePipeline {
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const module = this.device.createShaderModule({ code: source(), label: key });
    void module.getCompilationInfo().then((info) => {
      for (const m of info.messages) {
        if (m.type === 'error') this.errors.push(`WGSL ${key}:${m.lineNum}:${m.linePos}: ${m.message}`);
      }
    });
    const p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    this.pipelines.set(key, p);
    return p;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** A zero-filled storage buffer of at least `bytes` (rounded up to 4; WebGPU binds no empty buffer). */
  storage(bytes: number, label: string): GpuBuffer {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const limit = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    if (size > limit) {
      throw new HaloError('E_UNSUPPORTED', `WebGPU: ${label} needs a ${size}-byte buffer, above this device's ${limit}-byte storage binding limit`);
    }
    return this.device.createBuffer({ size, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, label });
  }

  /** A storage buffer holding `data`'s bytes (zero-padded to a multiple of 4). */
  storageFrom(data: ArrayBufferView, label: string): GpuBuffer {
    const buf = this.storage(data.byteLength, label);
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // writeBuffer refuses views of shared memory (the worker bridge's operands live in a SharedArrayBuffer)
    if (typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer) bytes = bytes.slice();
    const whole = bytes.byteLength & ~3;
    if (whole > 0) this.device.queue.writeBuffer(buf, 0, bytes, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(buf, whole, tail);
    }
    return buf;
  }

  /** A uniform buffer of 4-byte fields, padded to 16 bytes. */
  uniform(fields: readonly UniformField[], label: string): GpuBuffer {
    const n = Math.max(4, Math.ceil(fields.length / 4) * 4);
    const view = new DataView(new ArrayBuffer(n * 4));
    fields.forEach((f, i) => {
      if (typeof f === 'number') view.setUint32(i * 4, f >>> 0, true);
      else if ('i32' in f) view.setInt32(i * 4, f.i32, true);
      else view.setFloat32(i * 4, f.f32, true);
    });
    const buf = this.device.createBuffer({ size: n * 4, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label });
    this.device.queue.writeBuffer(buf, 0, view.buffer);
    return buf;
  }

  /** Workgroups for `count` groups as a 2-D grid (x ≤ the per-dimension limit); kernels flatten wid.x + wid.y·nwg.x. */
  grid(count: number, what: string): [number, number] {
    if (count <= 0) return [0, 0];
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    const x = Math.min(count, max);
    const y = Math.ceil(count / x);
    if (y > max) throw new HaloError('E_UNSUPPORTED', `WebGPU: ${what} needs ${count} workgroups, above ${max}² per dispatch`);
    return [x, y];
  }

  /** Workgroups for one invocation per item, WG per workgroup. */
  grid1d(items: number, what: string): [number, number] {
    return this.grid(Math.ceil(items / WG), what);
  }

  /** Record dispatches (and optional buffer copies before them) into one command buffer and submit it. */
  submit(steps: readonly (Dispatch | ((enc: GpuCommandEncoder) => void))[], label: string): void {
    this.check();
    const enc = this.device.createCommandEncoder({ label });
    let pass: GpuComputePassEncoder | null = null;
    for (const step of steps) {
      if (typeof step === 'function') {
        if (pass) {
          pass.end();
          pass = null;
        }
        step(enc);
        continue;
      }
      if (step.grid[0] === 0 || step.grid[1] === 0) continue;
      if (!pass) pass = enc.beginComputePass({ label });
      pass.setPipeline(step.pipeline);
      pass.setBindGroup(0, this.bindGroup(step.pipeline, step.buffers, label));
      pass.dispatchWorkgroups(step.grid[0], step.grid[1]);
    }
    if (pass) pass.end();
    this.device.queue.submit([enc.finish()]);
  }

  private bindGroup(pipeline: GpuComputePipeline, buffers: readonly GpuBuffer[], label: string): GpuBindGroup {
    return this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      label,
    });
  }

  /** The first `bytes` of a buffer, copied through a mappable staging buffer. */
  async readBytes(src: GpuBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'read' });
    try {
      this.submit([(enc) => enc.copyBufferToBuffer(src, 0, staging, 0, size)], 'read');
      await staging.mapAsync(MAP_READ);
      const out = staging.getMappedRange().slice(0, bytes);
      staging.unmap();
      this.check();
      return out;
    } finally {
      staging.destroy();
    }
  }

  /** Throws the errors the device reported since the last check (they are asynchronous in WebGPU). */
  check(): void {
    if (this.lost !== null) throw new HaloError('E_NATIVE', `WebGPU device lost (${this.lost})`);
    if (this.errors.length > 0) {
      const all = this.errors.splice(0, this.errors.length);
      throw new HaloError('E_NATIVE', `WebGPU reported ${all.length} error(s): ${all.slice(0, 3).join(' | ')}`);
    }
  }

  /** Waits for submitted work, then throws any error it raised. */
  async settle(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    await Promise.resolve();
    this.check();
  }
}
