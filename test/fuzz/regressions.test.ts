// Targeted regression tests, one group per bug class the fuzzer looks for, including the five bugs it found
// in src/ (deep JSON in error messages, derived head_dim, unchecked tokenizer ids, library errors leaking
// from encode/decode, huge added tokens; docs/reliability.md), so a fix that regresses fails here by name.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { parseJsonl, readJsonl } from '../../src/data/jsonl.ts';
import { parseModelConfig, readModelConfig, serializeModelConfig } from '../../src/io/hf-config.ts';
import { readSafetensors, readSafetensorsHeader } from '../../src/io/safetensors.ts';
import { readSafetensorsIndex } from '../../src/io/safetensors-index.ts';
import { tinyConfigJson } from '../../src/io/testing/tiny-model.ts';
import { makeTinyTokenizer } from '../../src/io/testing/tiny-tokenizer.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import { deepNesting, jsonText, Raw } from './hostile.ts';
import { Rng } from '../../src/core/rng.ts';
import { assembleSafetensors } from './targets/st-bytes.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-fuzz-reg-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function writeFile(name: string, content: string | Uint8Array): string {
  const dir = path.join(tmp, `c${n++}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, name), content);
  return path.join(dir, name);
}

/** Asserts fn throws a HaloError (optionally with `code`), not a RangeError / TypeError / anything else. */
function rejects(fn: () => unknown, code?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HaloError, `expected HaloError, got ${(e as Error)?.constructor?.name}: ${String((e as Error)?.message).slice(0, 200)}`);
    if (code) assert.equal(e.code, code, e.message.slice(0, 200));
    return true;
  });
}

const DEEP = 100_000; // far past the ~1 MB main-thread stack of JSON.stringify / Array.prototype.join
const deep = () => deepNesting(new Rng(1), DEEP);
const deepArray = () => new Raw('['.repeat(DEEP) + ']'.repeat(DEEP));

/** A safetensors file with one F32 tensor of 2 elements whose entry `patch` overrides. */
function stFile(patch: Record<string, unknown>, data = new Uint8Array(8), declared?: bigint): string {
  const header = jsonText({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...patch } });
  return writeFile('model.safetensors', assembleSafetensors(header, data, declared));
}

describe('safetensors: lying headers are one E_FORMAT, before any tensor memory', () => {
  const size = 8 + 60 + 8;
  for (const declared of [0n, 1n, BigInt(size), BigInt(size - 7), 100_000_001n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]) {
    it(`declared header length ${declared}`, () => {
      const f = stFile({}, new Uint8Array(8), declared);
      const before = process.memoryUsage().arrayBuffers;
      rejects(() => readSafetensors(f), 'E_FORMAT');
      assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'allocated more than 1 MiB for a 76-byte file');
    });
  }
  const cases: [string, Record<string, unknown>][] = [
    ['dimension 1e12 (offsets agree, data missing)', { shape: [1e12], data_offsets: [0, 4e12] }],
    ['dimension 2^53', { shape: [2 ** 53] }],
    ['product past 2^53', { shape: [2 ** 26, 2 ** 26, 2 ** 26] }],
    ['negative dimension', { shape: [-2] }],
    ['fractional dimension', { shape: [2.5] }],
    ['string dimension', { shape: ['2'] }],
    ['shape/bytes mismatch', { shape: [3] }],
    ['unknown dtype', { dtype: 'F6_E3M2' }],
    ['dtype a prototype key', { dtype: 'toString' }],
    ['offsets past the data', { data_offsets: [0, 16] }],
    ['offsets swapped', { data_offsets: [8, 0] }],
    ['offsets past 2^64', { data_offsets: new Raw('[0,18446744073709551616]') }],
    ['offsets not a pair', { data_offsets: [0] }],
  ];
  for (const [name, patch] of cases) it(name, () => rejects(() => readSafetensorsHeader(stFile(patch)), 'E_FORMAT'));
  it('overlapping and gapped tensors', () => {
    const two = (a: number[], b: number[]) =>
      writeFile(
        'model.safetensors',
        assembleSafetensors(
          jsonText({ a: { dtype: 'F32', shape: [1], data_offsets: a }, b: { dtype: 'F32', shape: [1], data_offsets: b } }),
          new Uint8Array(8),
        ),
      );
    rejects(() => readSafetensorsHeader(two([0, 4], [0, 4])), 'E_FORMAT');
    rejects(() => readSafetensorsHeader(two([0, 4], [8, 12])), 'E_FORMAT');
  });
  it('a known dtype halo does not load (BOOL) is E_UNSUPPORTED on read, not a crash', () => {
    const f = writeFile('model.safetensors', assembleSafetensors(jsonText({ b: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }), new Uint8Array(3)));
    assert.equal(readSafetensorsHeader(f).tensors.length, 1);
    rejects(() => readSafetensors(f), 'E_UNSUPPORTED');
  });

  it('a shape nested 100 000 deep', () => rejects(() => readSafetensorsHeader(stFile({ shape: deepArray() })), 'E_FORMAT'));
  it('a dtype nested 100 000 deep', () => rejects(() => readSafetensorsHeader(stFile({ dtype: deep() })), 'E_FORMAT'));
  it('data_offsets nested 100 000 deep', () => rejects(() => readSafetensorsHeader(stFile({ data_offsets: deep() })), 'E_FORMAT'));
  it('an index whose weight_map value is nested 100 000 deep', () => {
    const f = writeFile('model.safetensors.index.json', jsonText({ metadata: {}, weight_map: { w: deep() } }));
    rejects(() => readSafetensorsIndex(f), 'E_FORMAT');
  });
});

describe('config.json: absurd values are E_FORMAT', () => {
  const cfg = (patch: Record<string, unknown>) => writeFile('config.json', jsonText({ ...tinyConfigJson(), ...patch }));
  const cases: [string, Record<string, unknown>][] = [
    ['vocab_size 1e12', { vocab_size: 1e12 }],
    ['hidden_size 2^53', { hidden_size: 2 ** 53 }],
    ['negative layers', { num_hidden_layers: -1 }],
    ['fractional heads', { num_attention_heads: 4.5 }],
    ['string hidden_size', { hidden_size: '64' }],
    ['hidden_size 1e999 (Infinity)', { hidden_size: new Raw('1e999') }],
    ['heads not dividing hidden', { num_attention_heads: 3, num_key_value_heads: 1 }],
    ['kv heads not dividing heads', { num_key_value_heads: 3 }],
    ['odd head_dim', { head_dim: 7 }],
    ['missing vocab_size', { vocab_size: null }],
    ['eos id past the vocabulary', { eos_token_id: [1e9] }],
    [
      'llama3 rope with high ≤ low frequency factor',
      { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 4, original_max_position_embeddings: 128 } },
    ],
  ];
  for (const [name, patch] of cases) it(name, () => rejects(() => readModelConfig(cfg(patch)), 'E_FORMAT'));
  it('arrays where objects are expected', () => {
    rejects(() => readModelConfig(writeFile('config.json', '[]')), 'E_FORMAT');
    rejects(() => readModelConfig(cfg({ rope_scaling: [1] })), 'E_FORMAT');
  });

  it('a size nested 100 000 deep', () => rejects(() => readModelConfig(cfg({ vocab_size: deep() })), 'E_FORMAT'));
  it('architectures nested 100 000 deep', () => rejects(() => readModelConfig(cfg({ architectures: deepArray() })), 'E_FORMAT'));
  it('an unknown field nested 100 000 deep is rejected at read or survives save', () => {
    let c;
    try {
      c = readModelConfig(cfg({ extra: deep() }));
    } catch (e) {
      assert.ok(e instanceof HaloError, `expected HaloError, got ${(e as Error).constructor.name}`);
      return;
    }
    assert.doesNotThrow(() => serializeModelConfig(c));
  });
  it('head_dim derived from hidden / heads obeys the head_dim limit', () => {
    rejects(() => parseModelConfig({ ...tinyConfigJson(), hidden_size: 65536, num_attention_heads: 2, num_key_value_heads: 1 }), 'E_FORMAT');
  });
});

describe('tokenizer: broken files are HaloErrors, at load or at use', () => {
  const base = () => makeTinyTokenizer(261);
  function folder(tj: unknown, tc: unknown): string {
    const dir = path.join(tmp, `t${n++}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), typeof tj === 'string' ? tj : JSON.stringify(tj));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tc));
    return dir;
  }
  /** Load and use: every method's failure must be a HaloError. */
  const loadAndUse = (dir: string) => {
    const t = loadTokenizer(dir);
    t.decode(t.encode('Hello world <|eot_id|>'));
    return t;
  };
  it('not JSON, an array, no model', () => {
    const { tokenizerConfig: tc } = base();
    for (const tj of ['{', '[]', '{"version":"1.0"}', '{"model":{"type":"BPE","vocab":null}}']) rejects(() => loadAndUse(folder(tj, tc)), 'E_FORMAT');
  });
  it('special token missing from the vocabulary', () => {
    const { tokenizer: tj, tokenizerConfig: tc } = base();
    rejects(() => loadAndUse(folder(tj, { ...tc, eos_token: 'nope' })), 'E_FORMAT');
  });

  for (const [what, v] of [
    ['-1', -1],
    ['0.5', 0.5],
    ['"9"', '9'],
    ['null', null],
    ['1e300', 1e300],
    ['5 000 000 (past the 2^22 vocab limit; 2^31-1 hangs)', 5_000_000],
  ] as const) {
    it(`a vocab id ${what}`, () => {
      const { tokenizer: tj, tokenizerConfig: tc } = base();
      (tj.model as { vocab: Record<string, unknown> }).vocab['a'] = v;
      rejects(() => loadAndUse(folder(tj, tc)), 'E_FORMAT');
    });
  }
  it('an added token id -1', () => {
    const { tokenizer: tj, tokenizerConfig: tc } = base();
    (tj.added_tokens as { id: number }[])[4]!.id = -1;
    rejects(() => loadAndUse(folder(tj, tc)), 'E_FORMAT');
  });

  it('post_processor "single" not a list', () => {
    const { tokenizer: tj, tokenizerConfig: tc } = base();
    (tj.post_processor as { processors: { single?: unknown }[] }).processors[1]!.single = 'x';
    rejects(() => loadAndUse(folder(tj, tc)));
  });
  it('Split pre-tokenizer "behavior" not a string', () => {
    const { tokenizer: tj, tokenizerConfig: tc } = base();
    (tj.pre_tokenizer as { pretokenizers: { behavior?: unknown }[] }).pretokenizers[0]!.behavior = ['Isolated'];
    rejects(() => loadAndUse(folder(tj, tc)));
  });
  it('an added token of 1 MB: rejected, or loaded without 64 MiB more than the file', () => {
    const { tokenizer: tj, tokenizerConfig: tc } = base();
    (tj.added_tokens as { content: string }[])[2]!.content = 'ab\u0000'.repeat(350_000);
    const dir = folder(tj, tc);
    const before = process.memoryUsage().heapUsed;
    let kept: unknown;
    try {
      kept = loadTokenizer(dir);
    } catch (e) {
      assert.ok(e instanceof HaloError);
      return;
    }
    const grew = process.memoryUsage().heapUsed - before;
    assert.ok(kept && grew < (64 << 20) + fs.statSync(path.join(dir, 'tokenizer.json')).size, `heap grew ${(grew / 2 ** 20).toFixed(0)} MiB`);
  });
});

