// Layering as docs/architecture.md draws it ("data flows top to bottom; nothing flows back up"), enforced: every
// import in src/**/*.ts (static, dynamic, `export … from`, type-only; parsed by TypeScript's own pre-processor,
// so comments and strings are not imports) is checked against the one layer table, src/layers.json. A file may
// import its own directory and lower layers; directories of one layer do not import each other; the table's
// exceptions are allowed, each with a reason, and must still be needed. The second part proves the rule bites.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

interface LayerTable {
  layers: string[][];
  exceptions: { from: string; to: string; reason: string }[];
}

/** One import edge, as repository-relative paths ('src/models/llama.ts'). */
interface Edge {
  from: string;
  to: string;
}

const ROOT = path.resolve(import.meta.dirname, '..');
const TABLE: LayerTable = JSON.parse(fs.readFileSync(path.join(ROOT, 'src/layers.json'), 'utf8'));

function srcFiles(dir = 'src'): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return srcFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** The imports of `file` (given its text) that land in src/; package and node: imports are not layered. */
function importsOf(file: string, text: string): Edge[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => ({ from: file, to: path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)) }))
    .filter((e) => e.to.startsWith('src/'));
}

/** The table's unit a src file belongs to: its top directory, or the file's name for src/*.ts ('index'). */
function unitOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : parts[1]!.replace(/\.ts$/, '');
}

/** Every edge that breaks the table, as one line naming both files and both layers. */
function violations(edges: readonly Edge[], table: LayerTable): string[] {
  const rank = new Map(table.layers.flatMap((units, i) => units.map((u) => [u, i] as const)));
  const excepted = new Set(table.exceptions.map((x) => `${x.from} ${x.to}`));
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = unitOf(from),
      b = unitOf(to);
    const ra = rank.get(a),
      rb = rank.get(b);
    if (ra === undefined || rb === undefined) {
      out.push(`${from} imports ${to}: '${ra === undefined ? a : b}' is in no layer of src/layers.json`);
    } else if (a === b || ra < rb || excepted.has(`${from} ${to}`)) {
      continue;
    } else if (ra === rb) {
      out.push(`${from} imports ${to}: ${a} and ${b} share layer ${ra} and must not import each other`);
    } else {
      out.push(`${from} imports ${to}: ${a} (layer ${ra}) may not import ${b} (layer ${rb}, above it)`);
    }
  }
  return out;
}

/** The table as docs/architecture.md states it: top to bottom, one layer's directories joined by ' | '. */
const layerLine = (t: LayerTable) => t.layers.map((units) => units.join(' | ')).join(' → ');

describe('layering of src/ (src/layers.json)', () => {
  const files = srcFiles();
  const edges = files.flatMap((f) => importsOf(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));

  test('every import in src/**/*.ts goes down the layer table', () => {
    assert.ok(files.length > 100 && edges.length > 500, `parsed ${edges.length} imports in ${files.length} files`);
    assert.deepEqual(violations(edges, TABLE), []);
  });

  test('every src directory is in exactly one layer, and every layer name is a src directory', () => {
    const units = new Set(files.map(unitOf));
    const listed = TABLE.layers.flat();
    assert.equal(new Set(listed).size, listed.length, 'a unit is listed twice');
    assert.deepEqual(
      [...units].filter((u) => !listed.includes(u)),
      [],
    );
    assert.deepEqual(
      listed.filter((u) => !units.has(u)),
      [],
    );
  });

  test('every exception has a reason and is still needed', () => {
    for (const x of TABLE.exceptions) {
      assert.ok(x.reason.length > 20, `${x.from} → ${x.to}: give the reason`);
      assert.ok(
        edges.some((e) => e.from === x.from && e.to === x.to),
        `${x.from} no longer imports ${x.to}: remove the exception`,
      );
      assert.equal(violations([x], { ...TABLE, exceptions: [] }).length, 1, `${x.from} → ${x.to} is allowed anyway: remove the exception`);
    }
  });

  test('docs/architecture.md states the same layers', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    assert.ok(doc.includes(layerLine(TABLE)), `docs/architecture.md should contain the line:\n${layerLine(TABLE)}`);
  });
});

describe('the layering check bites', () => {
  const check = (file: string, text: string) => violations(importsOf(file, text), TABLE);

  test('an upward import is reported, naming both files and layers', () => {
    assert.deepEqual(check('src/nn/ops/rope.ts', "import { getBackend } from '../../backend/select.ts';\n"), [
      'src/nn/ops/rope.ts imports src/backend/select.ts: nn (layer 9) may not import backend (layer 8, above it)',
    ]);
    assert.deepEqual(check('src/core/tensor.ts', "import { runCli } from '../cli/main.ts';"), [
      'src/core/tensor.ts imports src/cli/main.ts: core (layer 11) may not import cli (layer 1, above it)',
    ]);
  });

  test('type-only, re-exported and dynamic upward imports count too; comments and strings do not', () => {
    const text = [
      "import type { Backend } from '../backend/backend.ts';",
      "export { LlamaModel } from '../models/llama.ts';",
      "const m = await import('../train/trainer.ts');",
      "// import { x } from '../cli/main.ts'",
      'const s = "import { y } from \'../api/index.ts\'";',
      "import { Tensor } from '../core/tensor.ts';",
      "import * as fs from 'node:fs';",
    ].join('\n');
    assert.deepEqual(
      check('src/quant/codec.ts', text).map((v) => v.split(':')[0]),
      [
        'src/quant/codec.ts imports src/backend/backend.ts',
        'src/quant/codec.ts imports src/models/llama.ts',
        'src/quant/codec.ts imports src/train/trainer.ts',
      ],
    );
  });

  test('a sibling in the same layer and a directory missing from the table are reported; own directory and lower layers are not', () => {
    assert.match(check('src/data/batch.ts', "import { x } from '../io/safetensors.ts';")[0] ?? '', /data and io share layer 9/);
    assert.match(check('src/webgpu/index.ts', "import { Tensor } from '../core/tensor.ts';")[0] ?? '', /'webgpu' is in no layer/);
    assert.deepEqual(
      check('src/models/llama.ts', "import { a } from './causal-lm.ts';\nimport { b } from '../backend/backend.ts';\nimport { c } from '../core/tensor.ts';"),
      [],
    );
  });

  test('an exception allows exactly its own edge', () => {
    const x = TABLE.exceptions[0]!;
    assert.deepEqual(violations([x], TABLE), []);
    assert.equal(violations([x], { ...TABLE, exceptions: [] }).length, 1);
    assert.equal(violations([{ from: 'src/models/load.ts', to: x.to }], TABLE).length, 1);
  });
});
