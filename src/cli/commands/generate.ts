// `halo generate`: continue a prompt with a model folder and print the completion — a quick look at what a
// (fine-tuned) model says. --chat wraps the prompt in the model's chat template as one user turn with an open
// assistant turn (how the eval and the fine-tuning data see it); without it the prompt is plain text after BOS.
import { HaloError } from '../../core/errors.ts';
import { generate } from '../../eval/generate.ts';
import type { ChatMessage } from '../../tokenizer/types.ts';
import type { Command } from '../command.ts';
import { AT_LEAST_1, checkRanges, NON_NEGATIVE } from '../checks.ts';
import { INFERENCE_HALO_OPTIONS, loadForInference } from './eval.ts';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Generate a completion of a prompt with a model folder (greedy or sampled, KV-cached)',
  usage: 'halo generate --model DIR [--adapter DIR] --prompt TEXT [--chat] [--max-new-tokens 64] [--temperature 0] [--seed 0]',
  options: [
    { name: 'model', type: 'string', help: 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)', required: true },
    { name: 'prompt', type: 'string', help: 'the prompt text', required: true },
    { name: 'chat', type: 'boolean', help: 'render the prompt as a user turn with the chat template' },
    { name: 'system', type: 'string', help: 'with --chat: a system message before the user turn' },
    { name: 'max-new-tokens', type: 'int', help: 'tokens to generate at most', default: 64 },
    { name: 'temperature', type: 'number', help: 'sampling temperature (0 = greedy)', default: 0 },
    { name: 'top-p', type: 'number', help: 'nucleus sampling: keep the most likely tokens up to this probability mass', default: 1 },
    { name: 'top-k', type: 'int', help: 'keep only the k most likely tokens (0 = all)', default: 0 },
    { name: 'seed', type: 'int', help: 'seed for sampling', default: 0 },
    ...INFERENCE_HALO_OPTIONS,
  ],
  async run({ options: o }) {
    checkRanges(o, { 'max-new-tokens': AT_LEAST_1, temperature: NON_NEGATIVE, 'top-p': { above: 0, max: 1 }, 'top-k': { min: 0, note: '0 = all tokens' } });
    const modelDir = o.model as string;
    const text = o.prompt as string;
    if (o.system !== undefined && !o.chat) throw new HaloError('E_ARG', '--system needs --chat (a system message only exists in a chat)');
    const { model, tok, eosTokenIds } = loadForInference(modelDir, o);
    let ids: number[];
    if (o.chat) {
      const messages: ChatMessage[] = [...(o.system !== undefined ? [{ role: 'system', content: o.system as string }] : []), { role: 'user', content: text }];
      ids = tok.encode(tok.applyChatTemplate(messages, { addGenerationPrompt: true }));
    } else {
      ids = tok.encode(text);
    }
    // BOS first, as training encodes every sequence (a chat template usually writes it already).
    if (tok.bosId !== null && ids[0] !== tok.bosId) ids.unshift(tok.bosId);
    if (ids.length === 0) throw new HaloError('E_ARG', `--prompt is empty and ${modelDir}'s tokenizer has no BOS token to start from`);
    const t0 = performance.now();
    const r = generate(model, tok, ids, {
      maxNewTokens: o['max-new-tokens'] as number,
      temperature: o.temperature as number,
      topP: o['top-p'] as number,
      topK: o['top-k'] as number,
      seed: o.seed as number,
      stopIds: eosTokenIds,
    });
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(r.text + '\n');
    const why = r.finish === 'stop' ? `stopped at ${tok.decode([r.stopId!])}` : `reached --max-new-tokens ${o['max-new-tokens']}`;
    process.stderr.write(`${ids.length} prompt tokens, ${r.ids.length} generated in ${seconds.toFixed(2)} s; ${why}\n`);
    return 0;
  },
};
