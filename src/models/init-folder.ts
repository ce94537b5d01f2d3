// A complete random Hugging Face model folder at a real checkpoint's shapes (`halo init`): the preset's
// config.json, fresh weights streamed to safetensors (sharded like transformers above maxShardBytes), and a
// tokenizer's files copied in. The tokenizer (halo-tiny's by default) is far smaller than the real vocabulary;
// the config keeps its real vocab_size anyway — real checkpoints pad their embedding past the tokenizer too,
// and the embedding and lm_head sizes are what make a 128k-vocabulary model cost what it costs. Only the
// config's bos/eos ids are replaced by the tokenizer's: the real ones name tokens this tokenizer does not
// have (or worse, different ones: SmolLM2's eos is id 0), and generation stops on eos_token_id.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import { parseJsonChecked } from '../core/json-guard.ts';
import { parseModelConfig, TORCH_DTYPE_OF_HALO, type ModelConfig } from '../io/hf-config.ts';
import { parameterCount, TOKENIZER_FILES } from '../io/hf-folder.ts';
import { INDEX_FILE } from '../io/safetensors-index.ts';
import { writeFileAtomic } from '../io/safetensors.ts';
import { writeSafetensorsStreaming } from '../io/safetensors-stream.ts';
import { loadTokenizer } from '../tokenizer/hf.ts';
import { initTensorPlan, initTensorProducer, type InitDType } from './init-stream.ts';
import { getPreset, presetConfigJson } from './presets.ts';
import { fileURLToPath } from 'node:url';

/** The shipped halo-tiny folder, whose tokenizer a preset folder gets unless told otherwise. */
export const HALO_TINY_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models/halo-tiny');

export interface InitFolderOptions {
  preset: string;
  out: string;
  /** Folder whose tokenizer files are copied (tokenizer.json required); default the shipped halo-tiny's. */
  tokenizerFrom?: string;
  /** Overrides num_hidden_layers. */
  layers?: number;
  /** Default 'bf16' (what the real checkpoints store). */
  dtype?: InitDType;
  /** Default 0. */
  seed?: number;
  /** Default 2 GB. */
  maxShardBytes?: number;
  /** Write into a non-empty `out` (replacing the files a model folder has). */
  overwrite?: boolean;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export interface InitFolderResult {
  config: ModelConfig;
  /** Files written, weights first, then config.json and the tokenizer files. */
  files: string[];
  parameters: number;
  /** Bytes of tensor data written. */
  bytes: number;
  seconds: number;
}

export const DEFAULT_INIT_SHARD_BYTES = 2_000_000_000;

const WEIGHT_FILE = /^model(-\d{5}-of-\d{5})?\.safetensors$/;

/** Refuses a non-empty folder unless overwriting; a file in the way is always refused. */
function prepareOut(out: string, overwrite: boolean): void {
  let entries: string[];
  try {
    if (!fs.statSync(out).isDirectory()) throw new HaloError('E_IO', `--out ${out} is a file, not a folder`);
    entries = fs.readdirSync(out);
  } catch (e) {
    if (e instanceof HaloError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new HaloError('E_IO', `cannot use --out ${out}: ${(e as Error).message}`);
    fs.mkdirSync(out, { recursive: true });
    return;
  }
  if (entries.length && !overwrite) {
    const shown = entries.slice(0, 4).join(', ') + (entries.length > 4 ? `, … (${entries.length} entries)` : '');
    throw new HaloError('E_ARG', `--out ${out} is not empty (${shown}); choose an empty or new folder, or pass --overwrite to write the model over it`);
  }
}

function writeJson(file: string, value: unknown): void {
  const text = JSON.stringify(value, null, 2) + '\n';
  writeFileAtomic(file, (fd) => fs.writeSync(fd, text));
}

/** The config.json object: the preset's, with --layers, the storage dtype and the tokenizer's bos/eos ids. */
export function initConfigJson(
  preset: string,
  tok: { vocabSize: number; bosId: number | null; eosId: number | null },
  opts: { layers?: number; dtype?: InitDType } = {},
): Record<string, unknown> {
  const p = getPreset(preset);
  const json = presetConfigJson(p, { layers: opts.layers });
  const vocab = json.vocab_size as number;
  if (tok.vocabSize > vocab) {
    throw new HaloError(
      'E_ARG',
      `the tokenizer has ${tok.vocabSize} ids but preset ${preset}'s vocab_size is ${vocab}; the embedding needs a row for every token`,
    );
  }
  json.bos_token_id = tok.bosId;
  json.eos_token_id = tok.eosId;
  json.torch_dtype = TORCH_DTYPE_OF_HALO[opts.dtype ?? 'bf16'];
  return Object.fromEntries(
    Object.keys(json)
      .sort()
      .map((k) => [k, json[k]]),
  );
}

export function initModelFolder(opts: InitFolderOptions): InitFolderResult {
  const o = { ...opts, tokenizerFrom: opts.tokenizerFrom ?? HALO_TINY_DIR };
  const t0 = performance.now();
  const dtype = o.dtype ?? 'bf16';
  const tok = loadTokenizer(o.tokenizerFrom);
  const json = initConfigJson(o.preset, tok, { layers: o.layers, dtype });
  const config = parseModelConfig(json, `preset ${o.preset}`);
  prepareOut(o.out, o.overwrite === true);

  const plan = initTensorPlan(config, dtype);
  const files = writeSafetensorsStreaming(o.out, plan, initTensorProducer(config, o.seed ?? 0), {
    maxShardBytes: o.maxShardBytes ?? DEFAULT_INIT_SHARD_BYTES,
    metadata: { format: 'pt' },
    onProgress: o.onProgress,
  });
  writeJson(path.join(o.out, 'config.json'), json);
  files.push('config.json');
  for (const f of TOKENIZER_FILES) {
    const src = path.join(o.tokenizerFrom, f);
    if (f === 'generation_config.json' || !fs.existsSync(src)) continue;
    const bytes = fs.readFileSync(src);
    writeFileAtomic(path.join(o.out, f), (fd) => fs.writeSync(fd, bytes));
    files.push(f);
  }
  // generation_config.json's ids win over config.json's when generating, so they must be the tokenizer's too.
  const genFile = path.join(o.tokenizerFrom, 'generation_config.json');
  const gen = fs.existsSync(genFile) ? parseJsonChecked(fs.readFileSync(genFile, 'utf8'), genFile) : {};
  if (typeof gen !== 'object' || gen === null || Array.isArray(gen)) throw new HaloError('E_FORMAT', `${genFile}: not a JSON object`);
  writeJson(path.join(o.out, 'generation_config.json'), {
    ...gen,
    bos_token_id: tok.bosId,
    eos_token_id: tok.eosId,
    ...(tok.padId !== null ? { pad_token_id: tok.padId } : {}),
  });
  files.push('generation_config.json');
  // With --overwrite: an earlier folder's other weight files or tokenizer files would confuse loaders.
  for (const f of fs.readdirSync(o.out)) {
    const ours = WEIGHT_FILE.test(f) || f === INDEX_FILE || (TOKENIZER_FILES as readonly string[]).includes(f);
    if (ours && !files.includes(f)) fs.rmSync(path.join(o.out, f));
  }
  const bytes = plan.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * (dtype === 'bf16' ? 2 : 4), 0);
  return { config, files, parameters: parameterCount(config), bytes, seconds: (performance.now() - t0) / 1000 };
}
