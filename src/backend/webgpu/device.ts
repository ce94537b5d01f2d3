// Finding a WebGPU device: navigator.gpu → adapter → device, asking for the adapter's full buffer limits (the
// defaults cap a storage binding at 128 MiB, too small for a real layer's weight) and for 'subgroups' where the
// adapter has it. Missing WebGPU is a HaloError('E_UNSUPPORTED') naming what is missing, so a caller (the
// browser bridge, the conformance runner) can say why and fall back to the reference backend.
import { HaloError } from '../../core/errors.ts';
import type { Gpu, GpuAdapter, GpuDevice } from './gpu-types.ts';

export interface GpuContext {
  readonly adapter: GpuAdapter;
  readonly device: GpuDevice;
  /** One line: vendor, architecture, device, description as the adapter reports them. */
  readonly description: string;
  /** WGSL's packed_4x8_integer_dot_product (dot4I8Packed); without it the s8 GEMM unpacks bytes by shifts. */
  readonly dot4I8Packed: boolean;
  /** The device was created with the 'subgroups' feature. */
  readonly subgroups: boolean;
}

/** navigator.gpu, or null when this JavaScript realm has no WebGPU (Node, about:blank, an old browser). */
export function findGpu(): Gpu | null {
  const nav = (globalThis as { navigator?: { gpu?: Gpu } }).navigator;
  return nav?.gpu ?? null;
}

/** "vendor / architecture / device (description)", leaving out what the adapter does not say. */
export function describeAdapter(adapter: GpuAdapter): string {
  const info = adapter.info;
  if (!info) return 'unknown adapter (no GPUAdapterInfo)';
  const parts = [info.vendor, info.architecture, info.device].filter((s) => s && s.length > 0);
  const head = parts.length > 0 ? parts.join(' / ') : 'unnamed adapter';
  return info.description ? `${head} (${info.description})` : head;
}

/** Limits worth raising to the adapter's maximum: the kernels bind whole tensors as storage buffers. */
const RAISED_LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const;

export async function requestGpu(opts: { gpu?: Gpu; powerPreference?: 'low-power' | 'high-performance' } = {}): Promise<GpuContext> {
  const gpu = opts.gpu ?? findGpu();
  if (!gpu) {
    throw new HaloError(
      'E_UNSUPPORTED',
      'WebGPU is not available here (no navigator.gpu): use a browser with WebGPU enabled, on a page served over ' +
        'http(s) (about:blank and file: pages have none), or the reference/native backend',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new HaloError('E_UNSUPPORTED', 'WebGPU has no adapter (navigator.gpu.requestAdapter() returned null): no usable GPU or software renderer');
  }
  const requiredFeatures = adapter.features.has('subgroups') ? ['subgroups'] : [];
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = adapter.limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  let device: GpuDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'halo' });
  } catch (e) {
    throw new HaloError('E_UNSUPPORTED', `WebGPU adapter ${describeAdapter(adapter)} refused a device: ${(e as Error).message}`, { cause: e });
  }
  return {
    adapter,
    device,
    description: describeAdapter(adapter),
    dot4I8Packed: gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') ?? false,
    subgroups: requiredFeatures.length > 0,
  };
}
