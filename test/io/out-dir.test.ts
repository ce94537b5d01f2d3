// --out checks (src/io/out-dir.ts): an empty --out, a file, the input folder itself (also through a symlink
// or a trailing slash) and a folder that contains an input are one-line E_ARG errors; a new folder, or one
// beside or inside an input, passes; makeOutDir turns a path through a file into a one-line E_IO.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaloError } from '../../src/core/errors.ts';
import { checkOutDir, makeOutDir } from '../../src/io/out-dir.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-outdir-'));
const model = path.join(tmp, 'models', 'm');
fs.mkdirSync(model, { recursive: true });
const file = path.join(tmp, 'a-file');
fs.writeFileSync(file, 'x');
fs.symlinkSync(model, path.join(tmp, 'link'));
const inputs = [
  { flag: '--model', dir: model },
  { flag: '--adapter', dir: undefined },
];

const argError = (re: RegExp) => (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && re.test(e.message) && !e.message.includes('\n');

test('an empty --out or one naming a file is refused in one line', () => {
  assert.throws(() => checkOutDir('', inputs), argError(/^--out is empty/));
  assert.throws(() => checkOutDir('  ', inputs), argError(/^--out is empty/));
  assert.throws(() => checkOutDir(file, inputs), argError(/--out .*a-file is a file, not a folder/));
});

test('--out equal to an input folder, by any spelling, is refused naming the flag', () => {
  for (const out of [model, model + '/', path.join(tmp, 'models', '.', 'm'), path.join(tmp, 'link'), path.relative(process.cwd(), model)]) {
    assert.throws(() => checkOutDir(out, inputs), argError(/is the --model folder/), out);
  }
});

test('--out containing an input folder is refused; beside it, inside it or new is fine', () => {
  assert.throws(() => checkOutDir(path.join(tmp, 'models'), inputs), argError(/contains the --model folder/));
  assert.throws(() => checkOutDir(tmp, inputs), argError(/contains the --model folder/));
  for (const ok of [path.join(tmp, 'models', 'n'), path.join(model, 'ft'), path.join(tmp, 'new', 'deeper')]) checkOutDir(ok, inputs);
  assert.equal(fs.existsSync(path.join(tmp, 'new')), false, 'checking writes nothing');
});

test('makeOutDir through a file is a one-line E_IO', () => {
  assert.throws(
    () => makeOutDir(path.join(file, 'sub')),
    (e: unknown) => e instanceof HaloError && e.code === 'E_IO' && /cannot create --out folder .*ENOTDIR/.test(e.message),
  );
  makeOutDir(path.join(tmp, 'made', 'x'));
  assert.ok(fs.statSync(path.join(tmp, 'made', 'x')).isDirectory());
});
