// The page: finds WebGPU (or says why not and trains on the JavaScript reference backend), starts the training
// worker, serves its GPU requests over the bridge, and draws the loss, the answers before and after, and the
// adapter's download links. window.haloDemo.run() is the same run for a test driver (test/browser/demo.ts).
import { serveBridge } from '../src/backend/webgpu/bridge-host.ts';
import { gpuKernelsForBridge } from './gpu.ts';
import type { DoneMessage, StartMessage, WorkerMessage } from './messages.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface RunOptions {
  steps?: number;
  lr?: number;
  trainText?: string;
  /** false: train on the reference backend even where WebGPU works (a comparison run). */
  gpu?: boolean;
  /** Held-out rows for the eval loss (default 16), questions asked of them (3), tokens per answer (40). */
  evalRows?: number;
  questions?: number;
  maxNewTokens?: number;
}

export interface DemoResult extends Omit<DoneMessage, 'type' | 'adapter'> {
  gpu: string | null;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  /** The adapter's files, base64 (what the download links hold). */
  adapter: Record<string, string>;
}

const gpuReady = gpuKernelsForBridge();

function drawLoss(losses: number[], total: number): void {
  const svg = $('loss') as unknown as SVGSVGElement;
  if (losses.length === 0) return;
  const max = Math.max(...losses) * 1.05;
  const min = Math.min(0, Math.min(...losses));
  const x = (i: number) => 40 + (580 * i) / Math.max(1, total - 1);
  const y = (v: number) => 200 - (180 * (v - min)) / (max - min || 1);
  const pts = losses.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const ticks = [min, (min + max) / 2, max].map((v) => `<text x="4" y="${y(v) + 4}" font-size="11" fill="#59606e">${v.toFixed(2)}</text>`).join('');
  svg.innerHTML =
    `${ticks}<line x1="40" y1="200" x2="620" y2="200" stroke="#c9ced8"/><polyline fill="none" stroke="#2f5bd3" stroke-width="2" points="${pts}"/>` +
    `<text x="600" y="214" font-size="11" fill="#59606e" text-anchor="end">step ${losses.length}/${total}</text>`;
}

function showAnswers(before: DoneMessage['answers'], after: DoneMessage['answers'] | null): void {
  const body = $('answers').querySelector('tbody')!;
  body.innerHTML = '';
  before.forEach((b, i) => {
    const a = after?.[i];
    const tr = document.createElement('tr');
    const cell = (text: string, ok = false) => {
      const td = document.createElement('td');
      const code = document.createElement('code');
      code.textContent = text;
      td.append(code);
      if (ok) td.className = 'ok';
      return td;
    };
    const q = document.createElement('td');
    q.textContent = b.prompt.length > 220 ? b.prompt.slice(0, 220) + ' …' : b.prompt;
    tr.append(q, cell(b.reference), cell(b.prediction, b.correct), cell(a ? a.prediction : '…', a?.correct ?? false));
    body.append(tr);
  });
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function showDownloads(files: Record<string, Uint8Array>): void {
  const box = $('download');
  box.innerHTML =
    'Save these into one folder, then in Node: <code>halo eval --model models/halo-tiny --adapter FOLDER --as-trained --data data/sql/eval.jsonl --metric loss</code><br>';
  for (const [name, bytes] of Object.entries(files)) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes as BlobPart]));
    a.download = name;
    a.textContent = `${name} (${bytes.length.toLocaleString('en-US')} bytes)`;
    box.append(a);
  }
}

let running = false;

