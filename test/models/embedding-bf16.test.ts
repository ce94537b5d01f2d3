// Embedding from a bf16-bits table: the same f32 rows, bit for bit, as decoding the whole table and running
// the f32 embedding (reference and native kernels); ±0, ±inf and subnormals survive; bad ids and buffers are errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeBackend } from '../../src/backend/native/index.ts';
import { nnKernels, referenceNnKernels } from '../../src/backend/nn-kernels.ts';
import { HaloError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/rng.ts';
import { embeddingForwardBf16 } from '../../src/models/embedding-bf16.ts';
import { decodeBf16Array, encodeBf16Array } from '../../src/quant/codecs/bf16.ts';
import { assertBitsEqual } from '../native/native-test.ts';

const [V, C] = [97, 13];
const rng = new Rng(8);
const wte = encodeBf16Array(rng.fillNormal(new Float32Array(V * C)));
wte.set([0x0000, 0x8000, 0x7f80, 0xff80, 0x0001, 0x807f], 5 * C); // ±0, ±inf, subnormals in row 5
const ids = Int32Array.from({ length: 29 }, () => rng.int(V));
ids[3] = 5;
ids[4] = 5; // a repeated id

test('rows equal decoding the table then the f32 embedding (reference and native kernels)', () => {
  const decoded = decodeBf16Array(wte);
  const y = embeddingForwardBf16(ids, wte, V, C);
  for (const nn of [referenceNnKernels, nnKernels(nativeBackend)]) {
    assertBitsEqual(y, nn.embeddingForward(ids, decoded, V, C), `${nn.name} embedding of the decoded table`);
  }
  assert.equal(y[3 * C + 2], Infinity);
  assert.ok(Object.is(y[3 * C + 1], -0));
  const out = new Float32Array(ids.length * C).fill(7);
  assert.equal(embeddingForwardBf16(ids, wte, V, C, out), out);
  assertBitsEqual(out, y, 'into a given buffer');
});

test('bad ids, tables and buffers are errors naming the argument', () => {
  const code = (c: string, re: RegExp) => (e: unknown) => e instanceof HaloError && e.code === c && re.test(e.message);
  assert.throws(() => embeddingForwardBf16(Int32Array.of(1, V), wte, V, C), code('E_ARG', /token id 97 at position 1/));
  assert.throws(() => embeddingForwardBf16(ids, wte.subarray(1), V, C), code('E_SHAPE', /wte/));
  assert.throws(() => embeddingForwardBf16(ids, new Float32Array(V * C) as unknown as Uint16Array, V, C), code('E_DTYPE', /Uint16Array/));
  assert.throws(() => embeddingForwardBf16(ids, wte, V, C, new Float32Array(3)), code('E_SHAPE', /out/));
  assert.throws(() => embeddingForwardBf16(ids, wte, V, C, new Float64Array(ids.length * C) as unknown as Float32Array), code('E_DTYPE', /out/));
});
