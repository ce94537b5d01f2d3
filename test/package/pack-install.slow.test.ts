// SLOW (about a minute: a tsc build, an npm install that compiles the native addon): the package as a user
// gets it. `npm pack` the repo (its prepare script builds dist/), install the tarball into a fresh folder
// outside the repo with npm, then use it with no tsx and no loader flags: plain `node` imports the public API
// and computes halo-tiny's HALO-2 INT8 eval loss — the same number the sources compute in this process —,
// finetune() trains halo-tiny for 2 steps, a TypeScript consumer type-checks against the shipped .d.ts, and
// `npx halo` runs. The install may fall back to the reference backend (no libdnnl-dev); this test pins the
// reference backend where it compares numbers.
// It runs in CI with the rest of `npm test`; HALO_SKIP_PACKAGE_TEST=1 skips it in a local edit-test loop.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { haloConfig } from '../../src/halo/config.ts';
import { readJsonl } from '../../src/data/jsonl.ts';
import { encodeRecords } from '../../src/data/encode.ts';
import { loadLlama } from '../../src/models/load.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import { evaluateLoss } from '../../src/train/trainer.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = path.join(REPO, 'models/halo-tiny');
const DATA = path.join(REPO, 'data/sql/train.jsonl');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };

// The consumer's program: the public API only, imported by package name.
const CONSUMER = `
import { loadLlama, loadTokenizer, readJsonl, encodeRecords, evaluateLoss, haloConfig, getBackend, HaloError } from 'halo';
const [model, data] = JSON.parse(process.env.HALO_PKG_ARGS);
const tok = loadTokenizer(model);
const { examples } = encodeRecords(readJsonl(data, { limit: 2 }).records, tok, { maxSeqLen: 128 });
const { model: llama } = loadLlama(model, { halo: haloConfig({ level: 'halo2', format: 'int8' }), backend: 'reference', trainable: () => false });
const loss = evaluateLoss(llama, examples, 2, tok.padId ?? tok.eosId ?? 0);
let code = null;
try { haloConfig({ level: 'halo9' }); } catch (e) { code = e instanceof HaloError ? e.code : String(e); }
console.log(JSON.stringify({ loss, tokens: examples.reduce((a, e) => a + e.ids.length, 0), defaultBackend: getBackend().name, errorCode: code }));
`;

// The "must show": the high-level API fine-tunes halo-tiny for 2 steps in plain node (docs/api.md).
const CONSUMER_FINETUNE = `
import { finetune } from 'halo';
const [model, data, out] = JSON.parse(process.env.HALO_PKG_ARGS);
const events = [];
const r = await finetune({ model, data: data + ':0:4', out, maxSteps: 2, batchSize: 2, maxSeqLen: 64, quiet: true, onProgress: (e) => events.push(e.step) });
console.log(JSON.stringify({ steps: r.steps, losses: r.losses.map((l) => l.loss), events }));
`;

// Typed against the shipped .d.ts: the @ts-expect-error lines fail the check if the types resolve to `any`.
const CONSUMER_TS = `
import { haloConfig, HaloError, type HaloConfig, type Level } from 'halo';
const cfg: HaloConfig = haloConfig({ level: 'halo2', format: 'int8' });
const level: Level = cfg.level;
const e: HaloError = new HaloError('E_ARG', 'x');
// @ts-expect-error: a level is not a number
const wrong: number = level;
// @ts-expect-error: not an error code
new HaloError('E_NOPE', 'x');
export { cfg, e, wrong };
`;

