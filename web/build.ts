// The browser build: esbuild bundles the page (web/main.ts) and its training worker (web/train-worker.ts) from
// the library's TypeScript, in memory. Any `node:` import reached from them fails the build, naming the file
// that imports it: the check that the browser path of the library is free of Node.
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Fails the build on `node:` imports (and Node's bare built-in names), saying who imports them. */
export const noNodeImports: esbuild.Plugin = {
  name: 'no-node-imports',
  setup(build) {
    const bare = new Set(builtinModules);
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.path.startsWith('node:') || bare.has(args.path)) {
        return {
          errors: [{ text: `${path.relative(REPO_ROOT, args.importer)} imports Node builtin '${args.path}': the browser build must not reach Node's modules` }],
        };
      }
      return undefined;
    });
  },
};

/** Bundles browser entry points (paths relative to the repository) → URL path ('/web/main.js') → code. */
export async function bundleForBrowser(entries: Record<string, string>, opts: { minify?: boolean } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [url, entry] of Object.entries(entries)) {
    const r = await esbuild.build({
      entryPoints: [path.join(REPO_ROOT, entry)],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      write: false,
      minify: opts.minify ?? false,
      sourcemap: 'inline',
      logLevel: 'silent',
      plugins: [noNodeImports],
    });
    out.set(url, r.outputFiles[0]!.text);
  }
  return out;
}

/** The page's two bundles. */
export function bundlePage(): Promise<Map<string, string>> {
  return bundleForBrowser({ '/web/main.js': 'web/main.ts', '/web/train-worker.js': 'web/train-worker.ts' });
}
