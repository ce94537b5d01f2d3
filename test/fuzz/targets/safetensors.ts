// Fuzz target for src/io/safetensors.ts and src/io/safetensors-index.ts: single files (readSafetensorsHeader,
// then readSafetensors) and sharded checkpoints (readSafetensorsIndex, readShardedSafetensors). Mutations
// know the format: the declared header length lies (0, one off, past the file, 2^63, 2^64-1), entries get
// unknown dtypes, hostile shapes (1e12, 2^53, negative, fractional, strings, products past 2^53), offsets out
// of range / overlapping / with gaps, and some edits are "repaired" (offsets recomputed, data resized) so
// that odd but consistent files reach the tensor reader too. An accepted file must hold exactly what its
// header says: data length = product of the shape, tensors contiguous and inside the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Rng } from '../../../src/core/rng.ts';
import { MAX_HEADER_BYTES, readSafetensors, readSafetensorsHeader, SAFETENSORS_ITEMSIZE, type SafetensorsHeader } from '../../../src/io/safetensors.ts';
import { INDEX_FILE, readSafetensorsIndex, readShardedSafetensors } from '../../../src/io/safetensors-index.ts';
import type { Tensor } from '../../../src/core/tensor.ts';
import { check, type FuzzCase, type FuzzTarget } from '../case.ts';
import { deepNesting, hostileValue, HOSTILE_NUMBERS, HOSTILE_STRINGS, jsonText, longString, Raw, RAW_NUMBERS, setOwn } from '../hostile.ts';
import { damageBytes } from '../mutate-bytes.ts';
import { damageText, describe, mutateTree } from '../mutate-json.ts';
import { chance, intIn, pick, randomBytes, weighted } from '../pick.ts';
import type { FileSet, Seeds } from '../seeds.ts';
import { assembleParts, assembleSafetensors, splitSafetensors, type StParts } from './st-bytes.ts';

type Entry = Record<string, unknown>;
type Edit = (rng: Rng, p: StParts) => string;

const DTYPE_NAMES = [
  ...Object.keys(SAFETENSORS_ITEMSIZE),
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'F8_E4M3FNUZ',
  'C64',
  'Q4_0',
  'f32',
  'bf16',
  'F32 ',
  '',
  '__proto__',
  'toString',
  'constructor',
  'hasOwnProperty',
];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function tensorNames(p: StParts): string[] {
  return isObject(p.header) ? Object.keys(p.header).filter((k) => k !== '__metadata__') : [];
}

function entryOf(rng: Rng, p: StParts): [string, Entry] | null {
  const names = tensorNames(p).filter((k) => typeof p.header[k] === 'object' && p.header[k] !== null && !Array.isArray(p.header[k]));
  if (!names.length) return null;
  const n = pick(rng, names);
  return [n, p.header[n] as Entry];
}

function offsets(e: Entry): [number, number] {
  const o = e.data_offsets;
  return Array.isArray(o) && typeof o[0] === 'number' && typeof o[1] === 'number' ? [o[0], o[1]] : [0, 0];
}

function hostileDim(rng: Rng): unknown {
  return weighted(rng, [
    [4, pick(rng, HOSTILE_NUMBERS)],
    [1, new Raw(pick(rng, RAW_NUMBERS))],
    [1, pick(rng, ['4', null, true, [2], {}, 'x'])],
  ] as const);
}

function hostileShape(rng: Rng, old: unknown): unknown {
  const s = Array.isArray(old) ? [...old] : [1];
  switch (rng.int(8)) {
    case 0:
      if (s.length) s[rng.int(s.length)] = hostileDim(rng);
      return s;
    case 1:
      return [...s, hostileDim(rng)];
    case 2: // each dimension fine, the product past 2^53 (or wrapping a 32/64-bit multiply to something small)
      return pick(rng, [
        [2 ** 26, 2 ** 26, 2 ** 26],
        [2 ** 32, 2 ** 32],
        [2 ** 32, 2 ** 32, 0],
        [2 ** 53, 0],
        [2 ** 21, 2 ** 21, 2 ** 21, 2 ** 21],
        [1e12],
        [2 ** 53],
        [2 ** 63],
      ]);
    case 3:
      return [];
    case 4:
      return new Raw(
        `[${Array(pick(rng, [1000, 100_000]))
          .fill('1')
          .join(',')}]`,
      );
    case 5:
      return deepNesting(rng, pick(rng, [10, 5000, 100_000]));
    case 6:
      return pick(rng, [null, '[4]', 4, { 0: 4 }, [[4]], [-4], [4.5], [-0], [0]]);
    default:
      return hostileValue(rng);
  }
}

