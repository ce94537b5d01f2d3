// Valid inputs the mutators start from, built once per process with the project's own writers: tiny Hugging
// Face folders from writeTinyModelFolder (Llama f32, Llama bf16 with biases + tied embeddings + llama3 RoPE,
// Qwen2 f16 with a ChatML tokenizer, Mistral sharded into several safetensors files plus an index) and one
// safetensors file holding every dtype halo stores, a scalar, an empty tensor and metadata.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DTYPES, type DType, type Storage } from '../../src/core/dtype.ts';
import { Rng } from '../../src/core/rng.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { writeTinyModelFolder, type TinyModelOptions } from '../../src/io/testing/tiny-model.ts';

/** A folder as bytes: relative file name → contents. */
export type FileSet = Record<string, Uint8Array>;

export interface Seeds {
  folders: { name: string; files: FileSet }[];
  /** A single safetensors file with all eight stored dtypes. */
  mixed: Uint8Array;
}

const SMALL: TinyModelOptions = { hidden: 16, heads: 2, kvHeads: 1, intermediate: 32, layers: 1, vocab: 261 };
const FOLDERS: Record<string, TinyModelOptions> = {
  'llama-f32': { ...SMALL },
  'llama-bf16': {
    ...SMALL,
    dtype: 'bf16',
    tied: true,
    attentionBias: true,
    mlpBias: true,
    maxPositions: 512,
    ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 },
  },
  'qwen2-f16': { ...SMALL, arch: 'qwen2', chat: 'chatml', vocab: 270, dtype: 'f16' },
  'mistral-sharded': { ...SMALL, arch: 'mistral', layers: 2, maxShardBytes: 12_000 },
};

export function readFolder(dir: string): FileSet {
  const out: FileSet = {};
  for (const f of fs.readdirSync(dir).sort()) out[f] = new Uint8Array(fs.readFileSync(path.join(dir, f)));
  return out;
}

function mixedFile(dir: string): Uint8Array {
  const rng = new Rng(11);
  const t = (dtype: DType, shape: number[]) => {
    const data = DTYPES[dtype].make(shape.reduce((a, b) => a * b, 1));
    const bytes = new Uint8Array(data.buffer);
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
    return new Tensor(shape, dtype, data as Storage);
  };
  const file = path.join(dir, 'mixed.safetensors');
  writeSafetensors(
    file,
    new Map([
      ['a.f64', t('f64', [2, 3])],
      ['b.f32', t('f32', [3, 5])],
      ['c.bf16', t('bf16', [7])],
      ['d.f16', t('f16', [2, 2, 2])],
      ['e.i32', t('i32', [4])],
      ['f.i8', t('i8', [5, 1])],
      ['g.e4m3', t('fp8e4m3', [6])],
      ['h.e5m2', t('fp8e5m2', [3])],
      ['scalar', t('f32', [])],
      ['empty', t('bf16', [0, 4])],
    ]),
    { format: 'pt', note: 'fuzz seed' },
  );
  return new Uint8Array(fs.readFileSync(file));
}

/** Builds the seeds under `workDir` (which it creates) and returns them in memory. */
export function buildSeeds(workDir: string): Seeds {
  fs.mkdirSync(workDir, { recursive: true });
  const folders = Object.entries(FOLDERS).map(([name, opts]) => {
    const dir = path.join(workDir, name);
    writeTinyModelFolder(dir, opts);
    return { name, files: readFolder(dir) };
  });
  return { folders, mixed: mixedFile(workDir) };
}
