// `npm run web`: builds the page in memory and serves it with the repository's model and data at
// http://127.0.0.1:PORT/web/ (PORT: --port N, default 8080). Open it in a browser with WebGPU.
import { bundlePage, REPO_ROOT } from './build.ts';
import { serveStatic } from './serve.ts';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  process.stdout.write('Usage: npm run web [-- --port N]\n\nServes the in-browser fine-tuning page (web/) with halo-tiny and the SQL data; Ctrl-C stops it.\n');
  process.exit(0);
}
const i = args.indexOf('--port');
const port = i >= 0 ? Number(args[i + 1]) : 8080;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`error: --port must be an integer in [0, 65535], got ${args[i + 1]}\n`);
  process.exit(2);
}
const bundles = await bundlePage();
const server = await serveStatic(REPO_ROOT, bundles, port);
process.stdout.write(`halo web: ${server.url}/web/  (Ctrl-C stops)\n`);