async function run(o: RunOptions = {}): Promise<DemoResult> {
  if (running) throw new Error('a run is already going');
  running = true;
  $<HTMLButtonElement>('train').disabled = true;
  try {
    const gpu = await gpuReady;
    const steps = o.steps ?? Number($<HTMLInputElement>('steps').value);
    const worker = new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module' });
    const useGpu = gpu.kernels !== null && o.gpu !== false;
    if (useGpu) serveBridge(worker, gpu.kernels!, { log: new URLSearchParams(location.search).has('log') ? (l) => console.log(l) : undefined });
    const start: StartMessage = {
      type: 'start',
      gpu: useGpu,
      gpuF32: !/swiftshader/i.test(gpu.description ?? ''),
      modelUrl: new URL('../models/halo-tiny/', location.href).href,
      trainUrl: o.trainText === undefined ? new URL('../data/sql/train.jsonl', location.href).href : undefined,
      trainText: o.trainText,
      trainRows: 400,
      evalUrl: new URL('../data/sql/eval.jsonl', location.href).href,
      evalRows: o.evalRows ?? 16,
      showQuestions: o.questions ?? 3,
      steps,
      lr: o.lr ?? Number($<HTMLInputElement>('lr').value),
      batchSize: 4,
      maxSeqLen: 256,
      seed: 0,
      maxNewTokens: o.maxNewTokens ?? 40,
    };
    let before: DoneMessage['answers'] = [];
    const losses: number[] = [];
    const done = await new Promise<DoneMessage>((resolve, reject) => {
      worker.addEventListener('error', (e) => reject(new Error(`training worker failed: ${e.message}`)));
      worker.addEventListener('message', (e: MessageEvent) => {
        const m = e.data as WorkerMessage | { halobridge: unknown };
        if ('halobridge' in m) return;
        if (m.type === 'status') $('status').textContent = m.text;
        else if (m.type === 'before') {
          before = m.answers;
          showAnswers(before, null);
          $('evalloss').textContent = `eval loss before: ${m.evalLoss.toFixed(4)}`;
        } else if (m.type === 'step') {
          losses.push(m.step.loss);
          drawLoss(losses, m.steps);
          $('status').textContent = `step ${m.step.step}/${m.steps}: loss ${m.step.loss.toFixed(4)}, lr ${m.step.lr.toExponential(2)}`;
          $('speed').textContent = `${m.tokensPerSecond.toFixed(0)} tokens/s`;
        } else if (m.type === 'done') resolve(m);
        else if (m.type === 'error') reject(new Error(m.text));
      });
      worker.postMessage(start);
    });
    worker.terminate();
    showAnswers(before, done.answers);
    $('evalloss').textContent = `eval loss (${start.evalRows} held-out rows): ${done.evalLossBefore.toFixed(4)} before → ${done.evalLoss.toFixed(4)} after`;
    $('status').textContent =
      `done: ${steps} steps on ${done.backend === 'webgpu' ? `WebGPU (${gpu.description})` : 'the JavaScript reference backend'} in ${done.trainSeconds.toFixed(1)} s`;
    showDownloads(done.adapter);
    const { adapter, type: _t, ...rest } = done;
    return {
      ...rest,
      gpu: gpu.description,
      steps,
      firstLoss: done.losses[0]!,
      lastLoss: done.losses.at(-1)!,
      adapter: Object.fromEntries(Object.entries(adapter).map(([k, v]) => [k, base64(v)])),
    };
  } finally {
    running = false;
    $<HTMLButtonElement>('train').disabled = false;
  }
}

async function init(): Promise<void> {
  const gpu = await gpuReady;
  const line = $('backend');
  if (gpu.kernels) {
    const soft = /swiftshader/i.test(gpu.description ?? '');
    line.textContent = `Backend: WebGPU — ${gpu.description}. The 8-bit GEMMs run as dot4I8Packed on it, with the rotations and quantizers${
      soft ? '; f32 GEMMs stay in JavaScript (a software adapter is slower at them than the CPU)' : ' and the f32 GEMMs'
    }.`;
  } else {
    line.textContent = `WebGPU is not available (${gpu.reason}); training runs on the JavaScript reference backend instead, slower but the same numbers.`;
    line.className = 'note warn';
  }
  const button = $<HTMLButtonElement>('train');
  button.disabled = false;
  button.addEventListener('click', async () => {
    const file = $<HTMLInputElement>('data').files?.[0];
    try {
      await run({ trainText: file ? await file.text() : undefined });
    } catch (e) {
      $('status').textContent = `error: ${(e as Error).message}`;
      $('status').className = 'note warn';
    }
  });
}

(window as unknown as { haloDemo: unknown }).haloDemo = { run, ready: gpuReady.then((g) => ({ gpu: g.description, reason: g.reason })) };
void init();
