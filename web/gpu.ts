// The page's GPU: WebGPU kernels for the training worker's bridge, or the reason there are none (no WebGPU, no
// adapter, or a page that is not cross-origin isolated, without which there is no SharedArrayBuffer to bridge
// through). The page then trains on the reference backend and says why.
import type { AsyncKernels } from '../src/backend/webgpu/bridge-host.ts';
import { WebGpuKernels } from '../src/backend/webgpu/kernels.ts';

export interface PageGpu {
  kernels: AsyncKernels | null;
  description: string | null;
  reason: string | null;
}

export async function gpuKernelsForBridge(): Promise<PageGpu> {
  if (!globalThis.crossOriginIsolated) {
    return {
      kernels: null,
      description: null,
      reason: 'the page is not cross-origin isolated (serve it with COOP/COEP headers: npm run web), so there is no SharedArrayBuffer for the GPU bridge',
    };
  }
  try {
    const k = await WebGpuKernels.create();
    return {
      kernels: {
        matmul: (a, b, opts) => k.matmulHost(a, b, opts),
        rotateQuantize: (x, rot, format, granularity, opts) => k.rotateQuantizeHost(x, rot, format, granularity, opts),
      },
      description: k.description,
      reason: null,
    };
  } catch (e) {
    return { kernels: null, description: null, reason: (e as Error).message };
  }
}