function hostileOffsets(rng: Rng, p: StParts, e: Entry): unknown {
  const [b, en] = offsets(e);
  const size = p.data.length;
  return pick(rng, [
    () => [en, b],
    () => [b, en + intIn(rng, 1, 64)],
    () => [b - 1, en - 1],
    () => [0, en - b],
    () => [b + 1, en + 1],
    () => [b, size + 1],
    () => [size, size + (en - b)],
    () => [b, 2 ** 53],
    () => [2 ** 53, 2 ** 53 + (en - b)],
    () => [-1, en],
    () => [b + 0.5, en + 0.5],
    () => [String(b), String(en)],
    () => [b],
    () => [b, en, 0],
    () => null,
    () => ({ 0: b, 1: en }),
    () => new Raw(`[${pick(rng, RAW_NUMBERS)},${pick(rng, RAW_NUMBERS)}]`),
    () => new Raw(`[18446744073709551615,${en}]`),
    () => hostileValue(rng),
  ])();
}

/** Edits that know what a safetensors header entry means. */
const EDITS: Edit[] = [
  (rng, p) => {
    const x = entryOf(rng, p);
    if (!x) return 'no entry';
    x[1].dtype = chance(rng, 0.8) ? pick(rng, DTYPE_NAMES) : hostileValue(rng);
    return `${x[0]}.dtype = ${describe(x[1].dtype)}`;
  },
  (rng, p) => {
    const x = entryOf(rng, p);
    if (!x) return 'no entry';
    x[1].shape = hostileShape(rng, x[1].shape);
    return `${x[0]}.shape = ${describe(x[1].shape)}`;
  },
  (rng, p) => {
    const x = entryOf(rng, p);
    if (!x) return 'no entry';
    x[1].data_offsets = hostileOffsets(rng, p, x[1]);
    return `${x[0]}.data_offsets = ${describe(x[1].data_offsets)}`;
  },
  (rng, p) => {
    const x = entryOf(rng, p);
    if (!x) return 'no entry';
    delete p.header[x[0]];
    return `deleted entry ${x[0]}`;
  },
  (rng, p) => {
    const x = entryOf(rng, p);
    if (!x) return 'no entry';
    const name = pick(rng, [...HOSTILE_STRINGS, longString(rng, 100_000), `${x[0]}.copy`]);
    if (chance(rng, 0.5)) delete p.header[x[0]]; // renamed; otherwise copied (its bytes are claimed twice)
    setOwn(p.header, name, { ...x[1] });
    return `entry ${x[0]} also named ${describe(name)}`;
  },
  (rng, p) => {
    const x = entryOf(rng, p);
    if (!x) return 'no entry';
    const v = hostileValue(rng);
    setOwn(p.header, x[0], v);
    return `entry ${x[0]} = ${describe(v)}`;
  },
  (rng, p) => {
    const x = entryOf(rng, p);
    const name = pick(rng, ['zero', '__proto__', 'extra']);
    const at = x ? offsets(x[1])[1] : 0;
    setOwn(p.header, name, { dtype: pick(rng, DTYPE_NAMES), shape: pick(rng, [[0], [], [1], [2 ** 40, 0]]), data_offsets: [at, at] });
    return `added entry ${name} at ${at} (0 bytes)`;
  },
  (rng, p) => {
    const v = pick(rng, [
      () => hostileValue(rng),
      () => ({ format: hostileValue(rng) }),
      () => ({ [pick(rng, HOSTILE_STRINGS)]: 'x' }),
      () => ({ format: 'pt', nested: { a: 'b' } }),
      () => deepNesting(rng, 100_000),
    ])();
    setOwn(p.header, '__metadata__', v);
    return `__metadata__ = ${describe(v)}`;
  },
  (rng, p) => {
    const v = pick(rng, [[], null, 'x', 0, [p.header]]);
    p.header = v as unknown as Record<string, unknown>;
    return `header = ${describe(v)}`;
  },
  (rng, p) => {
    const x = entryOf(rng, p);
    if (!x) return 'no entry';
    setOwn(x[1], pick(rng, ['extra', '__proto__', 'dtype']), hostileValue(rng));
    return `extra member in ${x[0]}`;
  },
];