describe('JSONL: the two modes agree on bad lines, BOM, CRLF and binary', () => {
  const text = '\ufeff{"text":"a"}\r\n\r\n{"prompt":"p","completion":"c"}\r\n\u0000\xff{"x":1}\n[1]\n{"messages":[]}\n{"text":' + '['.repeat(DEEP) + '}\n';
  it("'skip' counts every bad line; 'error' throws E_FORMAT naming the first", () => {
    const r = parseJsonl(text, 'mem.jsonl', { onBadLine: 'skip' });
    assert.equal(r.records.length, 2);
    assert.equal(r.skipped, 4);
    assert.deepEqual(
      r.skippedLines.map((s) => s.line),
      [4, 5, 6, 7],
    );
    assert.throws(
      () => parseJsonl(text, 'mem.jsonl'),
      (e: unknown) => e instanceof HaloError && e.code === 'E_FORMAT' && /mem\.jsonl:4:/.test(e.message),
    );
  });
  it('invalid UTF-8 bytes in a file are bad lines, not a crash', () => {
    const f = writeFile('d.jsonl', Buffer.concat([Buffer.from('{"text":"ok"}\n'), Buffer.from([0xc3, 0x28, 0xff, 0x0a]), Buffer.from('{"text":"\xe9"}\n')]));
    const r = readJsonl(f, { onBadLine: 'skip' });
    assert.equal(r.records.length, 2);
    assert.equal(r.skipped, 1);
  });
});
