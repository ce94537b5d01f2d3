import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { DTYPES, type DType, type Storage } from '../../src/core/dtype.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { MAX_HEADER_BYTES, readSafetensors, readSafetensorsHeader, SafetensorsFile, writeSafetensors } from '../../src/io/safetensors.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-st-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const file = (name = `t${n++}.safetensors`) => path.join(tmp, name);

/** A tensor of random bytes (every bit pattern is a valid stored value for a byte-exact round trip). */
function randomTensor(rng: Rng, dtype: DType, shape: number[]): Tensor {
  const numel = shape.reduce((a, b) => a * b, 1);
  const data = DTYPES[dtype].make(numel);
  const bytes = new Uint8Array(data.buffer);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  return new Tensor(shape, dtype, data as Storage);
}

const bytesOf = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Raw file from a header object (or string) and a data section. */
function rawFile(header: unknown, data: Uint8Array | number = 0, lenOverride?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lenOverride ?? BigInt(json.length));
  const f = file();
  fs.writeFileSync(f, Buffer.concat([len, json, typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data)]));
  return f;
}

function expectFormat(fn: () => unknown, f: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HaloError, `expected HaloError, got ${e}`);
    assert.equal(e.code, 'E_FORMAT', e.message);
    assert.ok(e.message.includes(f), `message should name the file: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

describe('safetensors round trip', () => {
  it('keeps every dtype byte-identical (F32, BF16, F16, I8, I32, F64, F8)', () => {
    const rng = new Rng(7);
    const tensors = new Map<string, Tensor>([
      ['w.f32', randomTensor(rng, 'f32', [3, 5])],
      ['w.bf16', randomTensor(rng, 'bf16', [7, 3])],
      ['w.f16', randomTensor(rng, 'f16', [2, 2, 3])],
      ['w.i8', randomTensor(rng, 'i8', [9])],
      ['w.i32', randomTensor(rng, 'i32', [2, 3])],
      ['w.f64', randomTensor(rng, 'f64', [1, 3])],
      ['w.e4m3', randomTensor(rng, 'fp8e4m3', [5])],
      ['w.e5m2', randomTensor(rng, 'fp8e5m2', [3])],
      ['scalar', randomTensor(rng, 'f32', [])],
      ['empty', randomTensor(rng, 'bf16', [0, 4])],
    ]);
    const f = file();
    writeSafetensors(f, tensors, { format: 'pt', note: 'hello' });
    const back = readSafetensors(f);
    assert.deepEqual(back.metadata, { format: 'pt', note: 'hello' });
    assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const u = back.tensors.get(name)!;
      assert.equal(u.dtype, t.dtype, name);
      assert.deepEqual(u.shape, t.shape, name);
      assert.ok(bytesOf(u).equals(bytesOf(t)), `${name} bytes differ`);
    }
    // Writing what was read gives the same file, byte for byte (deterministic writer).
    const f2 = file();
    writeSafetensors(f2, back.tensors, back.metadata);
    assert.ok(fs.readFileSync(f).equals(fs.readFileSync(f2)));
  });

  it('writes the reference layout: padded header, largest items first, aligned offsets', () => {
    const rng = new Rng(1);
    const f = file();
    writeSafetensors(f, {
      b: randomTensor(rng, 'i8', [3]),
      a: randomTensor(rng, 'f32', [2]),
      c: randomTensor(rng, 'bf16', [3]),
      '10': randomTensor(rng, 'f32', [1]),
      '9': randomTensor(rng, 'f32', [1]),
    });
    const buf = fs.readFileSync(f);
    const hlen = Number(buf.readBigUInt64LE(0));
    assert.equal(hlen % 8, 0);
    const text = buf.subarray(8, 8 + hlen).toString('utf8');
    assert.match(text, /^\{.*\} *$/);
    assert.equal(text, text.trimEnd() + ' '.repeat(hlen - text.trimEnd().length));
    // Order in the header and in the data: item size descending, then name (integer-like names too).
    const names = [...text.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
    assert.deepEqual(names, ['10', '9', 'a', 'c', 'b']);
    const h = readSafetensorsHeader(f);
    for (const t of h.tensors) assert.equal((h.dataStart + t.begin) % ({ F32: 4, BF16: 2, I8: 1 } as Record<string, number>)[t.dtype]!, 0);
  });

  it('reads a subset and single tensors on demand', () => {
    const rng = new Rng(2);
    const f = file();
    writeSafetensors(f, { x: randomTensor(rng, 'f32', [4]), y: randomTensor(rng, 'f32', [2]) });
    assert.deepEqual([...readSafetensors(f, (k) => k === 'y').tensors.keys()], ['y']);
    const sf = SafetensorsFile.open(f);
    assert.deepEqual(sf.names(), ['x', 'y']);
    assert.deepEqual(sf.read('y').shape, [2]);
    assert.throws(
      () => sf.read('z'),
      (e: HaloError) => e.code === 'E_ARG' && /'z'/.test(e.message),
    );
    sf.close();
    assert.throws(
      () => sf.read('x'),
      (e: HaloError) => e.code === 'E_IO',
    );
  });

  it('writes atomically: no temp file left, and a failed write leaves no file', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const f = path.join(dir, 'a.safetensors');
    writeSafetensors(f, { x: Tensor.zeros([2], 'f32') });
    assert.deepEqual(fs.readdirSync(dir), ['a.safetensors']);
    const g = path.join(dir, 'b.safetensors');
    assert.throws(
      () => writeSafetensors(g, { x: Tensor.zeros([2], 'fp6e3m2') }),
      (e: HaloError) => e.code === 'E_DTYPE',
    );
    assert.deepEqual(fs.readdirSync(dir), ['a.safetensors']);
    assert.throws(
      () => writeSafetensors(g, { __metadata__: Tensor.zeros([1], 'f32') }),
      (e: HaloError) => e.code === 'E_ARG',
    );
  });

  it('loads a known F32 file written by hand (little-endian values)', () => {
    const data = Buffer.alloc(12);
    [1.5, -2, 0.25].forEach((v, i) => data.writeFloatLE(v, i * 4));
    const f = rawFile({ __metadata__: { format: 'pt' }, v: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, data);
    const t = readSafetensors(f).tensors.get('v')!;
    assert.deepEqual([...t.data], [1.5, -2, 0.25]);
  });
});

describe('safetensors header validation', () => {
  const ok = (over: Record<string, unknown> = {}) => ({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...over } });

  it('rejects a header length larger than the file', () => {
    const f = rawFile(ok(), 8, 1n << 62n);
    expectFormat(() => readSafetensors(f), f, /header length \d+ is larger than the file/);
  });

  it('rejects a header length above the 100 MB limit (before reading it)', () => {
    const f = file();
    const fd = fs.openSync(f, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(MAX_HEADER_BYTES + 8));
    fs.writeSync(fd, len);
    fs.ftruncateSync(fd, MAX_HEADER_BYTES + 64); // sparse: no 100 MB actually written
    fs.closeSync(fd);
    expectFormat(() => readSafetensorsHeader(f), f, /exceeds the 100000000-byte limit/);
  });

  it('rejects files shorter than 8 bytes and empty files', () => {
    for (const bytes of [0, 5]) {
      const f = file();
      fs.writeFileSync(f, Buffer.alloc(bytes));
      expectFormat(() => readSafetensors(f), f, /too short/);
    }
  });

  it('rejects a header that is not JSON, not UTF-8, or not an object', () => {
    let f = rawFile('{"a": {"dtype": "F32", ', 8);
    expectFormat(() => readSafetensors(f), f, /not valid JSON/);
    f = rawFile(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), 0);
    fs.writeFileSync(f, Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]));
    expectFormat(() => readSafetensors(f), f, /not valid JSON/);
    f = rawFile('[1, 2]', 0);
    expectFormat(() => readSafetensors(f), f, /not a JSON object/);
    f = rawFile({ a: 5 }, 0);
    expectFormat(() => readSafetensors(f), f, /tensor 'a': entry is not an object/);
    f = rawFile({ __metadata__: { format: 1 } }, 0);
    expectFormat(() => readSafetensors(f), f, /__metadata__\.format must be a string/);
  });

  it('rejects offsets past the data section (and a truncated file)', () => {
    let f = rawFile(ok({ data_offsets: [8, 16] }), 8);
    expectFormat(() => readSafetensors(f), f, /tensor 'a'.*run past the data section/);
    // A good file with its last bytes cut off.
    const g = file();
    writeSafetensors(g, { a: Tensor.zeros([4], 'f32'), b: Tensor.zeros([4], 'f32') });
    const full = fs.readFileSync(g);
    f = file();
    fs.writeFileSync(f, full.subarray(0, full.length - 3));
    expectFormat(() => readSafetensors(f), f, /tensor 'b'.*run past the data section.*truncated/);
  });

  it('rejects overlapping tensors, gaps and trailing bytes', () => {
    let f = rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12);
    expectFormat(() => readSafetensors(f), f, /tensor 'b'.*overlap tensor 'a'/);
    f = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12);
    expectFormat(() => readSafetensors(f), f, /tensor 'b': gap of 4/);
    f = rawFile(ok(), 9);
    expectFormat(() => readSafetensors(f), f, /1 trailing bytes/);
  });

  it('rejects unknown dtypes and dtypes of the wrong type', () => {
    let f = rawFile(ok({ dtype: 'F7' }), 8);
    expectFormat(() => readSafetensors(f), f, /tensor 'a': unknown dtype "F7"/);
    f = rawFile(ok({ dtype: 4 }), 8);
    expectFormat(() => readSafetensors(f), f, /unknown dtype 4/);
    f = rawFile(ok({ dtype: 'toString' }), 8); // not fooled by Object.prototype
    expectFormat(() => readSafetensors(f), f, /unknown dtype/);
  });

  it('rejects a shape whose byte size differs from the offsets', () => {
    const f = rawFile(ok({ shape: [3] }), 8);
    expectFormat(() => readSafetensors(f), f, /tensor 'a': shape \[3\] × F32 is 12 bytes but data_offsets \[0, 8\] span 8/);
  });

  it('rejects huge, negative, fractional or non-numeric dimensions without allocating', () => {
    const cases: [unknown, RegExp][] = [
      [[2 ** 40, 2 ** 40], /absurdly large/],
      [[1e300], /invalid dimension/],
      [[-2], /invalid dimension -2/],
      [[1.5], /invalid dimension 1.5/],
      [['2'], /invalid dimension "2"/],
      ['2', /shape is not an array/],
    ];
    for (const [shape, re] of cases) {
      const f = rawFile(ok({ shape }), 8);
      expectFormat(() => readSafetensors(f), f, re);
    }
  });

  it('rejects malformed data_offsets', () => {
    for (const offs of [[0], [0, 8, 9], [-8, 0], [0, '8'], null, [8, 0]]) {
      const f = rawFile(ok({ data_offsets: offs }), 8);
      expectFormat(() => readSafetensors(f), f, /data_offsets/);
    }
  });

  it('accepts zero-size tensors sharing an offset', () => {
    const f = rawFile(
      {
        a: { dtype: 'F32', shape: [0], data_offsets: [0, 0] },
        b: { dtype: 'BF16', shape: [2, 0], data_offsets: [0, 0] },
        c: { dtype: 'I8', shape: [1], data_offsets: [0, 1] },
      },
      1,
    );
    assert.equal(readSafetensors(f).tensors.size, 3);
  });

  it('validates the whole header before reading any tensor, and names a dtype it cannot load', () => {
    const f = rawFile({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12);
    assert.equal(readSafetensorsHeader(f).tensors.length, 2);
    assert.equal(readSafetensors(f, (k) => k === 'b').tensors.size, 1);
    assert.throws(
      () => readSafetensors(f),
      (e: HaloError) => e.code === 'E_UNSUPPORTED' && /'a' has dtype I64/.test(e.message) && e.message.includes(f),
    );
  });
});

describe('safetensors: files that are not safetensors', () => {
  it('refuses PyTorch pickle files by name, telling how to convert', () => {
    for (const name of ['pytorch_model.bin', 'model.pt', 'ckpt.pth']) {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, Buffer.from([0x80, 0x02, 0x7d]));
      assert.throws(
        () => readSafetensors(f),
        (e: HaloError) => e.code === 'E_UNSUPPORTED' && e.message.includes(name) && /pickle/.test(e.message) && /safe_serialization=True/.test(e.message),
      );
    }
  });

  it('refuses pickle and torch-zip contents under a .safetensors name', () => {
    for (const head of [
      [0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0],
      [0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0],
    ]) {
      const f = file();
      fs.writeFileSync(f, Buffer.from(head));
      assert.throws(
        () => readSafetensors(f),
        (e: HaloError) => e.code === 'E_UNSUPPORTED' && /pickle/.test(e.message),
      );
    }
  });

  it('reports a missing file or a directory as E_IO', () => {
    assert.throws(
      () => readSafetensors(path.join(tmp, 'nope.safetensors')),
      (e: HaloError) => e.code === 'E_IO' && /no such file/.test(e.message),
    );
    assert.throws(
      () => readSafetensors(tmp),
      (e: HaloError) => e.code === 'E_IO' && /not a regular file/.test(e.message),
    );
  });
});

describe('safetensors: header lengths that look like magic numbers', () => {
  it('reads a file whose header length bytes begin 80 02 (pickle protocol 2 magic)', () => {
    // Header padded to exactly 0x280 bytes, as the writer pads with spaces.
    const json = JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }).padEnd(0x280, ' ');
    const f = rawFile(json, 4);
    assert.deepEqual([...fs.readFileSync(f).subarray(0, 2)], [0x80, 0x02]);
    assert.equal(readSafetensors(f).tensors.size, 1);
  });
});
