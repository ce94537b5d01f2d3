// `halo merge`: fold a PEFT adapter folder (LoRA or HUT) into its base model and write a full Hugging Face
// folder that transformers loads with no peft installed. --out is locked while it is written, and may not be or
// contain --model or --adapter; a merge with NaN/Inf in it (e.g. lora_alpha 1e308) is refused before any write.
import { backendNames, getBackend } from '../../backend/select.ts';
import { checkOutDir } from '../../io/out-dir.ts';
import { lockOutDir } from '../../io/out-lock.ts';
import { mergeAdapterFolder } from '../../peft/merge.ts';
import type { Command } from '../command.ts';

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'Merge a LoRA/HUT adapter folder into its base model and save a full Hugging Face folder',
  usage: 'halo merge --model DIR --adapter DIR --out DIR [--dtype f32]',
  options: [
    { name: 'model', type: 'string', help: 'base Hugging Face model folder', required: true },
    { name: 'adapter', type: 'string', help: 'adapter folder (adapter_config.json + adapter_model.safetensors)', required: true },
    { name: 'out', type: 'string', help: 'output folder for the merged model', required: true },
    { name: 'dtype', type: 'string', help: "storage dtype of the merged weights (default: the base checkpoint's)", choices: ['f32', 'bf16', 'f16'] },
    { name: 'backend', type: 'string', help: 'kernel backend for the adapter products', choices: backendNames() },
    {
      name: 'allow-nonfinite',
      type: 'boolean',
      help: 'load weights holding NaN/Inf and write a merge that has some (by default an error naming the tensor, nothing written)',
    },
  ],
  async run({ options: o }) {
    const out = o.out as string;
    checkOutDir(out, [
      { flag: '--model', dir: o.model as string },
      { flag: '--adapter', dir: o.adapter as string },
    ]);
    const lock = lockOutDir(out, 'merge', (line) => process.stderr.write(line + '\n'));
    let r: ReturnType<typeof mergeAdapterFolder>;
    try {
      r = mergeAdapterFolder({
        model: o.model as string,
        adapter: o.adapter as string,
        out,
        dtype: o.dtype as 'f32' | 'bf16' | 'f16' | undefined,
        backend: getBackend(o.backend as 'native' | 'reference' | undefined),
        allowNonfinite: o['allow-nonfinite'] === true,
      });
    } finally {
      lock.release();
    }
    process.stdout.write(
      `merged ${r.spec.method.toUpperCase()} (r ${r.spec.rank}, alpha ${r.spec.alpha}, ${r.spec.targetModules.join(',')}) into ${o.model}; ` +
        `wrote ${r.files.length} files (${r.dtype}) to ${o.out}\n`,
    );
    return 0;
  },
};
