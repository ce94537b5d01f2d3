#!/usr/bin/env node
// The `halo` command. In a git clone (src/ present, tsx installed as a dev dependency) it runs the TypeScript
// sources through tsx: an edit is live at once and a stale dist/ can never be what runs. The installed package
// ships dist/ and no src/, so there it runs the built JavaScript with plain Node (`npm run build` makes dist/).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);

async function tsxRegister() {
  try {
    return (await import('tsx/esm/api')).register;
  } catch {
    return null; // a clone without dev dependencies: fall back to dist/
  }
}

let main;
const register = existsSync(source) && process.env.HALO_RUN_DIST !== '1' ? await tsxRegister() : null;
if (register) {
  register();
  ({ main } = await import(source.href));
} else if (existsSync(built)) {
  ({ main } = await import(built.href));
} else {
  process.stderr.write('halo: neither dist/ (run `npm run build`) nor tsx with src/ (run `npm install`) is here\n');
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
