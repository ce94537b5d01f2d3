import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { INDEX_FILE, readSafetensorsIndex, readShardedSafetensors, writeShardedSafetensors } from '../../src/io/safetensors-index.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-shard-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const newDir = () => fs.mkdtempSync(path.join(tmp, `d${n++}-`));

function layers(count: number): Map<string, Tensor> {
  const rng = new Rng(3);
  const m = new Map<string, Tensor>();
  for (let l = 0; l < count; l++) m.set(`model.layers.${l}.w`, new Tensor([4, 4], 'f32', rng.fillNormal(new Float32Array(16))));
  m.set('model.norm.weight', new Tensor([4], 'bf16', new Uint16Array([1, 2, 3, 4])));
  return m;
}

describe('sharded safetensors', () => {
  it('splits by size, in natural layer order, and reads back byte-identical', () => {
    const dir = newDir();
    const tensors = layers(12);
    const files = writeShardedSafetensors(dir, tensors, { maxShardBytes: 200, metadata: { format: 'pt' } });
    assert.equal(files.at(-1), INDEX_FILE);
    assert.equal(files.length, 4 + 1); // 64-byte layers, 3 per 200-byte shard; the 8-byte norm fits in the 4th
    const index = readSafetensorsIndex(path.join(dir, INDEX_FILE));
    assert.equal(index.metadata.total_size, 12 * 64 + 8);
    // layers 0-2 in shard 1, … 9-11 in shard 4 (natural order: layers.2 before layers.10), norm last.
    assert.equal(index.weight_map['model.layers.2.w'], 'model-00001-of-00004.safetensors');
    assert.equal(index.weight_map['model.layers.3.w'], 'model-00002-of-00004.safetensors');
    assert.equal(index.weight_map['model.layers.10.w'], 'model-00004-of-00004.safetensors');
    assert.equal(index.weight_map['model.norm.weight'], 'model-00004-of-00004.safetensors');
    const back = readShardedSafetensors(path.join(dir, INDEX_FILE));
    assert.equal(back.tensors.size, tensors.size);
    for (const [k, t] of tensors) assert.deepEqual(back.tensors.get(k)!.data, t.data, k);
  });

  it('writes one model.safetensors and no index when everything fits', () => {
    const dir = newDir();
    assert.deepEqual(writeShardedSafetensors(dir, layers(2)), ['model.safetensors']);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  });

  it('gives an oversized tensor its own shard', () => {
    const dir = newDir();
    const files = writeShardedSafetensors(dir, layers(2), { maxShardBytes: 10 });
    assert.equal(files.length, 4);
  });

  it('rejects index files that are malformed or point outside the folder', () => {
    const dir = newDir();
    const idx = path.join(dir, INDEX_FILE);
    const cases: [string, RegExp][] = [
      ['{', /not valid JSON/],
      ['[]', /not a JSON object/],
      ['{"metadata": {}}', /weight_map must be an object/],
      ['{"weight_map": {"a": "../evil.safetensors"}}', /weight_map\['a'\] must be a file name inside the folder/],
      ['{"weight_map": {"a": "/etc/x.safetensors"}}', /must be a file name inside the folder/],
      ['{"weight_map": {"a": 3}}', /must be a file name/],
      ['{"weight_map": {"a": "pytorch_model-00001.bin"}}', /is not a .safetensors file/],
    ];
    for (const [text, re] of cases) {
      fs.writeFileSync(idx, text);
      assert.throws(
        () => readShardedSafetensors(idx),
        (e: HaloError) => e.code === 'E_FORMAT' && e.message.includes(idx) && re.test(e.message),
        text,
      );
    }
  });

  it('checks the index against the shards', () => {
    const dir = newDir();
    const idx = path.join(dir, INDEX_FILE);
    writeSafetensors(path.join(dir, 's1.safetensors'), { a: Tensor.zeros([1], 'f32'), b: Tensor.zeros([1], 'f32') });
    writeSafetensors(path.join(dir, 's2.safetensors'), { b: Tensor.zeros([1], 'f32') });
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: 's1.safetensors', c: 's1.safetensors' } }));
    assert.throws(
      () => readShardedSafetensors(idx),
      (e: HaloError) => e.code === 'E_FORMAT' && /tensor 'c' is mapped to s1.safetensors/.test(e.message),
    );
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's2.safetensors' } }));
    assert.throws(
      () => readShardedSafetensors(idx),
      (e: HaloError) => e.code === 'E_FORMAT' && /'b' is stored in both s1.safetensors and s2.safetensors/.test(e.message),
    );
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: 's3.safetensors' } }));
    assert.throws(
      () => readShardedSafetensors(idx),
      (e: HaloError) => e.code === 'E_IO' && /shard s3.safetensors, which is missing/.test(e.message),
    );
  });
});

describe('sharded safetensors: odd tensor names', () => {
  it("keeps a tensor named '__proto__' as a plain entry", () => {
    const dir = newDir();
    const t = new Map([
      ['__proto__', Tensor.zeros([8], 'f32')],
      ['a', Tensor.zeros([8], 'f32')],
    ]);
    writeShardedSafetensors(dir, t, { maxShardBytes: 40 });
    const back = readShardedSafetensors(path.join(dir, INDEX_FILE));
    assert.deepEqual([...back.tensors.keys()].sort(), ['__proto__', 'a']);
  });
});
