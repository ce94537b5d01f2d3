// A tiny TextTokenizer for tests: one token per Unicode code point (id = 16 + code point) plus Llama-3's
// special tokens (ids 0..5), and Llama-3-Instruct's chat template written as a plain function (content is
// trimmed, as the real template does). Tokenizing pieces separately equals tokenizing their concatenation,
// so tests can compare ids with encode(full rendering).
import type { ChatMessage, TextTokenizer } from '../../src/tokenizer/types.ts';

export const SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>', '<|pad|>'] as const;
const OFFSET = 16;

export interface FakeTokenizerOptions {
  /** The template starts with '<|begin_of_text|>' (Llama 3). Default true. */
  templateBos?: boolean;
  /** A template that is not append-only: the last message gets an extra marker. Default false. */
  brokenTemplate?: boolean;
  bos?: boolean;
}

export class FakeTokenizer implements TextTokenizer {
  readonly vocabSize = OFFSET + 0x110000;
  readonly bosId: number | null;
  readonly eosId = 1;
  readonly padId = 5;
  constructor(private readonly o: FakeTokenizerOptions = {}) {
    this.bosId = (o.bos ?? true) ? 0 : null;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    let i = 0;
    outer: while (i < text.length) {
      for (let s = 0; s < SPECIALS.length; s++) {
        if (text.startsWith(SPECIALS[s]!, i)) {
          ids.push(s);
          i += SPECIALS[s]!.length;
          continue outer;
        }
      }
      const cp = text.codePointAt(i)!;
      ids.push(OFFSET + cp);
      i += cp > 0xffff ? 2 : 1;
    }
    return ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    let s = '';
    for (const id of ids) {
      if (id < OFFSET) {
        if (!opts.skipSpecialTokens) s += SPECIALS[id] ?? `<unk${id}>`;
      } else s += String.fromCodePoint(id - OFFSET);
    }
    return s;
  }

  applyChatTemplate(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    let s = (this.o.templateBos ?? true) ? '<|begin_of_text|>' : '';
    for (const m of messages) s += `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content.trim()}<|eot_id|>`;
    if (opts.addGenerationPrompt) s += '<|start_header_id|>assistant<|end_header_id|>\n\n';
    if (this.o.brokenTemplate && messages.length > 0) s += `[${messages.length} messages]`;
    return s;
  }

  tokenId(token: string): number | null {
    const i = (SPECIALS as readonly string[]).indexOf(token);
    return i < 0 ? null : i;
  }
}
