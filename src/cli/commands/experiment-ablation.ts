// `halo experiment ablation`: the paper's Table 6 at a budget a laptop can run. Fine-tunes the same model
// from the same start with FP32, BF16 and every HALO level × format (INT8, FP8, FP6), once per seed (the seed
// sets the data order), and writes eval loss and exact match (mean ± std over seeds), wall time and tokens/s
// per configuration as ablation.md and ablation.json (rewritten after every run, so a stopped
// experiment keeps what it finished). --peft lora|hut does the same with adapters on a frozen base (Table 4).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aggregate, PEFT_DEFAULT_CONFIGS, pm, runOne, selectConfigs, type RunResult, type RunSetup } from '../../analysis/ablation.ts';
import { loadTaskData, TASK_NAMES, TASKS, type TaskName } from '../../analysis/tasks.ts';
import { backendNames, getBackend } from '../../backend/select.ts';
import { HaloError } from '../../core/errors.ts';
import { loadModelFolder } from '../../io/hf-folder.ts';
import { PEFT_METHODS, type PeftMethod } from '../../peft/build.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import type { Command } from '../command.ts';
import { MAX_LINE_BYTES_OPTION, maxLineBytesFrom } from '../halo-options.ts';
import { markdownTable } from '../../report/markdown.ts';
import { formatTable } from '../table.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const experimentAblationCommand: Command = {
  name: 'experiment ablation',
  summary: 'Fine-tune with FP32, BF16 and every HALO level × format; eval loss / exact match table (paper Table 6)',
  usage: 'halo experiment ablation [--model DIR] [--task sql|gsm8k|arith] [--seeds N] [--steps N] [--configs a,b] --out DIR',
  options: [
    { name: 'model', type: 'string', help: 'model folder', default: path.join(ROOT, 'models/halo-tiny') },
    { name: 'task', type: 'string', help: 'task: its shipped train/eval data and exact-match scorer', default: 'sql', choices: TASK_NAMES },
    { name: 'train-data', type: 'string', help: "training JSONL, FILE[:FROM:TO]; several: comma-separated (default: the task's shipped split)" },
    { name: 'eval-data', type: 'string', help: "held-out JSONL, FILE[:FROM:TO]; several: comma-separated (default: the task's shipped split)" },
    { name: 'seeds', type: 'int', help: 'runs per configuration (seeds 0..N-1 set the data order)', default: 1 },
    { name: 'steps', type: 'int', help: 'optimizer steps per run', default: 40 },
    { name: 'max-examples', type: 'int', help: 'use only the first N training examples (0 = all)', default: 0 },
    { name: 'batch-size', type: 'int', help: 'sequences per optimizer step', default: 8 },
    { name: 'lr', type: 'number', help: 'peak learning rate (linear schedule, 10% warmup)', default: 1e-3 },
    { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 256 },
    MAX_LINE_BYTES_OPTION,
    { name: 'eval-loss-limit', aliases: ['eval-examples'], type: 'int', help: 'held-out examples for the eval loss (the first N; 0 = all)', default: 100 },
    { name: 'eval-limit', type: 'int', help: 'held-out examples for exact match (the first N; 0 = all)', default: 40 },
    { name: 'max-new-tokens', type: 'int', help: 'generation budget per answer', default: 48 },
    {
      name: 'configs',
      type: 'string',
      help: `comma-separated configuration ids (default: fp32,bf16 and halo0|1|2 × int8|fp8|fp6; with --peft: ${PEFT_DEFAULT_CONFIGS.join(',')})`,
    },
    {
      name: 'peft',
      type: 'string',
      help: 'train adapters (r 16, alpha 8, all projections) on a frozen base in each configuration instead of every weight (paper Table 4)',
      choices: PEFT_METHODS,
    },
    { name: 'out', type: 'string', help: 'output folder (ablation.md, ablation.json, one sub-folder per run with metrics.jsonl)', required: true },
    { name: 'backend', type: 'string', help: 'kernel backend', choices: backendNames() },
  ],
  async run({ options: o }) {
    const peft = (o.peft as PeftMethod | undefined) ?? null;
    const configs = selectConfigs(o.configs as string | undefined, peft);
    const seeds = o.seeds as number;
    if (seeds < 1) throw new HaloError('E_ARG', `--seeds must be ≥ 1, got ${seeds}`);
    const steps = o.steps as number;
    if (steps < 1) throw new HaloError('E_ARG', `--steps must be ≥ 1, got ${steps}`);
    const task = o.task as TaskName;
    const modelDir = o.model as string;
    if (!fs.existsSync(path.join(modelDir, 'config.json'))) throw new HaloError('E_IO', `no model at ${modelDir} (config.json missing)`);
    const outDir = o.out as string;
    fs.mkdirSync(outDir, { recursive: true });

    const tok = loadTokenizer(modelDir);
    const source = loadModelFolder(modelDir, { dtype: 'f32' });
    const trainSpec = (o['train-data'] as string | undefined) ?? path.join(ROOT, TASKS[task].train);
    const evalSpec = (o['eval-data'] as string | undefined) ?? path.join(ROOT, TASKS[task].eval);
    const { trainSet, evalSet, evalItems, scorers } = loadTaskData(tok, {
      trainSpec,
      evalSpec,
      scoring: TASKS[task].scoring,
      maxSeqLen: o['max-seq-len'] as number,
      maxLineBytes: maxLineBytesFrom(o),
      maxExamples: o['max-examples'] as number,
      evalLossLimit: o['eval-loss-limit'] as number,
      evalLimit: o['eval-limit'] as number,
    });
    const setup: RunSetup = {
      source,
      tok,
      be: getBackend(o.backend as 'native' | undefined),
      trainSet,
      evalSet,
      evalItems,
      scorers,
      padId: tok.padId ?? tok.eosId ?? 0,
      steps,
      batchSize: o['batch-size'] as number,
      lr: o.lr as number,
      maxNewTokens: o['max-new-tokens'] as number,
      peft,
    };
    const log = (s: string) => process.stderr.write(s + '\n');
    log(
      `ablation${peft ? ` (${peft.toUpperCase()} adapters on a frozen base)` : ''} on ${modelDir}, task ${task}: ${configs.length} configurations × ${seeds} seed(s), ${steps} steps × ${setup.batchSize} sequences ` +
        `from ${trainSet.length} examples; eval loss on ${evalSet.length}, exact match on ${evalItems.length}; backend ${setup.be.name}`,
    );

    const runs: RunResult[] = [];
    const started = performance.now();
    const write = () => {
      const rows = aggregate(runs, configs);
      const t = tables(
        rows,
        scorers.map((s) => s.name),
      );
      const settings = {
        model: modelDir,
        task,
        peft,
        train: trainSpec,
        eval: evalSpec,
        seeds,
        steps,
        batchSize: setup.batchSize,
        lr: setup.lr,
        maxSeqLen: o['max-seq-len'],
        trainExamples: trainSet.length,
        evalLossExamples: evalSet.length,
        exactMatchExamples: evalItems.length,
        maxNewTokens: setup.maxNewTokens,
        backend: setup.be.name,
      };
      fs.writeFileSync(
        path.join(outDir, 'ablation.json'),
        JSON.stringify({ settings, totalSeconds: (performance.now() - started) / 1000, rows, runs }, null, 1) + '\n',
      );
      fs.writeFileSync(path.join(outDir, 'ablation.md'), t.md + '\n');
      return t.text;
    };
    for (const cfg of configs) {
      for (let seed = 0; seed < seeds; seed++) {
        const r = runOne(setup, cfg, seed, path.join(outDir, `${cfg.id}-seed${seed}`));
        runs.push(r);
        log(
          `${cfg.label} seed ${seed}: eval loss ${r.evalLoss.toFixed(4)}, ${scorers[0].name} ${(r.accuracy[scorers[0].name] * 100).toFixed(1)}%, ` +
            `train ${r.trainSeconds.toFixed(0)} s (${Math.round(r.tokensPerSecond)} tok/s), eval ${r.evalSeconds.toFixed(0)} s`,
        );
        write();
      }
    }
    process.stdout.write(write() + '\n');
    log(`wrote ${path.join(outDir, 'ablation.md')} and ablation.json (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
    return 0;
  },
};

function tables(rows: ReturnType<typeof aggregate>, scorerNames: readonly string[]): { md: string; text: string } {
  const header = ['configuration', 'seeds', 'eval loss', ...scorerNames.map((n) => `${n} %`), 'train s', 'train tok/s'];
  const body = rows.map((r) => [
    r.label,
    String(r.seeds),
    pm(r.evalLoss, 4),
    ...scorerNames.map((n) => pm(r.accuracy[n], 1)),
    r.trainSeconds.toFixed(0),
    String(Math.round(r.tokensPerSecond)),
  ]);
  return { md: markdownTable(header, body), text: formatTable(header, body) };
}
