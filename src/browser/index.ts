// The library in a browser (`import … from 'halo/browser'`, bundled by the user's bundler): what a page needs to
// fine-tune a model it fetched, with nothing that reaches Node's modules. web/ is a page built on it.
export { fetchModelFiles, loadModelFiles, weightFileNames, type LoadedModelFiles, type ModelFiles } from './model-files.ts';
export { LoraSession, type Answer, type LoraSessionOptions, type LoraStep } from './lora-session.ts';
export type { Backend } from '../backend/backend.ts';
export { referenceBackend } from '../backend/reference/index.ts';
export { backendNames, registerBackend } from '../backend/registry.ts';
export { BridgedBackend, type BridgeOptions, type BridgeStats } from '../backend/webgpu/bridge-client.ts';
export { serveBridge, type AsyncKernels, type BridgeHost } from '../backend/webgpu/bridge-host.ts';
export { requestGpu, type GpuContext } from '../backend/webgpu/device.ts';
export { WebGpuKernels, type GpuTensor, type GpuQuantized } from '../backend/webgpu/kernels.ts';
export { HaloError } from '../core/errors.ts';
export { Tensor } from '../core/tensor.ts';
export { parseJsonl, type DataRecord } from '../data/jsonl-parse.ts';
export { describeConfig, haloConfig, type HaloConfig } from '../halo/config.ts';
export { parseSafetensorsBytes, serializeSafetensors } from '../io/safetensors-format.ts';
export { adapterFiles } from '../peft/format.ts';
