// Record → token ids + labels, with the loss mask. Labels follow the Hugging Face convention: aligned with
// ids (labels[t] = ids[t] where token t is trained, IGNORE_INDEX = -100 elsewhere), unshifted; the loss
// predicts labels[t+1] from position t (Batch.targets in batch.ts holds that shifted view).
//
// Chat records are rendered with the tokenizer's own chat template, but the loss mask does not depend on
// the template's details: the conversation is rendered prefix by prefix (messages[0..i], and for an assistant
// turn also messages[0..i-1] with the generation prompt), each rendering must extend the previous one, and
// the text each step adds is tokenized on its own. The assistant turn's own text — its content plus whatever
// the template closes it with (e.g. '<|eot_id|>') — is trained; headers and other turns are not (unless
// trainOnPrompt). This is what HALO's preprocessing.py does (prompt = template with generation prompt,
// response = the rest; llm-foundry then tokenizes the two separately), and it makes training see exactly the
// tokens that generation will see: encode(prompt with generation prompt) followed by the answer's tokens.
//
// With maxSeqLen, text past what can be kept is not tokenized: a segment is cut to a prefix before the
// tokenizer sees it (see encodeAtLeast), so a 50 MB line costs what its first few thousand characters cost.
import { HaloError } from '../core/errors.ts';
import type { ChatMessage, TextTokenizer } from '../tokenizer/types.ts';
import type { DataRecord } from './jsonl.ts';

export const IGNORE_INDEX = -100;

export interface Example {
  /** [T] token ids. */
  ids: Int32Array;
  /** [T] ids[t] where token t carries loss, IGNORE_INDEX elsewhere (aligned with ids, not shifted). */
  labels: Int32Array;
  /** True if the example was cut to maxSeqLen. */
  truncated: boolean;
  /** Source line of the record (for --debug-data and error messages), when known. */
  line?: number;
}

export interface EncodeOptions {
  /** Keep at most this many tokens (cut from the end). Default: no limit. */
  maxSeqLen?: number;
  /** Also train on prompt / user / system / template tokens. Default false. */
  trainOnPrompt?: boolean;
  /**
   * How {prompt, completion} (and GSM8K {question, answer}) records are laid out. 'chat' (default, as HALO):
   * user = prompt, assistant = completion, through the chat template. 'raw': [BOS] prompt completion [EOS], no
   * template (base models).
   */
  promptFormat?: 'chat' | 'raw';
  /** Put tokenizer.bosId first when the tokenizer has one and the sequence does not already start with it. Default true. */
  addBos?: boolean;
  /** Append tokenizer.eosId (trained) to text records and raw prompt/completion records. Default true. Chat turns end as the template ends them. */
  addEos?: boolean;
}

interface Segment {
  text: string;
  loss: boolean;
}

/** Encodes one record. */
export function encodeRecord(rec: DataRecord, tok: TextTokenizer, opts: EncodeOptions = {}): Example {
  const trainOnPrompt = opts.trainOnPrompt ?? false;
  const addEos = opts.addEos ?? true;
  let segments: Segment[];
  let eos = false;
  switch (rec.kind) {
    case 'chat':
      segments = chatSegments(rec.messages, tok, trainOnPrompt, rec.line);
      break;
    case 'prompt':
      if ((opts.promptFormat ?? 'chat') === 'chat') {
        segments = chatSegments(
          [
            { role: 'user', content: rec.prompt },
            { role: 'assistant', content: rec.completion },
          ],
          tok,
          trainOnPrompt,
          rec.line,
        );
      } else {
        segments = [
          { text: rec.prompt, loss: trainOnPrompt },
          { text: rec.completion, loss: true },
        ];
        eos = addEos;
      }
      break;
    case 'text':
      segments = [{ text: rec.text, loss: true }];
      eos = addEos;
      break;
  }
  const max = opts.maxSeqLen ?? Infinity;
  if (!(max >= 1)) throw new HaloError('E_ARG', `maxSeqLen must be at least 1, got ${max}`);
  // One token past max is enough to know the example is cut; BOS, when added, only adds to that.
  const want = max + 1;
  const ids: number[] = [];
  const labels: number[] = [];
  for (const seg of segments) {
    if (seg.text === '') continue;
    if (ids.length >= want) break;
    for (const id of encodeAtLeast(tok, seg.text, want - ids.length)) {
      ids.push(id);
      labels.push(seg.loss ? id : IGNORE_INDEX);
    }
  }
  if ((opts.addBos ?? true) && tok.bosId !== null && ids[0] !== tok.bosId) {
    ids.unshift(tok.bosId);
    labels.unshift(IGNORE_INDEX);
  }
  // BOS is never a target (also when a template renders it inside a trained span, or in a packed stream).
  if (tok.bosId !== null) for (let t = 0; t < ids.length; t++) if (ids[t] === tok.bosId) labels[t] = IGNORE_INDEX;
  if (eos && tok.eosId !== null) {
    ids.push(tok.eosId);
    labels.push(tok.eosId);
  }
  const truncated = ids.length > max;
  const n = truncated ? max : ids.length;
  return { ids: Int32Array.from(ids.slice(0, n)), labels: Int32Array.from(labels.slice(0, n)), truncated, line: rec.line };
}

