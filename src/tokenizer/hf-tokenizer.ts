// TextTokenizer over a Hugging Face folder's tokenizer.json (run by @huggingface/tokenizers, the pure-JS port
// of the `tokenizers` crate) and tokenizer_config.json (special tokens, chat template rendered by
// @huggingface/jinja under limits: chat-template.ts). Mirrors transformers' PreTrainedTokenizerFast: encode()
// adds no special tokens (the chat template already writes <|begin_of_text|>), but special-token text in the
// input IS parsed as special tokens, exactly as tokenizer(text, add_special_tokens=False) does.
// No I/O here (the browser build builds one from fetched files); src/tokenizer/hf.ts adds loadTokenizer(dir).
import { Tokenizer } from '@huggingface/tokenizers';
import { HaloError } from '../core/errors.ts';
import { checkJsonDepth, parseJsonChecked, preview } from '../core/json-guard.ts';
import { ChatTemplate, DEFAULT_TEMPLATE_LIMITS, TemplateLimitError, type TemplateLimits } from './chat-template.ts';
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
  /** Names the chat template's file in the errors of a template over its limits (default: `source`). */
  chatTemplateFile?: string;
  /** Limits on one rendering of the chat template (src/tokenizer/chat-template.ts); defaults for the rest. */
  templateLimits?: Partial<TemplateLimits>;
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
  private template: ChatTemplate | null = null;
  private readonly templateFile: string;
  private readonly templateLimits: TemplateLimits;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}, opts: HfTokenizerOptions = {}) {
    this.source = opts.source ?? 'tokenizer';
    const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isObj(tokenizerJson)) throw new HaloError('E_FORMAT', `${this.source}: tokenizer.json is not a JSON object`);
    if (!isObj(tokenizerConfig)) throw new HaloError('E_FORMAT', `${this.source}: tokenizer_config.json is not a JSON object`);
    if (!isObj(tokenizerJson.model)) throw new HaloError('E_FORMAT', `${this.source}: tokenizer.json has no "model" object`);
    checkJsonDepth(tokenizerJson, `${this.source}: tokenizer.json`);
    checkJsonDepth(tokenizerConfig, `${this.source}: tokenizer_config.json`);
    const tj: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizerJson };
    if (!Array.isArray(tj.added_tokens)) throw new HaloError('E_FORMAT', `${this.source}: tokenizer.json "added_tokens" must be a list`);
    // The library stores vocab[id] = token without checks: an id of 2^31-1 makes a 2^31-long sparse array
    // (a hang), and -1 / 0.5 / "9" come back out of encode(). So every id is checked before it sees them.
    const maxId = checkTokenIds(tj, this.source);
    try {
      this.tok = new Tokenizer(tj, tokenizerConfig);
    } catch (e) {
      throw new HaloError('E_FORMAT', `${this.source}: cannot build the tokenizer from tokenizer.json (${(e as Error).message})`, { cause: e });
    }
    this.config = tokenizerConfig;
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
    this.templateFile = opts.chatTemplateFile ?? this.source;
    this.templateLimits = { ...DEFAULT_TEMPLATE_LIMITS, ...opts.templateLimits };
    // Most malformed-but-buildable files (a post-processor or pre-tokenizer of the wrong shape) fail on first
    // use; a probe makes them fail here, at load, where the message is expected.
    this.decode(this.encode('Hello, world! 123'));
  }

  encode(text: string): number[] {
    if (text.length === 0) return [];
    let ids: number[];
    try {
      ids = this.tok.encode(text, { add_special_tokens: false }).ids;
    } catch (e) {
      throw this.broken('encode', e);
    }
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new HaloError(
          'E_FORMAT',
          `${this.source}: tokenizer.json is broken: encode() gave token id ${preview(id)} outside [0, ${this.vocabSize}) (a model with no unk_token?)`,
        );
      }
    }
    return ids;
  }

  private broken(what: string, e: unknown): HaloError {
    return new HaloError(
      'E_FORMAT',
      `${this.source}: tokenizer.json is broken: ${what}() failed inside the tokenizer library (${(e as Error)?.message ?? String(e)})`,
      { cause: e },
    );
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.tok.id_to_token(id) === undefined) {
        throw new HaloError('E_ARG', `${this.source}: cannot decode token id ${id} (vocabulary has ${this.vocabSize} ids)`);
      }
    }
    try {
      return this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
    } catch (e) {
      throw this.broken('decode', e);
    }
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
        this.template = new ChatTemplate(this.chatTemplate);
      } catch (e) {
        throw new HaloError('E_FORMAT', `${this.source}: chat template does not parse (${(e as Error).message})`, { cause: e });
      }
    }
    try {
      return this.template.render(
        {
          ...opts.variables,
          messages: messages.map((m) => ({ ...m })),
          add_generation_prompt: opts.addGenerationPrompt ?? false,
          bos_token: this.bosToken ?? '',
          eos_token: this.eosToken ?? '',
          pad_token: this.padToken ?? '',
          unk_token: tokenText(this.config.unk_token) ?? '',
        },
        this.templateLimits,
      );
    } catch (e) {
      if (e instanceof TemplateLimitError) throw new HaloError('E_FORMAT', `${this.templateFile}: chat template stopped: it ${e.message}`, { cause: e });
      throw new HaloError('E_ARG', `${this.source}: chat template failed: ${(e as Error).message}`, { cause: e });
    }
  }
}

