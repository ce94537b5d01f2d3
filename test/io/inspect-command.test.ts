import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { inspectCommand, inspectFolder, type InspectReport } from '../../src/cli/commands/inspect.ts';
import { main } from '../../src/cli/main.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-inspect-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI with stdout/stderr captured. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv, [inspectCommand]);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

describe('halo inspect', () => {
  const dir = path.join(tmp, 'qwen');
  const tiny = writeTinyModelFolder(dir, { arch: 'qwen2', dtype: 'bf16', hidden: 96, heads: 6, kvHeads: 2, intermediate: 160, tied: true });

  it('reports architecture, dims, parameters, dtypes, tokenizer and linear sizes', () => {
    const r = inspectFolder(dir);
    assert.equal(r.architecture, 'Qwen2ForCausalLM');
    assert.equal(r.config.headDim, 16);
    assert.deepEqual(r.config.biases, { qkv: true, o: false, mlp: false });
    const params = [...tiny.weights.values()].reduce((s, t) => s + t.numel, 0);
    assert.equal(r.parameters, params);
    assert.deepEqual(Object.keys(r.dtypes), ['BF16']);
    assert.equal(r.dtypes.BF16!.parameters, params);
    assert.deepEqual(
      r.weightFiles.map((f) => f.name),
      ['model.safetensors'],
    );
    assert.deepEqual(r.tokenizer, { vocabSize: 320, bos: '<|begin_of_text|>', eos: '<|eot_id|>', pad: null, chatTemplate: true });
    assert.deepEqual(
      r.linearDims.find((l) => l.name === 'k_proj'),
      { name: 'k_proj', in: 96, out: 32 },
    );
    assert.deepEqual(
      r.linearDims.find((l) => l.name === 'down_proj'),
      { name: 'down_proj', in: 160, out: 96 },
    );
    assert.deepEqual(r.dims, [32, 96, 160, 320]);
    assert.deepEqual(r.problems, []);
  });

  it('prints text (exit 0) and JSON with --json', async () => {
    const t = await run(['inspect', dir]);
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /architecture Qwen2ForCausalLM \(qwen2\)/);
    assert.match(t.out, /heads 6 · kv heads 2 · head_dim 16/);
    assert.match(t.out, /down_proj 160→96/);
    assert.match(t.out, /check {8}ok/);
    const j = await run(['inspect', dir, '--json']);
    assert.equal(j.code, 0);
    const report = JSON.parse(j.out) as InspectReport;
    assert.equal(report.config.hiddenSize, 96);
  });

  it('exits 1 listing missing tensors; 2 with one line for a bad path', async () => {
    const broken = path.join(tmp, 'broken');
    const t = writeTinyModelFolder(broken, { layers: 1 });
    const w = new Map(t.weights);
    w.delete('model.layers.0.self_attn.q_proj.weight');
    writeSafetensors(path.join(broken, 'model.safetensors'), w);
    const r = await run(['inspect', broken]);
    assert.equal(r.code, 1);
    assert.match(r.out, /missing tensors: model\.layers\.0\.self_attn\.q_proj\.weight/);
    const bad = await run(['inspect', path.join(tmp, 'nope')]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^halo inspect: no such model folder: .*nope\n$/);
    const none = await run(['inspect']);
    assert.equal(none.code, 2);
    assert.match(none.err, /^halo inspect: missing DIR: the model folder/);
  });

  it('--weight-stats reports RMS and max |w| per projection, computed from the tensors as written', async () => {
    const f32 = path.join(tmp, 'f32');
    const t = writeTinyModelFolder(f32, { layers: 2, dtype: 'f32' });
    const j = await run(['inspect', f32, '--json', '--weight-stats']);
    assert.equal(j.code, 0, j.err);
    const stats = (JSON.parse(j.out) as InspectReport).weightStats!;
    assert.deepEqual(
      stats.map((w) => w.name),
      ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'all'],
    );
    // The oracle: a plain loop over both layers' down_proj weights.
    let sumSq = 0;
    let n = 0;
    let max = 0;
    for (const l of [0, 1]) {
      for (const v of t.weights.get(`model.layers.${l}.mlp.down_proj.weight`)!.data as Float32Array) {
        sumSq += v * v;
        n++;
        max = Math.max(max, Math.abs(v));
      }
    }
    const down = stats.find((w) => w.name === 'down_proj')!;
    assert.equal(down.tensors, 2);
    assert.equal(down.values, n);
    assert.ok(Math.abs(down.rms - Math.sqrt(sumSq / n)) < 1e-12 * down.rms);
    assert.equal(down.absmax, max);
    const all = stats.at(-1)!;
    assert.equal(all.tensors, 14);
    assert.equal(all.absmax, Math.max(...stats.slice(0, -1).map((w) => w.absmax)));
    const text = await run(['inspect', f32, '--weight-stats']);
    assert.match(text.out, /\n {2}down_proj {4}2 tensors {2}RMS [0-9.e-]+ {2}max [0-9.e-]+ {2}max\/RMS \d+\.\d\n/);
  });
});
