// A model folder's tokenizer files read from disk: the file half of src/tokenizer/hf-tokenizer.ts (re-exported, so
// Node callers keep one import).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import { parseJsonChecked } from '../core/json-guard.ts';
import type { TemplateLimits } from './chat-template.ts';
import { HfTokenizer } from './hf-tokenizer.ts';

export * from './hf-tokenizer.ts';

type Json = Record<string, unknown>;

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new HaloError('E_IO', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseJsonChecked(text, file);
}

/** Loads the tokenizer of a model folder: tokenizer.json (required), tokenizer_config.json, chat_template.jinja. */
export function loadTokenizer(dir: string, opts: { templateLimits?: Partial<TemplateLimits> } = {}): HfTokenizer {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new HaloError('E_IO', `no such model folder: ${dir}`);
  const tj = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tj)) {
    if (fs.existsSync(path.join(dir, 'tokenizer.model'))) {
      throw new HaloError(
        'E_UNSUPPORTED',
        `${dir} has only a SentencePiece tokenizer.model; halo needs tokenizer.json (write it with transformers: AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR))`,
      );
    }
    throw new HaloError('E_IO', `no tokenizer.json in ${dir}`);
  }
  const tcFile = path.join(dir, 'tokenizer_config.json');
  const tc = fs.existsSync(tcFile) ? readJson(tcFile) : {};
  const jinja = path.join(dir, 'chat_template.jinja');
  const hasTemplate = typeof tc === 'object' && tc !== null && (tc as Json).chat_template != null;
  const chatTemplate = !hasTemplate && fs.existsSync(jinja) ? fs.readFileSync(jinja, 'utf8') : undefined;
  const chatTemplateFile = chatTemplate !== undefined ? jinja : `${tcFile} (chat_template)`;
  return new HfTokenizer(readJson(tj), tc, { chatTemplate, source: dir, chatTemplateFile, templateLimits: opts.templateLimits });
}
