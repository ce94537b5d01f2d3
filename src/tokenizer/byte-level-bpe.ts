// Byte-level BPE tokenizers in the tokenizer.json layout of Llama 3 (GPT-2 byte↔unicode alphabet, Llama 3's
// split regex, ByteLevel decoder, TemplateProcessing that prepends <|begin_of_text|>), plus the matching
// tokenizer_config.json (special tokens, chat template) and special_tokens_map.json. Given merges, this
// writes the files @huggingface/tokenizers and transformers load; train-bpe.ts learns the merges.
import { HaloError } from '../core/errors.ts';

export type ChatFormat = 'llama3' | 'chatml';

export const LLAMA3_SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'] as const;
export const CHATML_SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/**
 * The Llama 3 Instruct prompt format: BOS, then per message a role header, the trimmed content and <|eot_id|>;
 * the generation prompt is an open assistant header.
 */
export const LLAMA3_CHAT_TEMPLATE =
  '{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}' +
  '{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}';

/** The ChatML prompt format of Qwen2-Instruct, with its default system message when none is given. */
export const CHATML_CHAT_TEMPLATE =
  "{% if messages | length == 0 or messages[0].role != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}" +
  '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';

/** Llama 3's pre-tokenizer split pattern (tokenizer.json of Meta-Llama-3). */
export const LLAMA3_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/**
 * Words split: a word, a number (1–3 digits) or a run of punctuation is a pre-token, with the single space
 * after it; nothing attaches to the front. So "name" is spelled "name " in "(name VARCHAR", "SELECT name FROM"
 * and "WHERE name =", and a quoted value is spelled as in the sentence it came from. Copying a word from the
 * prompt is then (nearly always) an identity map on token ids. Llama 3's split gives a word its leading
 * space (" name" in "SELECT name"), but after " (" or " '" the punctuation takes the space and the word comes
 * bare ("name"), so the two spellings are unrelated ids whose link a model has to learn. About as many
 * tokens per byte as Llama 3's (halo-tiny's corpus, 8192 tokens: 4.62 vs 4.78 held-out bytes per token).
 * Valid in JavaScript (u flag) and in the Rust regex crate.
 */
export const WORDS_SPLIT_REGEX = '\\p{L}+ ?|\\p{N}{1,3} ?|[^\\s\\p{L}\\p{N}]+ ?|\\s+';

export type SplitName = 'llama3' | 'words';
export const SPLIT_REGEX: Record<SplitName, string> = { llama3: LLAMA3_SPLIT_REGEX, words: WORDS_SPLIT_REGEX };

/** GPT-2's reversible byte → printable unicode character map. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map: string[] = new Array(256);
  for (const b of bs) map[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
}

export interface TinyTokenizerFiles {
  /** tokenizer.json contents. */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json contents. */
  tokenizerConfig: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
  /** Ids of the special tokens by content. */
  ids: Record<string, number>;
  bosId: number | null;
  /** End-of-turn / end-of-text ids, as generation_config.eos_token_id. */
  eosIds: number[];
  vocabSize: number;
}

/** Tokenizer files for the given merges: 256 byte tokens, then the merges, then special tokens up to vocabSize. */
export function byteLevelBpeFiles(
  merges: readonly (readonly [string, string])[],
  vocabSize: number,
  chat: ChatFormat = 'llama3',
  split: SplitName = 'llama3',
): TinyTokenizerFiles {
  const specials: readonly string[] = chat === 'llama3' ? LLAMA3_SPECIALS : CHATML_SPECIALS;
  if (!Number.isInteger(vocabSize) || vocabSize < 256 + specials.length) {
    throw new HaloError('E_ARG', `a byte-level tokenizer needs vocab ≥ ${256 + specials.length}, got ${vocabSize}`);
  }
  const b2u = bytesToUnicode();
  const vocab: Record<string, number> = {};
  b2u.forEach((u, i) => (vocab[u] = i));
  for (const [a, b] of merges) vocab[a + b] ??= Object.keys(vocab).length;
  let next = Object.keys(vocab).length;
  const added: Record<string, unknown>[] = [];
  const ids: Record<string, number> = {};
  const addSpecial = (content: string) => {
    ids[content] = next;
    added.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  };
  specials.forEach(addSpecial);
  for (let r = 0; next < vocabSize; r++) addSpecial(`<|reserved_special_token_${r}|>`);
  const bos = chat === 'llama3' ? '<|begin_of_text|>' : null;
  const eos = chat === 'llama3' ? '<|eot_id|>' : '<|im_end|>';
  const post: Record<string, unknown>[] = [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }];
  if (bos) {
    post.push({
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [ids[bos]], tokens: [bos] } },
    });
  }
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: SPLIT_REGEX[split] }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'Sequence', processors: post },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      // "a b" strings (byte-level symbols never contain a space): read by every tokenizers version.
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const addedDecoder = Object.fromEntries(added.map(({ id, ...rest }) => [String(id), rest]));
  const tokenizerConfig: Record<string, unknown> = {
    added_tokens_decoder: addedDecoder,
    bos_token: bos,
    chat_template: chat === 'llama3' ? LLAMA3_CHAT_TEMPLATE : CHATML_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: eos,
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: 131072,
    pad_token: chat === 'chatml' ? '<|endoftext|>' : null,
    tokenizer_class: chat === 'llama3' ? 'PreTrainedTokenizerFast' : 'Qwen2Tokenizer',
  };
  const specialTokensMap: Record<string, unknown> = { eos_token: eos };
  if (bos) specialTokensMap.bos_token = bos;
  if (chat === 'chatml') specialTokensMap.pad_token = '<|endoftext|>';
  const eosIds = chat === 'llama3' ? [ids['<|end_of_text|>']!, ids['<|eot_id|>']!] : [ids['<|im_end|>']!, ids['<|endoftext|>']!];
  const files: TinyTokenizerFiles = {
    tokenizer,
    tokenizerConfig,
    specialTokensMap,
    ids,
    bosId: bos ? ids[bos]! : chat === 'chatml' ? ids['<|endoftext|>']! : null,
    eosIds,
    vocabSize,
  };
  return files;
}
