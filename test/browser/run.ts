// `npm run test:browser`: the WebGPU kernels' conformance run in headless Chromium. Bundles
// conformance.entry.ts in memory with esbuild for the browser (a `node:` or Node-builtin import anywhere in it
// fails the build: the check that the browser path has no Node imports), serves it with web/serve.ts
// (an http page: about:blank has no navigator.gpu), launches Chromium with WebGPU on SwiftShader through
// puppeteer-core and prints one line per check (`--json`: one JSON object).
// Exit status: 0 all pass, 1 any failure (or the bundle would not build), 2 no Chromium or no WebGPU in it.
// `--demo` runs test/browser/demo.ts's runDemo(argv) instead (the lead's page demo).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { noNodeImports } from '../../web/build.ts';
import { serveStatic } from '../../web/serve.ts';
import { chromiumPath, launchChromium } from './chromium.ts';
import type { ConformanceReport } from './conformance.entry.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ENTRY = path.join(import.meta.dirname, 'conformance.entry.ts');
/** How long the page may take (SwiftShader runs on the CPU). */
const TIMEOUT_MS = 10 * 60_000;

/** The conformance page's script, bundled for the browser. Throws esbuild's error when the bundle fails. */
export async function bundleConformance(): Promise<string> {
  const out = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [noNodeImports],
  });
  return out.outputFiles[0]!.text;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>halo WebGPU conformance</title><link rel="icon" href="data:,">
<script type="module" src="/__conformance/conformance.js"></script>`;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--demo')) {
    // the lead's page demo lives in demo.ts; loaded by URL so this runner does not depend on it being present
    const demo = (await import(new URL('./demo.ts', import.meta.url).href)) as { runDemo(argv: string[]): Promise<number | void> };
    const rc = await demo.runDemo(argv);
    return typeof rc === 'number' ? rc : 0;
  }
  const json = argv.includes('--json');
  const say = (line: string) => {
    if (!json) console.log(line);
  };
  const exe = chromiumPath();
  if (!fs.existsSync(exe)) {
    const why = `no Chromium at ${exe} (set HALO_CHROMIUM to a Chromium/Chrome binary)`;
    if (json) console.log(JSON.stringify({ pass: false, unsupported: why, results: [] }));
    else console.error(`browser tests not run: ${why}`);
    return 2;
  }
  const t0 = performance.now();
  let bundle: string;
  try {
    bundle = await bundleConformance();
  } catch (e) {
    const msg = (e as Error).message;
    if (json) console.log(JSON.stringify({ pass: false, error: `bundle: ${msg}`, results: [] }));
    else console.error(`FAIL bundle for the browser: ${msg}`);
    return 1;
  }
  const tBundle = performance.now() - t0;
  const server = await serveStatic(
    ROOT,
    new Map([
      ['/__conformance/index.html', PAGE],
      ['/__conformance/conformance.js', bundle],
    ]),
  );
  const browser = await launchChromium();
  if (typeof browser === 'string') {
    console.error(`browser tests not run: ${browser}`);
    return 2;
  }
  try {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    if (!json)
      page.on('console', (m) => {
        if (m.type() === 'error') console.error(`[page] ${m.text()}`);
      });
    await page.goto(`${server.url}/__conformance/index.html`);
    try {
      await page.waitForFunction('globalThis.__haloConformance?.done === true || globalThis.__haloConformance?.error !== undefined', {
        timeout: TIMEOUT_MS,
        polling: 200,
      });
    } catch (e) {
      console.error(
        `FAIL the page did not finish in ${TIMEOUT_MS / 1000} s: ${(e as Error).message}${pageErrors.length ? `; page errors: ${pageErrors.join(' | ')}` : ''}`,
      );
      return 1;
    }
    const report = (await page.evaluate('globalThis.__haloConformance')) as ConformanceReport | { done: true; error: string };
    const ms = performance.now() - t0;
    if ('error' in report) {
      if (json) console.log(JSON.stringify({ pass: false, error: report.error, results: [] }));
      else console.error(`FAIL the conformance page threw: ${report.error}`);
      return 1;
    }
    if (report.unsupported) {
      if (json) console.log(JSON.stringify({ pass: false, unsupported: report.unsupported, results: [] }));
      else console.error(`browser tests not run: ${report.unsupported}`);
      return 2;
    }
    const failed = report.results.filter((r) => !r.pass);
    for (const r of report.results) say(`${r.pass ? 'ok  ' : 'FAIL'} ${r.name} — ${r.detail} (${r.ms} ms)`);
    say(
      `${report.results.length - failed.length}/${report.results.length} passed on ${report.adapter}; ` +
        `bundle ${(tBundle / 1000).toFixed(2)} s, page ${(report.ms / 1000).toFixed(1)} s, total ${(ms / 1000).toFixed(1)} s`,
    );
    if (json) {
      console.log(
        JSON.stringify({
          pass: failed.length === 0 && report.results.length > 0,
          adapter: report.adapter,
          ms: Math.round(ms),
          pageMs: Math.round(report.ms),
          results: report.results,
        }),
      );
    }
    return failed.length === 0 && report.results.length > 0 ? 0 : 1;
  } finally {
    await browser.close();
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('test/browser/run.ts')) {
  main(process.argv.slice(2)).then(
    (rc) => process.exit(rc),
    (e: unknown) => {
      console.error(`FAIL ${(e as Error).stack ?? String(e)}`);
      process.exit(1);
    },
  );
}