/** The largest vocabulary accepted (CONFIG_LIMITS.vocab_size in io/hf-config.ts; 30× any real model). */
export const MAX_VOCAB_SIZE = 1 << 22;

/** Real special tokens are under 100 characters; the library builds a trie node per character (~176 bytes each). */
export const MAX_ADDED_TOKEN_CHARS = 1024;

/**
 * Checks model.vocab values and added_tokens ids (integers in [0, MAX_VOCAB_SIZE)) and added-token
 * lengths; returns the largest id, so vocabSize follows from the file.
 */
function checkTokenIds(tj: Json, src: string): number {
  const limit = MAX_VOCAB_SIZE;
  const bad = (where: string, v: unknown) =>
    new HaloError('E_FORMAT', `${src}: tokenizer.json ${where} must be a token id (an integer in [0, ${limit})), got ${preview(v)}`);
  const okId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < limit;
  let maxId = -1;
  const vocab = (tj.model as Json).vocab;
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], …]; ids are positions.
    if (vocab.length > limit) throw new HaloError('E_FORMAT', `${src}: tokenizer.json model.vocab has ${vocab.length} entries (limit ${limit})`);
    maxId = vocab.length - 1;
  } else if (typeof vocab === 'object' && vocab !== null) {
    for (const [token, id] of Object.entries(vocab)) {
      if (!okId(id)) throw bad(`model.vocab[${preview(token, 40)}]`, id);
      if (id > maxId) maxId = id;
    }
  }
  (tj.added_tokens as unknown[]).forEach((t, i) => {
    if (typeof t !== 'object' || t === null) throw new HaloError('E_FORMAT', `${src}: tokenizer.json added_tokens[${i}] is not an object`);
    const { id, content } = t as Json;
    if (!okId(id)) throw bad(`added_tokens[${i}].id`, id);
    if (typeof content !== 'string')
      throw new HaloError('E_FORMAT', `${src}: tokenizer.json added_tokens[${i}].content must be a string, got ${preview(content)}`);
    if (content.length > MAX_ADDED_TOKEN_CHARS) {
      throw new HaloError(
        'E_FORMAT',
        `${src}: tokenizer.json added_tokens[${i}].content is ${content.length} characters long (limit ${MAX_ADDED_TOKEN_CHARS})`,
      );
    }
    if (id > maxId) maxId = id;
  });
  return maxId;
}
