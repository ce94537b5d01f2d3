// `halo experiment compare`: HALO against SwitchBack, Jetfire and BF16 (paper Table 3 / 6) — the same model
// fine-tuned from the same start with each method, once per seed, on each task, and eval loss and exact
// match reported as mean ± sample std per (task, method), with each method's eval loss against BF16's on the
// same seed. Each run is `experiment ablation`'s (src/analysis/ablation.ts); compare.md and compare.json are
// rewritten after every run, so a stopped comparison keeps what it finished. --speed adds the paper's Figure 4
// (`bench linear`'s INT8 speed-ups over BF16 at 4096² × 512·{4,8,16,32} tokens): a timing, so it belongs on a
// quiet machine, and it runs after all the fine-tuning, never beside it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pm, runOne, type RunResult, type RunSetup } from '../../analysis/ablation.ts';
import {
  COMPARE_RECIPES,
  compareRows,
  DEFAULT_COMPARE_METHODS,
  DEFAULT_COMPARE_TASKS,
  selectMethods,
  signedPct,
  type CompareRow,
} from '../../analysis/compare.ts';
import { loadTaskData, TASK_NAMES, TASKS, type TaskName } from '../../analysis/tasks.ts';
import { backendNames, getBackend } from '../../backend/select.ts';
import type { LinearBenchRow } from '../../bench/linear.ts';
import { runLinearBenchShapes, speedupTable } from '../../bench/linear-speedup.ts';
import { HaloError } from '../../core/errors.ts';
import { loadModelFolder } from '../../io/hf-folder.ts';
import { markdownTable } from '../../report/markdown.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import { AT_LEAST_1, checkRanges, NON_NEGATIVE, POSITIVE, positiveIntList } from '../checks.ts';
import type { Command } from '../command.ts';
import { MAX_LINE_BYTES_OPTION, maxLineBytesFrom } from '../halo-options.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const recipeHelp = (k: 'steps' | 'lr' | 'evalLossLimit' | 'evalLimit' | 'maxNewTokens') => TASK_NAMES.map((t) => `${t} ${COMPARE_RECIPES[t][k]}`).join(', ');

