// `npm run test:browser -- --demo [--json] [--steps N] [--eval-rows N] [--questions N] [--max-new-tokens N]
// [--screenshot FILE] [--allow-reference]`: drives the page (web/) in headless Chromium through a
// LoRA fine-tune of halo-tiny on WebGPU, then checks what the page claims from Node: the adapter it offers for
// download, evaluated by `halo eval --adapter … --as-trained`, must give the eval loss the page reported
// (1e-3 relative on the reference backend; the native backend's figure is reported), and the eval loss must
// have fallen. Saves a screenshot of the page (docs/browser.png).
// Prints one JSON object with --json. Exit 0 when every check holds, 1 when one fails, 2 without a browser.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundlePage, REPO_ROOT } from '../../web/build.ts';
import { serveStatic } from '../../web/serve.ts';
import { launchChromium } from './chromium.ts';

interface PageResult {
  backend: string;
  gpu: string | null;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  losses: number[];
  evalLoss: number;
  evalLossBefore: number;
  tokensPerSecond: number;
  trainSeconds: number;
  bridge: { gpuCalls: number; cpuCalls: number; gpuMs: number } | null;
  answers: { prompt: string; reference: string; prediction: string; correct: boolean }[];
  adapter: Record<string, string>;
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export async function runDemo(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const steps = Number(flag(argv, '--steps') ?? 30);
  const shot = flag(argv, '--screenshot') ?? path.join(REPO_ROOT, 'docs', 'browser.png');
  const allowReference = argv.includes('--allow-reference');
  const evalRows = Number(flag(argv, '--eval-rows') ?? 16);
  const questions = Number(flag(argv, '--questions') ?? 3);
  const maxNewTokens = Number(flag(argv, '--max-new-tokens') ?? 40);
  // A short run (CI's) checks the plumbing; whether the loss falls is asked of runs of 10 steps or more.
  const expectLearning = steps >= 10;
  const log = (s: string) => process.stderr.write(s + '\n');
  const browser = await launchChromium();
  if (typeof browser === 'string') {
    log(`browser demo: ${browser}`);
    return 2;
  }
  const server = await serveStatic(REPO_ROOT, await bundlePage());
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    page.on('console', (m) => {
      if (m.type() === 'error') log(`page: ${m.text()}`);
    });
    page.on('pageerror', (e) => log(`page error: ${(e as Error).message}`));
    await page.goto(`${server.url}/web/`);
    await page.waitForFunction('window.haloDemo !== undefined');
    const ready = (await page.evaluate('window.haloDemo.ready')) as { gpu: string | null; reason: string | null };
    log(`page: ${ready.gpu ? `WebGPU ${ready.gpu}` : `no WebGPU (${ready.reason})`}; training ${steps} LoRA steps …`);
    const t0 = performance.now();
    const r = (await page.evaluate(
      `window.haloDemo.run({ steps: ${steps}, evalRows: ${evalRows}, questions: ${questions}, maxNewTokens: ${maxNewTokens} })`,
    )) as PageResult;
    const pageSeconds = (performance.now() - t0) / 1000;
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-browser-adapter-'));
    for (const [name, b64] of Object.entries(r.adapter)) fs.writeFileSync(path.join(dir, name), Buffer.from(b64, 'base64'));
    // The same command on the reference backend, whose ops are the page's own (its int8 GEMMs and quantizers
    // are bit-identical on the GPU), must agree to 1e-3 (the issue's bar). Not to the last bit: Chromium's V8
    // and Node's differ in the last bit of Math.exp/log/sin/cos for a few percent of arguments (softmax, SiLU,
    // RoPE, the loss), and HALO-2 INT8 turns some of those differences into moved int8 codes. The native
    // backend's figure is reported, not checked: Node's two backends differ by as much (docs/browser.md).
    const nodeEval = (backend: string): number => {
      const ev = spawnSync(
        process.execPath,
        [
          path.join(REPO_ROOT, 'bin', 'halo.js'),
          'eval',
          '--model',
          path.join(REPO_ROOT, 'models', 'halo-tiny'),
          '--adapter',
          dir,
          '--as-trained',
          '--data',
          `${path.join(REPO_ROOT, 'data', 'sql', 'eval.jsonl')}:0:${evalRows}`,
          '--metric',
          'loss',
          '--json',
          '--backend',
          backend,
        ],
        { encoding: 'utf8' },
      );
      if (ev.status !== 0) throw new Error(`halo eval --adapter --backend ${backend} failed (exit ${ev.status}): ${ev.stderr}`);
      return (JSON.parse(ev.stdout) as { loss: number }).loss;
    };
    const nodeEvalLoss = nodeEval('native');
    const nodeEvalLossReference = nodeEval('reference');
    const relDiff = Math.abs(nodeEvalLoss - r.evalLoss) / Math.abs(nodeEvalLoss);
    const relDiffReference = Math.abs(nodeEvalLossReference - r.evalLoss) / Math.abs(nodeEvalLossReference);
    const checks = {
      backendIsWebgpu: r.backend === 'webgpu' || allowReference,
      evalLossFell: !expectLearning || r.evalLoss < r.evalLossBefore,
      trainLossFell: !expectLearning || r.lastLoss < r.firstLoss,
      gpuDidTheGemms: allowReference || (r.bridge !== null && r.bridge.gpuCalls > 0),
      nodeEvalMatches: relDiffReference <= 1e-3,
    };
    const { adapter: _a, ...rest } = r;
    const out = {
      ...rest,
      adapter: dir,
      adapterFiles: Object.keys(r.adapter),
      nodeEvalLoss,
      relDiff,
      nodeEvalLossReference,
      relDiffReference,
      pageSeconds,
      screenshot: path.relative(REPO_ROOT, shot),
      checks,
    };
    if (json) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      log(`backend ${r.backend} (${r.gpu ?? 'no GPU'}), ${r.steps} steps in ${r.trainSeconds.toFixed(1)} s, ${r.tokensPerSecond.toFixed(0)} tokens/s`);
      log(
        `train loss ${r.firstLoss.toFixed(4)} → ${r.lastLoss.toFixed(4)}; eval loss ${r.evalLossBefore.toFixed(4)} → ${r.evalLoss.toFixed(4)}; halo eval --adapter in Node: ${nodeEvalLoss.toFixed(6)} (rel diff ${relDiff.toExponential(2)}), on its reference backend ${nodeEvalLossReference.toFixed(6)} (${relDiffReference.toExponential(2)})`,
      );
      for (const [k, v] of Object.entries(checks)) log(`${v ? 'ok  ' : 'FAIL'} ${k}`);
    }
    return Object.values(checks).every(Boolean) ? 0 : 1;
  } finally {
    await browser.close();
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await runDemo(process.argv.slice(2));