/**
 * Recomputes offsets back to back in key order and resizes the data section to match, so that an odd but
 * consistent header (a BOOL tensor, a shape with a 0 beside 2^40) reaches the reader. Entries whose size
 * cannot be computed are left as they are; a total above 1 MB keeps the old data (the header then lies).
 */
function repair(rng: Rng, p: StParts): string {
  if (!isObject(p.header)) return '';
  let pos = 0;
  for (const name of tensorNames(p)) {
    const e = p.header[name] as Entry;
    if (typeof e !== 'object' || e === null || !Array.isArray(e.shape) || typeof e.dtype !== 'string' || !Object.hasOwn(SAFETENSORS_ITEMSIZE, e.dtype))
      continue;
    if (!e.shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) continue;
    const bytes = (e.shape as number[]).reduce((a, b) => a * b, 1) * SAFETENSORS_ITEMSIZE[e.dtype as keyof typeof SAFETENSORS_ITEMSIZE];
    if (!Number.isSafeInteger(bytes)) continue;
    e.data_offsets = [pos, pos + bytes];
    pos += bytes;
  }
  if (pos > 1 << 20) return `; offsets recomputed (${pos} bytes, data left at ${p.data.length})`;
  p.data = randomBytes(rng, pos);
  return `; offsets recomputed, data resized to ${pos} bytes`;
}

const LENGTHS = (hlen: number, size: number): bigint[] =>
  [0, 1, 2, 7, hlen - 1, hlen + 1, hlen + 8, size - 8, size - 7, size, MAX_HEADER_BYTES, MAX_HEADER_BYTES + 1, 2 ** 32, 2 ** 53]
    .filter((n) => n >= 0)
    .map(BigInt)
    .concat([2n ** 63n, 2n ** 64n - 1n, 0x280n]);

const GARBAGE = (rng: Rng): [Uint8Array, string] =>
  pick(rng, [
    (): [Uint8Array, string] => [new Uint8Array(0), 'empty file'],
    (): [Uint8Array, string] => [randomBytes(rng, intIn(rng, 1, 7)), 'fewer than 8 bytes'],
    (): [Uint8Array, string] => [randomBytes(rng, 200), '200 random bytes'],
    (): [Uint8Array, string] => [Uint8Array.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e, 0, 0, 0, 0]), 'pickle protocol 2'],
    (): [Uint8Array, string] => [Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0]), 'zip (torch.save)'],
    (): [Uint8Array, string] => [assembleSafetensors('', new Uint8Array(0)), 'length 0, nothing else'],
    (): [Uint8Array, string] => [assembleSafetensors('{', new Uint8Array(0)), "header '{'"],
    (): [Uint8Array, string] => [assembleSafetensors('{}', new Uint8Array(0)), 'header {} and no data (valid, empty)'],
    (): [Uint8Array, string] => [assembleSafetensors('{}', randomBytes(rng, 9)), 'header {} and 9 stray bytes'],
    (): [Uint8Array, string] => [new TextEncoder().encode('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), 'JSON header without the length'],
    (): [Uint8Array, string] => [
      assembleSafetensors(Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), new Uint8Array(0)),
      'invalid UTF-8 in the header',
    ],
    (): [Uint8Array, string] => [assembleSafetensors(deepNesting(rng, 100_000).text, new Uint8Array(0)), 'header nested 100 000 deep'],
  ])();

