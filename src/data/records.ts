// Record helpers shared by training and evaluation: a record as chat messages, and a record split into
// "what the model is given" and "what it should answer" (the reference a scorer compares with).
import { HaloError } from '../core/errors.ts';
import type { ChatMessage } from '../tokenizer/types.ts';
import type { DataRecord } from './jsonl.ts';

/** A record's conversation. prompt → [user, assistant]; text → one assistant-less user turn is not meaningful, so E_FORMAT. */
export function recordMessages(rec: DataRecord): ChatMessage[] {
  switch (rec.kind) {
    case 'chat':
      return rec.messages;
    case 'prompt':
      return [
        { role: 'user', content: rec.prompt },
        { role: 'assistant', content: rec.completion },
      ];
    case 'text':
      throw new HaloError('E_FORMAT', `line ${rec.line}: a {"text"} record is not a conversation`);
  }
}

export interface EvalItem {
  /** The conversation up to (not including) the answer; render it with addGenerationPrompt. */
  messages: ChatMessage[];
  /** For {prompt, completion} / {question, answer} records: the raw prompt text (for promptFormat 'raw'); else null. */
  rawPrompt: string | null;
  /** The expected answer: the last assistant message / the completion. */
  reference: string;
  line: number;
}

/**
 * Splits a record for evaluation: the last message must be the assistant's answer (HALO's eval.py takes
 * messages[0] as the input and messages[1] as the label). Text records have no reference: E_FORMAT.
 */
export function toEvalItem(rec: DataRecord, source = 'data'): EvalItem {
  if (rec.kind === 'prompt') {
    return { messages: [{ role: 'user', content: rec.prompt }], rawPrompt: rec.prompt, reference: rec.completion, line: rec.line };
  }
  if (rec.kind === 'text') {
    throw new HaloError('E_FORMAT', `${source}:${rec.line}: {"text"} records have no reference answer; evaluation needs chat or prompt/completion records`);
  }
  const last = rec.messages[rec.messages.length - 1]!;
  if (last.role !== 'assistant' || rec.messages.length < 2) {
    throw new HaloError('E_FORMAT', `${source}:${rec.line}: for evaluation the last message must be the assistant's answer (got role '${last.role}')`);
  }
  return { messages: rec.messages.slice(0, -1), rawPrompt: null, reference: last.content, line: rec.line };
}
