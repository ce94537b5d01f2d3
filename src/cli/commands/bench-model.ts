// `halo bench model`: a real-size training step. With --preset it first writes a random-initialised folder of
// that architecture (halo init) into a temporary folder, or it takes --model DIR; then one child process loads
// it as `halo finetune` would and runs warm-up + timed steps (src/bench/model-step.ts), reporting tokens/s,
// seconds per step, load time, peak RSS beside the memory plan's estimate, the first loss, and the optimizer's
// state bytes beside f32 AdamW's.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runModelStepInChild, type ModelStepResult } from '../../bench/model-step.ts';
import { HaloError } from '../../core/errors.ts';
import { describeConfig } from '../../halo/config.ts';
import { initModelFolder } from '../../models/init-folder.ts';
import { PRESET_NAMES } from '../../models/presets.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import { describePlan } from '../../train/memory-plan.ts';
import type { Command } from '../command.ts';
import { HALO_OPTIONS, haloConfigFromOptions } from '../halo-options.ts';
import { gradDtypeFrom, OPTIMIZER_OPTIONS, optimizerChoiceFrom } from '../optimizer-options.ts';
import { describeOptimizer } from '../../optim/optimizer.ts';

function positiveInt(v: unknown, flag: string): number {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw new HaloError('E_ARG', `--${flag} must be a positive integer, got ${v}`);
  return v;
}

export const benchModelCommand: Command = {
  name: 'bench model',
  summary: 'a training step at a real model size (a preset or a folder): tokens/s, s/step, peak RSS vs the memory plan',
  usage:
    'halo bench model (--preset NAME | --model DIR) [--mode full|lora] [--level halo2 --format int8] [--batch 1 --seq 512] [--steps 2] [--grad-checkpointing] [--optimizer adamw8bit] [--grad-dtype bf16] [--json]',
  options: [
    { name: 'preset', type: 'string', help: 'build a random-initialised folder of this architecture first (halo init)', choices: PRESET_NAMES },
    { name: 'model', type: 'string', help: 'or an existing Hugging Face folder' },
    { name: 'layers', type: 'int', help: "with --preset: decoder blocks (default: the preset's)" },
    { name: 'work-dir', type: 'string', help: 'with --preset: where the folder is written (default: a temporary folder, removed afterwards)' },
    { name: 'mode', type: 'string', help: 'full fine-tuning, or LoRA adapters on a frozen 8-bit base', default: 'full', choices: ['full', 'lora'] },
    { name: 'rank', type: 'int', help: 'LoRA rank', default: 16 },
    ...HALO_OPTIONS,
    { name: 'batch', type: 'int', help: 'sequences per step', default: 1 },
    { name: 'seq', type: 'int', help: 'tokens per sequence', default: 512 },
    { name: 'steps', type: 'int', help: 'timed steps (the median is reported)', default: 2 },
    { name: 'warmup', type: 'int', help: 'untimed steps first', default: 1 },
    { name: 'grad-checkpointing', type: 'boolean', help: 'recompute each decoder block in the backward pass' },
    ...OPTIMIZER_OPTIONS,
    { name: 'seed', type: 'int', help: 'weights and batch seed', default: 0 },
    { name: 'json', type: 'boolean', help: 'print one JSON object instead of text' },
  ],
  async run({ options: o }) {
    if ((o.preset === undefined) === (o.model === undefined)) throw new HaloError('E_ARG', 'give either --preset NAME or --model DIR');
    const halo = haloConfigFromOptions(o);
    const optimizer = optimizerChoiceFrom(o);
    const gradDtype = gradDtypeFrom(o);
    if (gradDtype === 'bf16' && o.mode === 'lora')
      throw new HaloError('E_UNSUPPORTED', '--grad-dtype bf16 applies to --mode full; LoRA trains small f32 adapters, drop --grad-dtype');
    let dir = o.model as string | undefined;
    let temp: string | null = null;
    let initSeconds: number | null = null;
    if (o.preset !== undefined) {
      const work = (o['work-dir'] as string | undefined) ?? (temp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-bench-model-')));
      dir = path.join(work, o.preset as string);
      process.stderr.write(`bench model: writing a random ${o.preset} folder to ${dir}\n`);
      const r = initModelFolder({ preset: o.preset as string, out: dir, layers: o.layers as number | undefined, seed: o.seed as number, overwrite: true });
      initSeconds = r.seconds;
    }
    try {
      const tok = loadTokenizer(dir!);
      const res = await runModelStepInChild({
        model: dir!,
        mode: o.mode as 'full' | 'lora',
        halo,
        backend: o.backend as 'native' | undefined,
        batch: positiveInt(o.batch, 'batch'),
        seq: positiveInt(o.seq, 'seq'),
        steps: positiveInt(o.steps, 'steps'),
        warmup: o.warmup as number,
        gradCheckpointing: o['grad-checkpointing'] === true,
        rank: positiveInt(o.rank, 'rank'),
        idLimit: tok.vocabSize,
        seed: o.seed as number,
        optimizer,
        gradDtype,
      });
      const out = {
        preset: (o.preset as string | undefined) ?? null,
        matmuls: describeConfig(halo),
        gradCheckpointing: o['grad-checkpointing'] === true,
        optimizer: describeOptimizer(optimizer),
        gradDtype,
        initSeconds,
        ...res,
      };
      if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
      else process.stdout.write(describeResult(out) + '\n');
    } finally {
      if (temp) fs.rmSync(temp, { recursive: true, force: true });
    }
    return 0;
  },
};

function describeResult(
  r: ModelStepResult & { preset: string | null; matmuls: string; gradCheckpointing: boolean; optimizer: string; gradDtype: string },
): string {
  const est = r.planMiB;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return [
    `${r.preset ?? r.model}, ${r.mode}${r.gradCheckpointing ? ', activation checkpointing' : ''}${r.gradDtype === 'bf16' ? ', bf16 gradients' : ''}, matmuls ${r.matmuls}: ${r.tokens} tokens per step`,
    `  load ${r.loadSeconds.toFixed(1)} s; step ${r.stepSeconds.toFixed(2)} s (median); ${r.tokensPerSecond.toFixed(1)} tokens/s; first loss ${r.loss.toFixed(4)}`,
    `  optimizer ${r.optimizer}: state ${mib(r.optimizerStateBytes)} (adamw's: ${mib(r.adamwStateBytes)}, ×${(r.optimizerStateBytes / r.adamwStateBytes).toFixed(3)})`,
    `  peak RSS ${r.peakRssMiB.toFixed(0)} MiB (after loading ${r.loadedRssMiB.toFixed(0)} MiB); plan ${est.toFixed(0)} MiB (${(((est - r.peakRssMiB) / r.peakRssMiB) * 100).toFixed(1)}% vs measured)`,
    describePlan(r.plan),
  ].join('\n');
}
