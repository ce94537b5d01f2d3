// The browser build reaches no Node module: the library's browser entry (src/browser/index.ts, the package's
// 'halo/browser') and the page's two bundles (web/main.ts, web/train-worker.ts) build with esbuild for the
// browser under web/build.ts's plugin, which fails the build on any node: or bare builtin import.
import assert from 'node:assert/strict';
import test from 'node:test';
import { bundleForBrowser, bundlePage } from '../../web/build.ts';

test("src/browser/index.ts ('halo/browser') bundles for the browser without Node's modules", async () => {
  const out = await bundleForBrowser({ '/halo-browser.js': 'src/browser/index.ts' });
  const code = out.get('/halo-browser.js')!;
  assert.ok(code.length > 100_000, 'the bundle holds the library');
  assert.ok(!/from\s*["']node:/.test(code), 'no node: import survives in the output');
});

test('the page and its training worker bundle for the browser', async () => {
  const out = await bundlePage();
  assert.deepEqual([...out.keys()].sort(), ['/web/main.js', '/web/train-worker.js']);
  assert.match(out.get('/web/train-worker.js')!, /LoraSession = class|class LoraSession/);
  assert.match(out.get('/web/main.js')!, /dot4I8Packed/);
});
