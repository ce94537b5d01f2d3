// What the rest of halo needs from a tokenizer. The implementation (src/tokenizer/hf.ts) wraps a Hugging Face
// tokenizer.json (+ the chat template in tokenizer_config.json); data/ and eval/ only see this interface.
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

export interface TextTokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  /** Token ids of plain text, without special tokens added. */
  encode(text: string): number[];
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** Renders messages with the model's chat template to a string (addGenerationPrompt: append the assistant header). */
  applyChatTemplate(messages: readonly ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
  /** Id of a special token such as '<|eot_id|>', or null. */
  tokenId(token: string): number | null;
}