/** One hostile version of a valid safetensors file. */
export function mutateSafetensors(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; note: string } {
  const p = splitSafetensors(bytes);
  const hlen = bytes.length - 8 - p.data.length;
  const op = weighted(rng, [
    [3, 'bytes'],
    [2, 'length'],
    [6, 'edit'],
    [2, 'tree'],
    [2, 'text'],
    [1, 'data'],
    [1, 'garbage'],
  ] as const);
  switch (op) {
    case 'bytes': {
      const r = damageBytes(rng, bytes, 8 + hlen);
      return { bytes: r.bytes, note: r.note };
    }
    case 'length': {
      const n = pick(rng, LENGTHS(hlen, bytes.length));
      const out = new Uint8Array(bytes);
      new DataView(out.buffer).setBigUint64(0, n, true);
      return { bytes: out, note: `declared header length ${n} (really ${hlen}, file ${bytes.length} bytes)` };
    }
    case 'edit': {
      const notes: string[] = [];
      // Stop once an edit replaced the whole header with a non-object (nothing left to edit).
      for (let i = intIn(rng, 1, 3); i > 0 && isObject(p.header); i--) notes.push(pick(rng, EDITS)(rng, p));
      const fixed = chance(rng, 0.5) ? repair(rng, p) : '';
      return { bytes: assembleParts(p), note: notes.join('; ') + fixed };
    }
    case 'tree': {
      const notes = mutateTree(rng, p.header, intIn(rng, 1, 3));
      const fixed = chance(rng, 0.3) ? repair(rng, p) : '';
      return { bytes: assembleParts(p), note: notes.join('; ') + fixed };
    }
    case 'text': {
      const r = damageText(rng, jsonText(p.header));
      return { bytes: assembleSafetensors(r.text, p.data), note: `header text: ${r.note}` };
    }
    case 'data': {
      const d = pick(rng, [-1, 1, -8, 8, -p.data.length, 4096]);
      const data = d < 0 ? p.data.subarray(0, Math.max(0, p.data.length + d)) : new Uint8Array([...p.data, ...randomBytes(rng, d)]);
      return { bytes: assembleParts({ header: p.header, data }), note: `data section ${d > 0 ? '+' : ''}${d} bytes` };
    }
    default: {
      const [b, note] = GARBAGE(rng);
      return { bytes: b, note };
    }
  }
}

function shardedFiles(seeds: Seeds): FileSet {
  const f = seeds.folders.find((x) => INDEX_FILE in x.files)!.files;
  return Object.fromEntries(Object.entries(f).filter(([n]) => n.endsWith('.safetensors') || n === INDEX_FILE));
}

function mutateSharded(rng: Rng, base: FileSet): FuzzCase {
  const files: Record<string, Uint8Array | string> = { ...base };
  const shards = Object.keys(base)
    .filter((n) => n.endsWith('.safetensors'))
    .sort();
  const index = JSON.parse(new TextDecoder().decode(base[INDEX_FILE])) as { weight_map: Record<string, unknown> };
  const names = Object.keys(index.weight_map);
  const op = weighted(rng, [
    [3, 'shard'],
    [3, 'map'],
    [2, 'tree'],
    [1, 'text'],
    [1, 'missing'],
  ] as const);
  switch (op) {
    case 'shard': {
      const s = pick(rng, shards);
      const r = mutateSafetensors(rng, base[s]!);
      files[s] = r.bytes;
      return { files, note: `sharded, ${s}: ${r.note}` };
    }
    case 'map': {
      const n = pick(rng, names);
      const v = pick(rng, [
        '../model-00001-of-00002.safetensors',
        '/etc/passwd.safetensors',
        '',
        '.',
        '..',
        INDEX_FILE,
        'missing-00009.safetensors',
        pick(rng, shards),
        `sub/${pick(rng, shards)}`,
        'a\u0000.safetensors',
        'pytorch_model.bin',
        `${'x'.repeat(300)}.safetensors`,
        'folder.safetensors',
        5,
        null,
        hostileValue(rng),
      ]);
      if (v === 'folder.safetensors') files['folder.safetensors/'] = '';
      setOwn(index.weight_map, n, v);
      files[INDEX_FILE] = jsonText(index);
      return { files, note: `sharded, weight_map[${JSON.stringify(n)}] = ${describe(v)}` };
    }
    case 'tree': {
      const notes = mutateTree(rng, index, intIn(rng, 1, 2));
      files[INDEX_FILE] = jsonText(index);
      return { files, note: `sharded, index: ${notes.join('; ')}` };
    }
    case 'text': {
      const r = damageText(rng, new TextDecoder().decode(base[INDEX_FILE]));
      files[INDEX_FILE] = r.text;
      return { files, note: `sharded, index text: ${r.note}` };
    }
    default: {
      const s = pick(rng, shards);
      delete files[s];
      if (chance(rng, 0.5)) files[`${s}/`] = '';
      return { files, note: `sharded, ${s} missing${files[`${s}/`] !== undefined ? ' (a folder instead)' : ''}` };
    }
  }
}

