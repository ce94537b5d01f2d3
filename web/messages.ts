// What the page and its training worker say to each other (besides the WebGPU bridge's own messages).
import type { Answer, LoraStep } from '../src/browser/lora-session.ts';

export interface StartMessage {
  type: 'start';
  /** Run GEMMs on WebGPU through the bridge (the page serves it), else the reference backend in the worker. */
  gpu: boolean;
  /** f32 GEMMs on the GPU too (BridgeOptions.gpuF32); the page says no on a software adapter. */
  gpuF32: boolean;
  modelUrl: string;
  /** Training rows: fetched from trainUrl, or the text of a file the user dropped in. */
  trainUrl?: string;
  trainText?: string;
  trainRows: number;
  evalUrl: string;
  /** Eval-loss rows (the first evalRows of evalUrl) and how many of them are asked as questions. */
  evalRows: number;
  showQuestions: number;
  steps: number;
  lr: number;
  batchSize: number;
  maxSeqLen: number;
  seed: number;
  maxNewTokens: number;
}

export interface DoneMessage {
  type: 'done';
  backend: string;
  answers: Answer[];
  evalLoss: number;
  evalLossBefore: number;
  losses: number[];
  tokensPerSecond: number;
  trainSeconds: number;
  bridge: { gpuCalls: number; cpuCalls: number; gpuMs: number } | null;
  /** The adapter folder's files (adapter_config.json, adapter_model.safetensors, halo_config.json). */
  adapter: Record<string, Uint8Array>;
}

export type WorkerMessage =
  | { type: 'status'; text: string }
  | { type: 'before'; answers: Answer[]; evalLoss: number }
  | { type: 'step'; step: LoraStep; steps: number; tokensPerSecond: number }
  | DoneMessage
  | { type: 'error'; text: string };