export const experimentCompareCommand: Command = {
  name: 'experiment compare',
  summary: 'Fine-tune with BF16, SwitchBack, Jetfire and HALO (INT8 HALO-2, FP6 HALO-1, FP8 HALO-0) over seeds; mean ± std table (paper Table 3/6)',
  usage: 'halo experiment compare [--model DIR] [--tasks sql,arith] [--methods a,b] [--seeds N] [--steps N] [--speed] [--json] --out DIR',
  options: [
    { name: 'model', type: 'string', help: 'model folder', default: path.join(ROOT, 'models/halo-tiny') },
    {
      name: 'tasks',
      type: 'string',
      help: `comma-separated tasks, each with its shipped data and exact-match scorer: ${TASK_NAMES.map((t) => `${t} = ${TASKS[t].description}`).join('; ')}`,
      default: DEFAULT_COMPARE_TASKS.join(','),
    },
    {
      name: 'methods',
      type: 'string',
      help: 'comma-separated methods: fp32, bf16 or LEVEL-FORMAT (LEVEL halo0|halo1|halo2|switchback|jetfire, FORMAT int8|fp8|fp8e5m2|fp6)',
      default: DEFAULT_COMPARE_METHODS.join(','),
    },
    { name: 'seeds', type: 'int', help: 'runs per task × method (seeds 0..N-1 set the data order)', default: 3 },
    { name: 'steps', type: 'int', help: `optimizer steps per run, for every task (default per task: ${recipeHelp('steps')})` },
    { name: 'lr', type: 'number', help: `peak learning rate, linear schedule with 10% warmup (default per task: ${recipeHelp('lr')})` },
    { name: 'batch-size', type: 'int', help: 'sequences per optimizer step', default: 8 },
    { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 256 },
    MAX_LINE_BYTES_OPTION,
    {
      name: 'eval-loss-limit',
      type: 'int',
      help: `held-out examples for the eval loss, the first N; 0 = all (default per task: ${recipeHelp('evalLossLimit')})`,
    },
    { name: 'eval-limit', type: 'int', help: `held-out examples for exact match, the first N; 0 = all (default per task: ${recipeHelp('evalLimit')})` },
    { name: 'max-new-tokens', type: 'int', help: `generation budget per answer (default per task: ${recipeHelp('maxNewTokens')})` },
    {
      name: 'speed',
      type: 'boolean',
      help: 'after the fine-tuning, time the linear layer (bench linear) for BF16 and each INT8 method: fwd+bwd speed-up over BF16. Timing: run it on a quiet machine',
    },
    { name: 'speed-features', type: 'int', help: 'in = out features of the timed linear layer', default: 4096 },
    {
      name: 'speed-tokens',
      type: 'string',
      help: 'comma-separated token counts of the timed linear layer (sequence 512 × batch 4, 8, 16, 32)',
      default: '2048,4096,8192,16384',
    },
    { name: 'speed-reps', type: 'int', help: 'timed repetitions per configuration and token count (the fastest counts), after one untimed', default: 3 },
    { name: 'out', type: 'string', help: 'output folder (compare.md, compare.json, one sub-folder per run with metrics.jsonl)', required: true },
    { name: 'json', type: 'boolean', help: "print compare.json's content instead of the markdown table" },
    { name: 'backend', type: 'string', help: 'kernel backend', choices: backendNames() },
  ],
  async run({ options: o }) {
    checkRanges(o, {
      seeds: AT_LEAST_1,
      steps: AT_LEAST_1,
      lr: POSITIVE,
      'batch-size': AT_LEAST_1,
      'max-seq-len': AT_LEAST_1,
      'max-line-bytes': AT_LEAST_1,
      'eval-loss-limit': NON_NEGATIVE,
      'eval-limit': NON_NEGATIVE,
      'max-new-tokens': AT_LEAST_1,
      'speed-features': AT_LEAST_1,
      'speed-reps': AT_LEAST_1,
    });
    const tasks = parseTasks(o.tasks as string);
    const methods = selectMethods(o.methods as string);
    const speed = o.speed === true;
    const speedTokens = positiveIntList(o['speed-tokens'] as string, 'speed-tokens');
    const int8Levels = [...new Set(methods.filter((m) => m.halo.format === 'int8').map((m) => m.halo.level))];
    if (speed && int8Levels.length === 0)
      throw new HaloError('E_ARG', `--speed times the INT8 methods against BF16, and --methods names none (${methods.map((m) => m.id).join(', ')})`);
    const seeds = o.seeds as number;
    const modelDir = o.model as string;
    if (!fs.existsSync(path.join(modelDir, 'config.json'))) throw new HaloError('E_IO', `no model at ${modelDir} (config.json missing)`);
    for (const t of tasks) {
      for (const f of [TASKS[t].train, TASKS[t].eval])
        if (!fs.existsSync(path.join(ROOT, f))) throw new HaloError('E_IO', `task ${t}: ${f} is missing (data/ ships in a clone of the repository)`);
    }
    const outDir = o.out as string;
    fs.mkdirSync(outDir, { recursive: true });

    const log = (s: string) => process.stderr.write(s + '\n');
    const tok = loadTokenizer(modelDir);
    const source = loadModelFolder(modelDir, { dtype: 'f32' });
    const be = getBackend(o.backend as 'native' | undefined);
    const batchSize = o['batch-size'] as number;
    const setups = tasks.map((task) => {
      const recipe = COMPARE_RECIPES[task];
      const pick = (flag: string, dflt: number) => (o[flag] as number | undefined) ?? dflt;
      const data = loadTaskData(tok, {
        trainSpec: path.join(ROOT, TASKS[task].train),
        evalSpec: path.join(ROOT, TASKS[task].eval),
        scoring: TASKS[task].scoring,
        maxSeqLen: o['max-seq-len'] as number,
        maxLineBytes: maxLineBytesFrom(o),
        maxExamples: 0,
        evalLossLimit: pick('eval-loss-limit', recipe.evalLossLimit),
        evalLimit: pick('eval-limit', recipe.evalLimit),
      });
      const setup: RunSetup = {
        source,
        tok,
        be,
        ...data,
        padId: tok.padId ?? tok.eosId ?? 0,
        batchSize,
        peft: null,
        steps: pick('steps', recipe.steps),
        lr: pick('lr', recipe.lr),
        maxNewTokens: pick('max-new-tokens', recipe.maxNewTokens),
      };
      log(
        `task ${task}: ${setup.steps} steps × ${batchSize} sequences at lr ${setup.lr} from ${data.trainSet.length} examples; ` +
          `eval loss on ${data.evalSet.length}, exact match (${data.scorers[0]!.name}) on ${data.evalItems.length}`,
      );
      return { task, setup };
    });
    log(
      `compare on ${modelDir}: ${tasks.length} task(s) × ${methods.length} methods (${methods.map((m) => m.label).join(', ')}) × ${seeds} seed(s); backend ${be.name}`,
    );

    const runs: (RunResult & { task: TaskName })[] = [];
    let speedRows: LinearBenchRow[] | null = null;
    const started = performance.now();
    const settings = {
      model: modelDir,
      tasks,
      methods: methods.map((m) => m.id),
      seeds,
      batchSize,
      maxSeqLen: o['max-seq-len'],
      backend: be.name,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      perTask: Object.fromEntries(
        setups.map(({ task, setup: s }) => [
          task,
          {
            steps: s.steps,
            lr: s.lr,
            trainExamples: s.trainSet.length,
            evalLossExamples: s.evalSet.length,
            exactMatchExamples: s.evalItems.length,
            maxNewTokens: s.maxNewTokens,
          },
        ]),
      ),
    };
    const write = (): { md: string; json: string } => {
      const rows = setups.flatMap(({ task, setup: s }) =>
        compareRows(
          task,
          runs.filter((r) => r.task === task),
          methods,
          s.scorers[0]!.name,
        ),
      );
      const speedTable = speedRows ? speedupTable(speedRows) : null;
      const totalSeconds = (performance.now() - started) / 1000;
      const json =
        JSON.stringify(
          { settings, totalSeconds, rows, runs, speed: speedRows && { features: o['speed-features'], tokens: speedTokens, rows: speedRows } },
          null,
          1,
        ) + '\n';
      const md = renderMarkdown(rows, speedTable);
      fs.writeFileSync(path.join(outDir, 'compare.json'), json);
      fs.writeFileSync(path.join(outDir, 'compare.md'), md + '\n');
      return { md, json };
    };
    for (const { task, setup } of setups) {
      for (const m of methods) {
        for (let seed = 0; seed < seeds; seed++) {
          const r = runOne(setup, m, seed, path.join(outDir, task, `${m.id}-seed${seed}`));
          runs.push({ ...r, task });
          const em = setup.scorers[0]!.name;
          log(
            `${task} ${m.label} seed ${seed}: eval loss ${r.evalLoss.toFixed(4)}, ${em} ${(r.accuracy[em]! * 100).toFixed(1)}%, ` +
              `train ${r.trainSeconds.toFixed(0)} s, eval ${r.evalSeconds.toFixed(0)} s (${((performance.now() - started) / 60000).toFixed(1)} min in all)`,
          );
          write();
        }
      }
    }
    if (speed) {
      const features = o['speed-features'] as number;
      log(
        `speed: linear ${features}×${features}, ${speedTokens.join(', ')} tokens; BF16 and INT8 ${int8Levels.join(', ')}; ${o['speed-reps']} timed reps each`,
      );
      speedRows = runLinearBenchShapes(
        be,
        {
          inFeatures: features,
          outFeatures: features,
          tokens: speedTokens,
          levels: ['none', ...int8Levels],
          formats: ['int8'],
          reps: o['speed-reps'] as number,
          warmup: 1,
          seed: 1234,
          errors: false,
        },
        (r) => log(`  ${r.tokens} tokens ${r.level} ${r.format}: ${r.totalMs.toFixed(1)} ms`),
      );
    }
    const out = write();
    process.stdout.write(o.json === true ? out.json : out.md + '\n');
    log(`wrote ${path.join(outDir, 'compare.md')} and compare.json (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
    return 0;
  },
};

function parseTasks(list: string): TaskName[] {
  const ids = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new HaloError('E_ARG', '--tasks names no task');
  for (const t of ids)
    if (!(TASK_NAMES as readonly string[]).includes(t)) throw new HaloError('E_ARG', `unknown --tasks entry '${t}'; use some of ${TASK_NAMES.join(', ')}`);
  const dup = ids.find((t, i) => ids.indexOf(t) !== i);
  if (dup) throw new HaloError('E_ARG', `--tasks names '${dup}' twice`);
  return ids as TaskName[];
}

function renderMarkdown(rows: readonly CompareRow[], speed: ReturnType<typeof speedupTable>): string {
  const table = markdownTable(
    ['task', 'method', 'seeds', 'eval loss', 'vs BF16, same seed', 'exact match %', 'train s'],
    rows.map((r) => [r.task, r.label, String(r.seeds), pm(r.evalLoss, 4), signedPct(r.vsBf16), pm(r.exactMatch, 1), r.trainSeconds.toFixed(0)]),
  );
  const scorers = [...new Map(rows.map((r) => [r.task, r.exactMatchScorer])).entries()].map(([t, s]) => `${s} for ${t}`).join(', ');
  const parts = [table, '', `mean ± sample std over seeds; exact match: ${scorers} (HALO's rules).`];
  if (speed) parts.push('', markdownTable(speed.header, speed.body), '', "fwd+bwd time of the BF16 linear ÷ the method's, same run and shape.");
  return parts.join('\n');
}
