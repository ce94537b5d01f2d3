// config.json read from disk: the file half of src/io/model-config.ts (the parser, validator and serializer,
// which are re-exported so Node callers keep one import).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import { parseModelConfig, type ModelConfig } from './model-config.ts';

export * from './model-config.ts';

/** Reads `file` (a config.json, or a folder containing one). */
export function readModelConfig(file: string): ModelConfig {
  let f = file;
  try {
    if (fs.statSync(f).isDirectory()) f = path.join(f, 'config.json');
  } catch {
    throw new HaloError('E_IO', `no such file or folder: ${file}`);
  }
  let text: string;
  try {
    text = fs.readFileSync(f, 'utf8');
  } catch (e) {
    throw new HaloError(
      'E_IO',
      (e as NodeJS.ErrnoException).code === 'ENOENT' ? `no config.json in ${path.dirname(f)}` : `cannot read ${f}: ${(e as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HaloError('E_FORMAT', `${f}: not valid JSON (${(e as Error).message})`);
  }
  return parseModelConfig(json, f);
}