/** Tokens in hand past the ones wanted before a cut text is trusted: what a cut can change is at its end. */
export const CUT_MARGIN_TOKENS = 64;
/** Characters per token tried first when cutting (English is about 4 with a byte-level BPE); ×4 on each retry. */
const CUT_CHARS_PER_TOKEN = 8;

/**
 * The tokens of `text`, or, when it is long, at least its first `need` tokens: the tokenizer is given a prefix of
 * the text, and the prefix is trusted only when it gave `need` + CUT_MARGIN_TOKENS tokens or more, so that the
 * first `need` are those of the whole text (a cut changes how the text next to it splits: the last word, a
 * special token cut in half, a run of digits — a few tokens, far fewer than 64; test/data/encode.test.ts checks
 * the result against cutting after tokenization). A prefix that gave
 * fewer (a tokenizer that drops characters, or tokens far longer than guessed) is grown 4× and tried again, up
 * to the whole text, which is then what it always was. So a text that fits (at most `need` tokens) is never cut
 * short: that would take a prefix with 64 tokens more than the whole text has.
 */
export function encodeAtLeast(tok: TextTokenizer, text: string, need: number): number[] {
  if (!Number.isFinite(need)) return tok.encode(text);
  for (let chars = (need + CUT_MARGIN_TOKENS) * CUT_CHARS_PER_TOKEN; chars < text.length; chars *= 4) {
    let cut = chars;
    const c = text.charCodeAt(cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut--; // not between the halves of a surrogate pair
    const ids = tok.encode(text.slice(0, cut));
    if (ids.length >= need + CUT_MARGIN_TOKENS) return ids.slice(0, need);
  }
  return tok.encode(text);
}

/**
 * The chat rendered as pieces with their loss flag. Every rendering must extend the previous one; a template
 * that rewrites earlier turns (e.g. one that drops reasoning from past assistant turns) is reported, not guessed at.
 */
export function chatSegments(messages: readonly ChatMessage[], tok: TextTokenizer, trainOnPrompt: boolean, line?: number): Segment[] {
  const where = line === undefined ? '' : ` (record at line ${line})`;
  const segments: Segment[] = [];
  let prev = '';
  const extend = (from: string, to: string, what: string): string => {
    if (!to.startsWith(from)) {
      throw new HaloError(
        'E_UNSUPPORTED',
        `chat template: ${what} does not extend the rendering of the earlier messages${where}, so the loss mask ` +
          `cannot be placed; use {"prompt","completion"} records with promptFormat 'raw', or a template that renders turns append-only`,
      );
    }
    return to.slice(from.length);
  };
  for (let i = 0; i < messages.length; i++) {
    const upTo = messages.slice(0, i + 1);
    if (messages[i]!.role === 'assistant') {
      const head = tok.applyChatTemplate(messages.slice(0, i), { addGenerationPrompt: true });
      segments.push({ text: extend(prev, head, `the generation prompt before messages[${i}]`), loss: trainOnPrompt });
      const cur = tok.applyChatTemplate(upTo);
      segments.push({ text: extend(head, cur, `messages[${i}] (assistant)`), loss: true });
      prev = cur;
    } else {
      const cur = tok.applyChatTemplate(upTo);
      segments.push({ text: extend(prev, cur, `messages[${i}] (${messages[i]!.role})`), loss: trainOnPrompt });
      prev = cur;
    }
  }
  return segments;
}

export interface EncodeStats {
  /** Records given. */
  records: number;
  /** Examples kept. */
  examples: number;
  /** Examples cut to maxSeqLen (kept or dropped). */
  truncated: number;
  /** Examples dropped because no token carried loss (e.g. the answer was cut off entirely). */
  droppedNoLoss: number;
  /** Tokens / predicted tokens (lossTokenCount) over the kept examples. */
  tokens: number;
  lossTokens: number;
  /** Longest kept example. */
  maxLen: number;
}

export interface EncodeManyOptions extends EncodeOptions {
  /** Drop examples with no loss token (they would only dilute a batch). Default true. */
  dropNoLoss?: boolean;
}

/** Encodes many records and counts truncations and drops. */
export function encodeRecords(records: readonly DataRecord[], tok: TextTokenizer, opts: EncodeManyOptions = {}): { examples: Example[]; stats: EncodeStats } {
  const dropNoLoss = opts.dropNoLoss ?? true;
  const stats: EncodeStats = { records: records.length, examples: 0, truncated: 0, droppedNoLoss: 0, tokens: 0, lossTokens: 0, maxLen: 0 };
  const examples: Example[] = [];
  for (const rec of records) {
    const ex = encodeRecord(rec, tok, opts);
    const loss = lossTokenCount(ex);
    if (ex.truncated) stats.truncated++;
    if (loss === 0 && dropNoLoss) {
      stats.droppedNoLoss++;
      continue;
    }
    examples.push(ex);
    stats.tokens += ex.ids.length;
    stats.lossTokens += loss;
    stats.maxLen = Math.max(stats.maxLen, ex.ids.length);
  }
  stats.examples = examples.length;
  return { examples, stats };
}

/**
 * Number of tokens the loss will predict: labels[t] !== IGNORE_INDEX for t ≥ 1 (labels[0] is never a target,
 * since nothing precedes it).
 */
export function lossTokenCount(ex: Example): number {
  let n = 0;
  for (let i = 1; i < ex.labels.length; i++) if (ex.labels[i] !== IGNORE_INDEX) n++;
  return n;
}
