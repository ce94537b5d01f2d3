// The page's training worker: loads the model and data, fine-tunes LoRA adapters step by step (LoraSession),
// answers held-out questions before and after, and posts each result to the page. Its backend is the WebGPU
// bridge (GEMMs and rotate+quantize on the page's GPU, the worker blocked on each call) or, without WebGPU, the
// JavaScript reference backend. Runs in a Worker because the bridge blocks (Atomics.wait), which a page may not.
import type { Backend } from '../src/backend/backend.ts';
import { referenceBackend } from '../src/backend/reference/index.ts';
import { registerBackend } from '../src/backend/registry.ts';
import { BridgedBackend } from '../src/backend/webgpu/bridge-client.ts';
import { fetchModelFiles, loadModelFiles } from '../src/browser/model-files.ts';
import { LoraSession } from '../src/browser/lora-session.ts';
import { parseJsonl, type DataRecord } from '../src/data/jsonl-parse.ts';
import type { StartMessage, WorkerMessage } from './messages.ts';

const post = (m: WorkerMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

async function records(url: string | undefined, text: string | undefined, from: number, to: number): Promise<DataRecord[]> {
  const body = text ?? (await (await fetch(url!)).text());
  return parseJsonl(body, url ?? 'dropped file').records.slice(from, to);
}

async function start(m: StartMessage): Promise<void> {
  let backend: Backend = referenceBackend;
  if (m.gpu) {
    const bridged = new BridgedBackend((msg) => post(msg as unknown as WorkerMessage), { gpuF32: m.gpuF32 });
    registerBackend('webgpu', () => ({ backend: bridged }));
    backend = bridged;
  }
  post({ type: 'status', text: `loading ${m.modelUrl} …` });
  const files = loadModelFiles(await fetchModelFiles(m.modelUrl), m.modelUrl);
  const train = await records(m.trainUrl, m.trainText, 0, m.trainRows);
  const evalSet = await records(m.evalUrl, undefined, 0, m.evalRows);
  const shown = evalSet.slice(0, m.showQuestions);
  const session = new LoraSession(files, train, {
    backend,
    steps: m.steps,
    lr: m.lr,
    batchSize: m.batchSize,
    maxSeqLen: m.maxSeqLen,
    seed: m.seed,
    baseModel: 'halo-tiny',
  });
  const trainable = session.model.adapterParameters().reduce((s, p) => s + p.data.length, 0);
  post({
    type: 'status',
    text: `${train.length} training rows (${session.trainExamples.length} examples), LoRA r16 on 7 projections: ${trainable.toLocaleString('en-US')} trainable parameters`,
  });
  post({ type: 'status', text: 'answering held-out questions before training …' });
  const before = session.answer(shown, m.maxNewTokens);
  const evalLossBefore = session.evalLoss(evalSet);
  post({ type: 'before', answers: before, evalLoss: evalLossBefore });
  let tokens = 0;
  let ms = 0;
  const losses: number[] = [];
  for (let i = 0; i < m.steps; i++) {
    const s = session.step();
    tokens += s.tokens;
    ms += s.ms;
    losses.push(s.loss);
    post({ type: 'step', step: s, steps: m.steps, tokensPerSecond: tokens / (ms / 1000) });
  }
  post({ type: 'status', text: 'answering the same questions after training …' });
  const evalLoss = session.evalLoss(evalSet);
  const after = session.answer(shown, m.maxNewTokens);
  const adapter: Record<string, Uint8Array> = {};
  for (const [name, f] of session.adapterFiles()) adapter[name] = typeof f === 'string' ? new TextEncoder().encode(f) : f;
  post({
    type: 'done',
    backend: backend.name,
    answers: after,
    evalLoss,
    evalLossBefore,
    losses,
    tokensPerSecond: tokens / (ms / 1000),
    trainSeconds: ms / 1000,
    bridge: backend instanceof BridgedBackend ? { ...backend.stats } : null,
    adapter,
  });
}

self.addEventListener('message', (e: MessageEvent) => {
  const m = e.data as StartMessage;
  if (m?.type !== 'start') return;
  start(m).catch((err: unknown) => post({ type: 'error', text: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) }));
});
