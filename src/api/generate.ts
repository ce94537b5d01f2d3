// generate(): continue a prompt with a model (KV-cached decoding, greedy or sampled). With chat the prompt is
// one user turn in the model's chat template with an open assistant turn (how the eval and the fine-tuning data
// see it); without it, plain text after BOS. `halo generate` prints what this returns.
import { HaloError } from '../core/errors.ts';
import { generate as decode } from '../eval/generate.ts';
import type { ChatMessage } from '../tokenizer/types.ts';
import { loadModelSync, type LoadedModel, type LoadModelOptions } from './load-model.ts';

export interface GenerateApiOptions extends LoadModelOptions {
  /** A model folder, or a model loadModel() returned (then the load options are not used). */
  model: string | LoadedModel;
  prompt: string;
  /** Render the prompt as a user turn with the chat template. */
  chat?: boolean;
  /** With chat: a system message before the user turn. */
  system?: string;
  /** Default 64. */
  maxNewTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
}

export interface Generation {
  /** The completion, special tokens skipped. */
  text: string;
  /** Its token ids, without the stop token. */
  ids: number[];
  promptTokens: number;
  /** 'stop': an end token was produced (stopToken); 'length': maxNewTokens reached. */
  finish: 'stop' | 'length';
  stopToken: string | null;
  seconds: number;
}

/** Generates a completion of `prompt`. */
export async function generate(o: GenerateApiOptions): Promise<Generation> {
  return generateSync(o);
}

/** generate, synchronously (`halo generate`). */
export function generateSync(o: GenerateApiOptions): Generation {
  if (o.system !== undefined && !o.chat) throw new HaloError('E_ARG', '--system needs --chat (a system message only exists in a chat)');
  const loaded = typeof o.model === 'string' ? loadModelSync(o.model, o) : o.model;
  const { model, tokenizer: tok, eosTokenIds } = loaded;
  let ids: number[];
  if (o.chat) {
    const messages: ChatMessage[] = [...(o.system !== undefined ? [{ role: 'system', content: o.system }] : []), { role: 'user', content: o.prompt }];
    ids = tok.encode(tok.applyChatTemplate(messages, { addGenerationPrompt: true }));
  } else {
    ids = tok.encode(o.prompt);
  }
  // BOS first, as training encodes every sequence (a chat template usually writes it already).
  if (tok.bosId !== null && ids[0] !== tok.bosId) ids.unshift(tok.bosId);
  if (ids.length === 0) throw new HaloError('E_ARG', `--prompt is empty and ${loaded.dir}'s tokenizer has no BOS token to start from`);
  const t0 = performance.now();
  const r = decode(model, tok, ids, {
    maxNewTokens: o.maxNewTokens ?? 64,
    temperature: o.temperature ?? 0,
    topP: o.topP ?? 1,
    topK: o.topK ?? 0,
    seed: o.seed ?? 0,
    stopIds: eosTokenIds,
  });
  const seconds = (performance.now() - t0) / 1000;
  return { text: r.text, ids: r.ids, promptTokens: ids.length, finish: r.finish, stopToken: r.stopId === null ? null : tok.decode([r.stopId]), seconds };
}
