// The node-gyp run shared by native/build.mjs (the main addon) and native/mpi/build.mjs (the optional MPI
// binding): find node-gyp and Node's headers without downloading anything, rebuild in `dir`, and report the
// first real compiler error. Each caller decides what a failure means (warning or error).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

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

/**
 * `node-gyp rebuild` in `dir`, expecting build/Release/`product`.
 * @returns null on success, else { reason, output } (reason: one line for the user; output: the full log)
 */
export function nodeGypRebuild(dir, product, extraArgs = []) {
  const gyp = findNodeGyp();
  if (!gyp) return { reason: 'node-gyp not found', output: '' };
  const args = [gyp, 'rebuild', ...extraArgs];
  const nd = nodeDir();
  if (nd) args.push(`--nodedir=${nd}`);
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return { reason: `could not run node-gyp: ${r.error.message}`, output: '' };
  if (r.status !== 0) {
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    const firstError =
      output.split('\n').find((l) => /error/i.test(l) && !/^gyp (info|ERR! (stack|System|command|cwd|node))/.test(l)) ?? `node-gyp exited with ${r.status}`;
    return { reason: firstError.trim().slice(0, 200), output };
  }
  if (!existsSync(join(dir, 'build', 'Release', product))) return { reason: `node-gyp succeeded but build/Release/${product} is missing`, output: '' };
  return null;
}
