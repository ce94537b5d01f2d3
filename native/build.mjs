#!/usr/bin/env node
// Builds the native addon (native/build/Release/halo_native.node) with node-gyp. Run by `npm install`.
// The addon is optional: if the build fails (no C++ compiler, no oneDNN headers — `apt-get install
// libdnnl-dev`), this prints ONE warning line and exits 0, and halo runs on the TypeScript reference
// backend. With HALO_REQUIRE_NATIVE=1 (CI) a failed build exits 1 and shows the compiler output.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const strict = process.env.HALO_REQUIRE_NATIVE === '1';

/** node-gyp: the one npm runs scripts with, a local install, or the copy bundled with npm. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  const npmDir = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  candidates.push(join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

/** Node's headers: an explicit npm setting, else the ones installed next to this node binary (no download). */
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

function fail(reason, output = '') {
  if (strict) {
    if (output) process.stderr.write(output);
    process.stderr.write(`halo: native addon build failed (${reason}); HALO_REQUIRE_NATIVE=1, so this is an error\n`);
    process.exit(1);
  }
  process.stderr.write(`halo: warning: native addon not built (${reason}); using the slower TypeScript reference backend\n`);
  process.exit(0);
}

const gyp = findNodeGyp();
if (!gyp) fail('node-gyp not found');
if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp') && !existsSync('/usr/include/dnnl.hpp')) {
  fail('oneDNN headers missing: apt-get install libdnnl-dev');
}
const args = [gyp, 'rebuild', `--jobs=${process.env.JOBS ?? 'max'}`];
const nd = nodeDir();
if (nd) args.push(`--nodedir=${nd}`);
const r = spawnSync(process.execPath, args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
if (r.error) fail(`could not run node-gyp: ${r.error.message}`);
if (r.status !== 0) {
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const firstError = out.split('\n').find((l) => /error/i.test(l) && !/^gyp (info|ERR! (stack|System|command|cwd|node))/.test(l)) ?? `node-gyp exited with ${r.status}`;
  fail(firstError.trim().slice(0, 200), out);
}
if (!existsSync(join(here, 'build', 'Release', 'halo_native.node'))) fail('node-gyp succeeded but build/Release/halo_native.node is missing');
process.stdout.write('halo: native addon built (native/build/Release/halo_native.node)\n');
