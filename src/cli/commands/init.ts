// `halo init --preset NAME --out DIR`: a random-initialised Hugging Face model folder at the exact shapes of a
// real checkpoint (src/models/presets.ts), for benchmarks, memory tests and parity checks at real widths with
// nothing downloaded. The weights stream to disk one chunk at a time, so even llama-3.1-8b (16 GB in bf16)
// needs only a chunk of memory. --list (or --help) shows the presets.
import { HaloError } from '../../core/errors.ts';
import { parseModelConfig } from '../../io/hf-config.ts';
import { parameterCount } from '../../io/hf-folder.ts';
import { DEFAULT_INIT_SHARD_BYTES, initModelFolder } from '../../models/init-folder.ts';
import { PRESET_NAMES, PRESETS } from '../../models/presets.ts';
import { ProgressBar } from '../../train/progress.ts';
import type { Command } from '../command.ts';
import { formatTable } from '../table.ts';

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** '2000000000', '2GB', '500MiB' → bytes (decimal units as transformers' max_shard_size, binary ones as IEC). */
export function parseByteSize(text: string, what = '--max-shard-size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(bytes >= 1) || !Number.isSafeInteger(bytes)) {
    throw new HaloError('E_ARG', `${what} takes a positive size in bytes, e.g. 2000000000, 2GB or 500MiB; got '${text}'`);
  }
  return bytes;
}

function human(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

function count(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : `${(n / 1e6).toFixed(1)}M`;
}

/** One row per preset: the shapes that matter and the size of a bf16 folder. */
export function presetTable(): string {
  const rows = PRESETS.map((p) => {
    const c = parseModelConfig(p.config, `preset ${p.name}`);
    const params = parameterCount(c);
    return [
      p.name,
      p.repo,
      c.model_type,
      String(c.num_hidden_layers),
      String(c.hidden_size),
      `${c.num_attention_heads}/${c.num_key_value_heads}`,
      String(c.vocab_size),
      c.tie_word_embeddings ? 'yes' : 'no',
      count(params),
      human(params * 2),
    ];
  });
  return formatTable(['preset', 'config of', 'type', 'layers', 'hidden', 'heads/kv', 'vocab', 'tied', 'params', 'bf16'], rows);
}

export const initCommand: Command = {
  name: 'init',
  summary: "Write a random-initialised HF model folder at a real checkpoint's shapes (--preset; --list shows them)",
  usage: 'halo init --preset NAME --out DIR [--layers N] [--dtype bf16|f32] [--seed S] [--max-shard-size 2GB] [--overwrite] | halo init --list',
  options: [
    { name: 'preset', type: 'string', help: 'the real model whose config.json to copy', choices: PRESET_NAMES },
    { name: 'out', type: 'string', help: 'output folder (must be empty or new unless --overwrite)' },
    { name: 'layers', type: 'int', help: 'override num_hidden_layers (real widths and vocabulary, fewer layers)' },
    { name: 'dtype', type: 'string', help: 'storage dtype of the weights (config torch_dtype follows)', default: 'bf16', choices: ['bf16', 'f32'] },
    { name: 'seed', type: 'int', help: 'seed of the random weights (same seed → same bytes)', default: 0 },
    { name: 'max-shard-size', type: 'string', help: 'shard the weights above this size (bytes, or 2GB / 500MiB)', default: String(DEFAULT_INIT_SHARD_BYTES) },
    { name: 'tokenizer', type: 'string', help: 'folder whose tokenizer files to copy (default: models/halo-tiny)' },
    { name: 'overwrite', type: 'boolean', help: 'write into a non-empty --out, replacing its model files' },
    { name: 'list', type: 'boolean', help: 'list the presets and exit' },
  ],
  async run({ options: o, positionals }) {
    if (positionals.length) throw new HaloError('E_ARG', `unexpected arguments: ${positionals.join(' ')}`);
    if (o.list) {
      process.stdout.write(presetTable() + '\n');
      return 0;
    }
    const preset = o.preset as string | undefined;
    const out = o.out as string | undefined;
    if (preset === undefined) throw new HaloError('E_ARG', `missing --preset; choose one of ${PRESET_NAMES.join(', ')} (halo init --list describes them)`);
    if (out === undefined) throw new HaloError('E_ARG', 'missing --out DIR: the folder to write the model into');
    const layers = o.layers as number | undefined;
    if (layers !== undefined && layers < 1) throw new HaloError('E_ARG', `--layers must be at least 1, got ${layers}`);
    const maxShardBytes = parseByteSize(o['max-shard-size'] as string);
    const bar = new ProgressBar(`init ${preset} (% written)`, 100, { logEvery: 10 });
    let shown = -1;
    const r = initModelFolder({
      preset,
      out,
      tokenizerFrom: o.tokenizer as string | undefined,
      layers,
      dtype: o.dtype as 'bf16' | 'f32',
      seed: o.seed as number,
      maxShardBytes,
      overwrite: o.overwrite === true,
      onProgress: (done, total) => {
        const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
        if (pct !== shown) bar.update((shown = pct));
      },
    });
    if (shown < 100) bar.update(100);
    const c = r.config;
    const weights = r.files.filter((f) => f.endsWith('.safetensors')).length;
    process.stdout.write(
      `wrote ${out}: ${preset} (${c.num_hidden_layers} layer${c.num_hidden_layers === 1 ? '' : 's'}, hidden ${c.hidden_size}, vocab ${c.vocab_size}), ${r.parameters.toLocaleString('en-US')} parameters ` +
        `as ${o.dtype}, ${human(r.bytes)} in ${weights} weight file${weights > 1 ? 's' : ''}; ${r.seconds.toFixed(1)} s (${Math.round(r.parameters / r.seconds / 1e6)} M values/s)\n`,
    );
    return 0;
  },
};
