// TextTokenizer over a Hugging Face folder's tokenizer.json (run by @huggingface/tokenizers, the pure-JS port
// of the `tokenizers` crate) and tokenizer_config.json (special tokens, chat template rendered by
// @huggingface/jinja). Mirrors transformers' PreTrainedTokenizerFast: encode() adds no special tokens (the
// chat template already writes <|begin_of_text|>), but special-token text in the input IS parsed as special
// tokens, exactly as tokenizer(text, add_special_tokens=False) does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { HaloError } from '../core/errors.ts';
import type { ChatMessage, TextTokenizer } from './types.ts';

type Json = Record<string, unknown>;

/** A special token as tokenizer_config.json writes it: a string, or an AddedToken dict {content, …}. */
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return null;
}

function pickTemplate(v: unknown, src: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  // Older files: a list of named templates; the one named 'default' is what apply_chat_template uses.
  if (Array.isArray(v)) {
    const named = v.filter((t): t is { name: string; template: string } => typeof t?.name === 'string' && typeof t?.template === 'string');
    return (named.find((t) => t.name === 'default') ?? named[0])?.template ?? null;
  }
  throw new HaloError('E_FORMAT', `${src}: chat_template must be a string or a list of {name, template}`);
}

export interface HfTokenizerOptions {
  /** Overrides tokenizer_config.chat_template (e.g. from chat_template.jinja). */
  chatTemplate?: string | null;
  /** Names the source in error messages. */
  source?: string;
}

export class HfTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly chatTemplate: string | null;
  readonly source: string;
  private readonly tok: Tokenizer;
  private readonly config: Json;
  private template: Template | null = null;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}, opts: HfTokenizerOptions = {}) {
    this.source = opts.source ?? 'tokenizer';
    const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isObj(tokenizerJson)) throw new HaloError('E_FORMAT', `${this.source}: tokenizer.json is not a JSON object`);
    if (!isObj(tokenizerConfig)) throw new HaloError('E_FORMAT', `${this.source}: tokenizer_config.json is not a JSON object`);
    if (!isObj(tokenizerJson.model)) throw new HaloError('E_FORMAT', `${this.source}: tokenizer.json has no "model" object`);
    const tj: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizerJson };
    if (!Array.isArray(tj.added_tokens)) throw new HaloError('E_FORMAT', `${this.source}: tokenizer.json "added_tokens" must be a list`);
    try {
      this.tok = new Tokenizer(tj, tokenizerConfig);
    } catch (e) {
      throw new HaloError('E_FORMAT', `${this.source}: cannot build the tokenizer from tokenizer.json (${(e as Error).message})`, { cause: e });
    }
    this.config = tokenizerConfig;
    let maxId = -1;
    for (const id of this.tok.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    const special = (field: string): [string | null, number | null] => {
      const t = tokenText(tokenizerConfig[field]);
      if (t === null) return [null, null];
      const id = this.tok.token_to_id(t);
      if (id === undefined) throw new HaloError('E_FORMAT', `${this.source}: ${field} '${t}' is not in the vocabulary`);
      return [t, id];
    };
    [this.bosToken, this.bosId] = special('bos_token');
    [this.eosToken, this.eosId] = special('eos_token');
    [this.padToken, this.padId] = special('pad_token');
    this.chatTemplate = opts.chatTemplate !== undefined ? opts.chatTemplate : pickTemplate(tokenizerConfig.chat_template, this.source);
  }

  encode(text: string): number[] {
    if (text.length === 0) return [];
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.tok.id_to_token(id) === undefined) {
        throw new HaloError('E_ARG', `${this.source}: cannot decode token id ${id} (vocabulary has ${this.vocabSize} ids)`);
      }
    }
    return this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenId(token: string): number | null {
    return this.tok.token_to_id(token) ?? null;
  }

  /** Token text of an id, or null. */
  idToken(id: number): string | null {
    return this.tok.id_to_token(id) ?? null;
  }

  /**
   * `variables` are extra template inputs, as transformers' apply_chat_template(**kwargs): e.g. date_string, which
   * Llama 3.x templates otherwise take from today's date (pass it for reproducible token streams).
   */
  applyChatTemplate(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean; variables?: Record<string, unknown> } = {}): string {
    if (this.chatTemplate === null) {
      throw new HaloError('E_UNSUPPORTED', `${this.source}: no chat_template in tokenizer_config.json (or chat_template.jinja); this is not a chat model`);
    }
    if (!this.template) {
      try {
        this.template = new Template(this.chatTemplate);
      } catch (e) {
        throw new HaloError('E_FORMAT', `${this.source}: chat template does not parse (${(e as Error).message})`, { cause: e });
      }
    }
    try {
      return this.template.render({
        ...opts.variables,
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: opts.addGenerationPrompt ?? false,
        bos_token: this.bosToken ?? '',
        eos_token: this.eosToken ?? '',
        pad_token: this.padToken ?? '',
        unk_token: tokenText(this.config.unk_token) ?? '',
      });
    } catch (e) {
      throw new HaloError('E_ARG', `${this.source}: chat template failed: ${(e as Error).message}`, { cause: e });
    }
  }
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new HaloError('E_IO', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HaloError('E_FORMAT', `${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** Loads the tokenizer of a model folder: tokenizer.json (required), tokenizer_config.json, chat_template.jinja. */
export function loadTokenizer(dir: string): HfTokenizer {
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
  return new HfTokenizer(readJson(tj), tc, { chatTemplate, source: dir });
}
