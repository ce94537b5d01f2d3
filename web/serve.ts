// A static file server for the browser page and the browser tests: files from the repository root (the
// page's HTML, the shipped model and data) plus bundles built in memory by esbuild. It sends the two headers
// that make a page cross-origin isolated (COOP/COEP), without which a page has no SharedArrayBuffer, and so no
// synchronous bridge from the training worker to the GPU (src/backend/webgpu/bridge.ts).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.jsonl': 'application/x-ndjson',
  '.map': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `root`'s files under `/` (never outside it) and `extra` (URL path → bytes or text) on 127.0.0.1:`port`
 * (0: any free port).
 */
export async function serveStatic(root: string, extra: ReadonlyMap<string, string | Uint8Array> = new Map(), port = 0): Promise<StaticServer> {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let rel = decodeURIComponent(url.pathname);
    if (rel.endsWith('/')) rel += 'index.html';
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cache-Control', 'no-store');
    const type = TYPES[path.extname(rel)] ?? 'application/octet-stream';
    const mem = extra.get(rel);
    if (mem !== undefined) {
      res.writeHead(200, { 'Content-Type': type });
      res.end(mem);
      return;
    }
    const file = path.resolve(base, '.' + rel);
    if (file !== base && !file.startsWith(base + path.sep)) {
      res.writeHead(403).end('outside the served folder');
      return;
    }
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${rel}`);
        return;
      }
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': st.size });
      fs.createReadStream(file).pipe(res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const p = typeof addr === 'object' && addr ? addr.port : port;
  return {
    url: `http://127.0.0.1:${p}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