function checkHeader(h: SafetensorsHeader, fileBytes: number): void {
  let pos = 0;
  for (const t of h.tensors) {
    check(t.begin === pos, `${t.name}: begins at ${t.begin}, expected ${pos} (gap or overlap accepted)`);
    check(
      t.shape.every((d) => Number.isSafeInteger(d) && d >= 0),
      `${t.name}: accepted shape [${t.shape}]`,
    );
    pos = t.end;
  }
  check(h.dataStart + pos === fileBytes, `header accepted but tensors end at ${h.dataStart + pos}, file is ${fileBytes} bytes`);
}

function checkTensors(tensors: Map<string, Tensor>, h: SafetensorsHeader[]): void {
  const entries = new Map(h.flatMap((x) => x.tensors.map((t) => [t.name, t] as const)));
  for (const [name, t] of tensors) {
    const e = entries.get(name);
    check(e, `read tensor ${name} that no header lists`);
    check(t.shape.length === e.shape.length && t.shape.every((d, i) => d === e.shape[i]), `${name}: shape [${t.shape}] vs header [${e.shape}]`);
    check(t.data.byteLength === e.end - e.begin, `${name}: ${t.data.byteLength} bytes read, header says ${e.end - e.begin}`);
  }
}

export function safetensorsTarget(seeds: Seeds): FuzzTarget {
  const singles = [
    { name: 'mixed', bytes: seeds.mixed },
    ...seeds.folders.filter((f) => 'model.safetensors' in f.files).map((f) => ({ name: f.name, bytes: f.files['model.safetensors']! })),
  ];
  const sharded = shardedFiles(seeds);
  return {
    name: 'safetensors',
    generate(rng) {
      if (chance(rng, 0.25)) return mutateSharded(rng, sharded);
      const seed = pick(rng, singles);
      let r = mutateSafetensors(rng, seed.bytes);
      if (chance(rng, 0.2) && r.bytes.length >= 8) {
        const again = damageBytes(rng, r.bytes, 64);
        r = { bytes: again.bytes, note: `${r.note}; then ${again.note}` };
      }
      return { files: { 'model.safetensors': r.bytes }, note: `${seed.name}: ${r.note}` };
    },
    run(dir) {
      const index = path.join(dir, INDEX_FILE);
      if (fs.existsSync(index)) {
        const idx = readSafetensorsIndex(index);
        const r = readShardedSafetensors(index);
        const headers = r.files.map((f) => readSafetensorsHeader(path.join(dir, f)));
        checkTensors(r.tensors, headers);
        for (const name of Object.keys(idx.weight_map)) check(r.tensors.has(name), `index maps ${name}, not loaded`);
        return r;
      }
      const file = path.join(dir, 'model.safetensors');
      const h = readSafetensorsHeader(file);
      checkHeader(h, fs.statSync(file).size);
      const r = readSafetensors(file);
      checkTensors(r.tensors, [h]);
      check(r.tensors.size === h.tensors.length, `${h.tensors.length} tensors in the header, ${r.tensors.size} read`);
      return r;
    },
  };
}