/** npm's own variables from an enclosing `npm test` (npm_config_local_prefix, …) would point npm at the repo. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('the npm package (slow: npm pack + npm install into a fresh folder)', {
  skip: process.env.HALO_SKIP_PACKAGE_TEST === '1' && 'HALO_SKIP_PACKAGE_TEST=1',
}, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-package-'));
  const app = path.join(tmp, 'app');
  let tarball = '';
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  before(() => {
    // npm pack runs prepare (npm run build: src → dist) and writes halo-<version>.tgz.
    const packed = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', tmp], REPO), 'npm pack')) as { filename: string }[];
    tarball = path.join(tmp, packed[0]!.filename);
    fs.mkdirSync(app);
    ok(run('npm', ['init', '-y'], app), 'npm init');
    // npm versions that gate dependencies' install scripts would otherwise skip the addon build (older ones ignore this).
    const appJson = path.join(app, 'package.json');
    fs.writeFileSync(appJson, JSON.stringify({ ...JSON.parse(fs.readFileSync(appJson, 'utf8')), allowScripts: { [pkg.name]: true } }, null, 2));
    ok(run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app), 'npm install');
  });

  it('is the tarball halo-<version>.tgz, holding the build and the native sources but no sources, tests or scripts', () => {
    assert.equal(path.basename(tarball), `${pkg.name}-${pkg.version}.tgz`);
    const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'package.json',
      'bin/halo.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'native/binding.gyp',
      'native/build.mjs',
      'native/src/binding.cc',
    ]) {
      assert.ok(list.includes(f), `${f} is in the package`);
    }
    for (const f of list)
      assert.ok(!/^(src|test|scripts|docs|data|runs|native\/build)\/|\.ts$(?<!\.d\.ts$)|model\.safetensors$/.test(f), `${f} should not be in the package`);
    assert.ok(fs.statSync(tarball).size < 2 << 20, `the tarball is ${fs.statSync(tarball).size} bytes`);
  });

  it('imports with plain node (no tsx) and computes the same loss as the sources', (t) => {
    const installed = path.join(app, 'node_modules', pkg.name);
    assert.ok(!fs.existsSync(path.join(installed, 'src')), 'the installed package runs dist/, not src/');
    const env = { ...cleanEnv(), HALO_PKG_ARGS: JSON.stringify([MODEL, DATA]) };
    const r = JSON.parse(ok(run(process.execPath, ['--input-type=module', '-e', CONSUMER], app, env), 'the consumer program')) as {
      loss: number;
      tokens: number;
      defaultBackend: string;
      errorCode: string;
    };
    // The oracle: the same computation from the TypeScript sources in this process.
    const tok = loadTokenizer(MODEL);
    const { examples } = encodeRecords(readJsonl(DATA, { limit: 2 }).records, tok, { maxSeqLen: 128 });
    const { model } = loadLlama(MODEL, { halo: haloConfig({ level: 'halo2', format: 'int8' }), backend: 'reference', trainable: () => false });
    const want = evaluateLoss(model, examples, 2, tok.padId ?? tok.eosId ?? 0);
    assert.ok(Number.isFinite(r.loss) && r.loss > 0.5 && r.loss < 8, `loss ${r.loss}`);
    assert.equal(
      r.tokens,
      examples.reduce((a, e) => a + e.ids.length, 0),
    );
    assert.ok(Math.abs(r.loss - want) <= 1e-12 * want, `package ${r.loss} vs sources ${want}`);
    assert.equal(r.errorCode, 'E_ARG', 'HaloError is the same class the library throws');
    assert.ok(['native', 'reference'].includes(r.defaultBackend));
    t.diagnostic(`the installed package's default backend: ${r.defaultBackend}`);
  });

  it('fine-tunes halo-tiny for 2 steps through finetune() with plain node', () => {
    const out = path.join(tmp, 'finetuned');
    const env = { ...cleanEnv(), HALO_PKG_ARGS: JSON.stringify([MODEL, DATA, out]) };
    const r = JSON.parse(ok(run(process.execPath, ['--input-type=module', '-e', CONSUMER_FINETUNE], app, env), 'the finetune() program')) as {
      steps: number;
      losses: number[];
      events: number[];
    };
    assert.equal(r.steps, 2);
    assert.deepEqual(r.events, [1, 2]);
    for (const l of r.losses) assert.ok(Number.isFinite(l) && l > 0, `loss ${l}`);
    for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'metrics.jsonl']) assert.ok(fs.existsSync(path.join(out, f)), `${f} saved`);
  });

  it('type-checks a TypeScript consumer against the shipped .d.ts', () => {
    fs.writeFileSync(path.join(app, 'consumer.ts'), CONSUMER_TS);
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2023'],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [path.join(REPO, 'node_modules/@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    const r = run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', app], app);
    assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
  });

  it('npx halo runs the CLI: --help, a real command, and exit 2 on a stray word', () => {
    const help = ok(run('npx', ['--no', '--', 'halo', '--help'], app), 'npx halo --help');
    assert.match(help, /^Usage: halo <command>/);
    assert.match(help, /\n {2}finetune /);
    const inspect = JSON.parse(ok(run('npx', ['--no', '--', 'halo', 'inspect', MODEL, '--json'], app), 'npx halo inspect')) as { problems: string[] };
    assert.deepEqual(inspect.problems, []);
    // halo init copies the shipped halo-tiny tokenizer (the package carries its tokenizer files, not its weights).
    const init = ok(
      run('npx', ['--no', '--', 'halo', 'init', '--preset', 'smollm2-135m', '--layers', '1', '--out', path.join(tmp, 'init')], app),
      'npx halo init',
    );
    assert.match(init, /wrote .*smollm2-135m \(1 layer/);
    assert.ok(fs.existsSync(path.join(tmp, 'init', 'tokenizer.json')));
    const stray = run('npx', ['--no', '--', 'halo', 'inspect', MODEL, 'stray'], app);
    assert.equal(stray.status, 2);
    assert.match(stray.stderr, /^halo inspect: unexpected argument 'stray'/);
  });
});
