#!/usr/bin/env node
// Builds the optional Open MPI binding (native/mpi/build/Release/halo_mpi.node) with node-gyp. Run by
// `npm install` after the main addon. Without Open MPI (`apt-get install libopenmpi-dev openmpi-bin`) this
// prints ONE line and exits 0: single-process training needs nothing from MPI. HALO_REQUIRE_MPI=1 (CI) makes
// a failed build an error with the compiler output. Separate from native/build.mjs so MPI can never break
// the main addon.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const strict = process.env.HALO_REQUIRE_MPI === '1';

function fail(reason, output = '') {
  if (strict) {
    if (output) process.stderr.write(output);
    process.stderr.write(`halo: MPI binding build failed (${reason}); HALO_REQUIRE_MPI=1, so this is an error\n`);
    process.exit(1);
  }
  process.stderr.write(`halo: note: MPI binding not built (${reason}); multi-process training (mpirun) is unavailable\n`);
  process.exit(0);
}

// Same node-gyp / node-headers lookup as native/build.mjs (kept separate so neither script depends on the other).
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

const probe = spawnSync('mpicc', ['--showme'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) fail('mpicc not found: apt-get install libopenmpi-dev openmpi-bin');
const gyp = findNodeGyp();
if (!gyp) fail('node-gyp not found');
const args = [gyp, 'rebuild'];
const nd = nodeDir();
if (nd) args.push(`--nodedir=${nd}`);
const r = spawnSync(process.execPath, args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
if (r.error) fail(`could not run node-gyp: ${r.error.message}`);
if (r.status !== 0) {
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const firstError = out.split('\n').find((l) => /error/i.test(l) && !/^gyp (info|ERR! (stack|System|command|cwd|node))/.test(l)) ?? `node-gyp exited with ${r.status}`;
  fail(firstError.trim().slice(0, 200), out);
}
if (!existsSync(join(here, 'build', 'Release', 'halo_mpi.node'))) fail('node-gyp succeeded but build/Release/halo_mpi.node is missing');
process.stdout.write('halo: MPI binding built (native/mpi/build/Release/halo_mpi.node)\n');
