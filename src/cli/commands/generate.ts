// `halo generate`: continue a prompt with a model folder and print the completion — a quick look at what a
// (fine-tuned) model says. --chat wraps the prompt in the model's chat template as one user turn with an open
// assistant turn (how the eval and the fine-tuning data see it); without it the prompt is plain text after BOS.
// The decoding is the API's generate() (src/api/generate.ts); this file maps the flags onto it.
import { HaloError } from '../../core/errors.ts';
import { generateSync } from '../../api/generate.ts';
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
    if (o.system !== undefined && !o.chat) throw new HaloError('E_ARG', '--system needs --chat (a system message only exists in a chat)');
    const r = generateSync({
      model: loadForInference(o.model as string, o),
      prompt: o.prompt as string,
      chat: o.chat === true,
      system: o.system as string | undefined,
      maxNewTokens: o['max-new-tokens'] as number,
      temperature: o.temperature as number,
      topP: o['top-p'] as number,
      topK: o['top-k'] as number,
      seed: o.seed as number,
    });
    process.stdout.write(r.text + '\n');
    const why = r.finish === 'stop' ? `stopped at ${r.stopToken}` : `reached --max-new-tokens ${o['max-new-tokens']}`;
    process.stderr.write(`${r.promptTokens} prompt tokens, ${r.ids.length} generated in ${r.seconds.toFixed(2)} s; ${why}\n`);
    return 0;
  },
};
