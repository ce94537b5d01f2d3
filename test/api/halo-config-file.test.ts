// halo_config.json as --as-trained reads it: lm_head's precision is part of how a model was trained.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readHaloConfigFile } from '../../src/api/load-model.ts';
import { HaloError } from '../../src/core/errors.ts';
import { headPrecisionOf } from '../../src/halo/config.ts';

function withFile(content: object, fn: (file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-config-'));
  try {
    const file = path.join(dir, 'halo_config.json');
    fs.writeFileSync(file, JSON.stringify(content));
    fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('readHaloConfigFile', () => {
  test('lmHead as written; absent (files from before it was written down) means f32', () => {
    withFile({ level: 'halo2', format: 'int8', lmHead: 'bf16' }, (f) => assert.equal(headPrecisionOf(readHaloConfigFile(f)), 'bf16'));
    withFile({ level: 'halo2', format: 'int8', lmHead: 'f32' }, (f) => assert.equal(headPrecisionOf(readHaloConfigFile(f)), 'f32'));
    withFile({ level: 'halo2', format: 'int8' }, (f) => assert.equal(headPrecisionOf(readHaloConfigFile(f)), 'f32'));
  });

  test('an unknown lmHead is a format error naming the file', () => {
    withFile({ level: 'halo2', format: 'int8', lmHead: 'fp8' }, (f) =>
      assert.throws(
        () => readHaloConfigFile(f),
        (e: unknown) => e instanceof HaloError && e.code === 'E_FORMAT' && e.message.includes(f) && e.message.includes('lmHead'),
      ),
    );
  });
});
