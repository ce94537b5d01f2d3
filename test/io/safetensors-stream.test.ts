// The streaming safetensors writer against the in-memory one: for the same tensors it must write the same
// bytes (header rules, data order, shard split, index), whatever chunks the producer hands it, and refuse a
// producer that writes too few or too many bytes.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { readShardedSafetensors, writeShardedSafetensors } from '../../src/io/safetensors-index.ts';
import { writeSafetensorsStreaming, type StreamedTensor } from '../../src/io/safetensors-stream.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-st-stream-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Mixed dtypes and odd sizes, names whose natural and plain orders differ (layers.2 / layers.10). */
function tensors(): Map<string, Tensor> {
  const rng = new Rng(5);
  const m = new Map<string, Tensor>();
  const add = (name: string, shape: number[], dtype: 'f32' | 'bf16' | 'f64') => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data =
      dtype === 'bf16'
        ? Uint16Array.from({ length: n }, () => rng.int(65536))
        : dtype === 'f64'
          ? rng.fillNormal(new Float64Array(n))
          : rng.fillNormal(new Float32Array(n));
    m.set(name, new Tensor(shape, dtype, data));
  };
  add('model.layers.10.w', [37, 11], 'bf16');
  add('model.layers.2.w', [5, 3], 'f32');
  add('model.layers.2.b', [7], 'f64');
  add('model.embed.weight', [101, 9], 'bf16');
  add('model.norm.weight', [9], 'f32');
  add('empty', [0, 4], 'f32');
  return m;
}

/** Produces each tensor's bytes in chunks of `chunk` elements. */
function producerFor(m: Map<string, Tensor>, chunk: number) {
  return (t: StreamedTensor, write: (c: ArrayBufferView) => void) => {
    const d = m.get(t.name)!.data;
    for (let at = 0; at < d.length; at += chunk) write(d.subarray(at, Math.min(d.length, at + chunk)));
  };
}

function filesOf(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]),
  );
}

describe('writeSafetensorsStreaming', () => {
  for (const maxShardBytes of [1e9, 600, 1]) {
    test(`writes the same files as writeShardedSafetensors (maxShardBytes ${maxShardBytes})`, () => {
      const m = tensors();
      const a = path.join(tmp, `mem-${maxShardBytes}`);
      const b = path.join(tmp, `stream-${maxShardBytes}`);
      const opts = { maxShardBytes, metadata: { format: 'pt' } };
      const wa = writeShardedSafetensors(a, m, opts);
      const specs = [...m].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
      let last = 0;
      let total = 0;
      const wb = writeSafetensorsStreaming(b, specs, producerFor(m, 13), {
        ...opts,
        onProgress: (done, all) => {
          assert.ok(done >= last && done <= all);
          [last, total] = [done, all];
        },
      });
      assert.deepEqual(wb, wa);
      assert.deepEqual(filesOf(b), filesOf(a));
      assert.equal(
        total,
        [...m.values()].reduce((s, t) => s + t.bytes, 0),
      );
      assert.equal(last, total);
      if (maxShardBytes < 1e9) {
        assert.ok(wb.length > 2 && wb[wb.length - 1] === 'model.safetensors.index.json', wb.join());
        const back = readShardedSafetensors(path.join(b, 'model.safetensors.index.json')).tensors;
        for (const [name, t] of m) assert.deepEqual(back.get(name)!.data, t.data, name);
      } else assert.deepEqual(wb, ['model.safetensors']);
    });
  }

  test('a producer that writes the wrong number of bytes is an error, and leaves no file', () => {
    const m = tensors();
    const specs = [...m].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
    const short = path.join(tmp, 'short');
    assert.throws(
      () => writeSafetensorsStreaming(short, specs, (t, write) => write(m.get(t.name)!.data.subarray(1))),
      (e: Error) => /tensor '.*' \[.*\] .* is \d+ bytes; the producer wrote \d+/.test(e.message),
    );
    assert.deepEqual(fs.readdirSync(short), []);
    const long = path.join(tmp, 'long');
    assert.throws(
      () =>
        writeSafetensorsStreaming(long, specs, (t, write) => {
          write(m.get(t.name)!.data);
          write(new Uint8Array(1));
        }),
      /the producer wrote more/,
    );
    assert.deepEqual(fs.readdirSync(long), []);
  });

  test('duplicate names are refused before anything is written', () => {
    const dir = path.join(tmp, 'dup');
    const spec = { name: 'a', dtype: 'f32' as const, shape: [2] };
    assert.throws(() => writeSafetensorsStreaming(dir, [spec, spec], () => {}), /duplicate tensor name 'a'/);
    assert.equal(fs.existsSync(dir), false);
  });
});
