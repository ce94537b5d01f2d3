// `halo bench linear`: accuracy (relative error vs f64) and speed of the HALO linear for every level × format,
// the SwitchBack and Jetfire baselines (spec §10) among the levels. --tokens takes a list, so the paper's
// Figure 4 (4096², 512 × {4, 8, 16, 32} tokens, INT8 speed-up over BF16 per method) is one command; with a
// BF16 row in the run the table is followed by a method × token-count table of those speed-ups.
import { backendNames, getBackend } from '../../backend/select.ts';
import type { LinearBenchRow } from '../../bench/linear.ts';
import { runLinearBenchShapes, speedupTable } from '../../bench/linear-speedup.ts';
import { FORMATS, LEVELS, type Format, type Level } from '../../halo/config.ts';
import { HaloError } from '../../core/errors.ts';
import { positiveIntList } from '../checks.ts';
import type { Command } from '../command.ts';
import { formatTable } from '../table.ts';

const QUICK = { in: 1024, out: 1024, tokens: 256 };

export const benchLinearCommand: Command = {
  name: 'bench linear',
  summary: 'HALO linear layer and the SwitchBack/Jetfire baselines: error vs f64 and fwd/bwd time per level × format (outlier inputs)',
  usage: 'halo bench linear [--in-features N] [--out-features N] [--tokens N[,N…]] [--levels a,b] [--formats a,b] [--quick] [--json]',
  options: [
    { name: 'in-features', aliases: ['in'], type: 'int', help: 'input features', default: 4096 },
    // Not --out: everywhere else that names an output folder.
    { name: 'out-features', aliases: ['out'], type: 'int', help: 'output features', default: 4096 },
    {
      name: 'tokens',
      type: 'string',
      help: 'tokens (batch × sequence); a comma-separated list runs each in turn (e.g. 2048,4096,8192,16384: sequence 512 × batch 4, 8, 16, 32)',
      default: '512',
    },
    { name: 'quick', type: 'boolean', help: `small shapes (${QUICK.in}×${QUICK.out}, ${QUICK.tokens} tokens) for a fast check` },
    {
      name: 'levels',
      type: 'string',
      help: 'comma-separated levels (HALO levels and the baselines switchback, jetfire; none = the FP32 and BF16 rows the speed-ups divide)',
      default: LEVELS.join(','),
    },
    { name: 'formats', type: 'string', help: 'comma-separated formats', default: 'int8,fp8,fp6' },
    { name: 'reps', type: 'int', help: 'timed repetitions per configuration (the fastest is reported)', default: 1 },
    { name: 'warmup', type: 'int', help: 'untimed runs of each configuration first (primitive creation, page faults)', default: 1 },
    { name: 'no-errors', type: 'boolean', help: 'timing only: skip the f64 reference products (minutes at 4096² × 2048 tokens); errors print as -' },
    { name: 'seed', type: 'int', help: 'seed of the synthetic inputs', default: 1234 },
    { name: 'backend', type: 'string', help: 'kernel backend', choices: backendNames() },
    { name: 'json', type: 'boolean', help: 'print one JSON array instead of a table' },
  ],
  async run({ options }) {
    const quick = options.quick === true;
    const levels = parseList(options.levels as string, LEVELS, 'levels') as Level[];
    const formats = parseList(options.formats as string, FORMATS, 'formats') as Format[];
    const be = getBackend(options.backend as 'native' | 'reference' | undefined);
    const dims = {
      inFeatures: quick ? QUICK.in : (options['in-features'] as number),
      outFeatures: quick ? QUICK.out : (options['out-features'] as number),
    };
    for (const [k, v] of Object.entries(dims)) if (v <= 0) throw new HaloError('E_ARG', `--${k} must be positive, got ${v}`);
    const tokens = quick ? [QUICK.tokens] : positiveIntList(options.tokens as string, 'tokens');
    const json = options.json === true;
    if (!json) {
      process.stdout.write(
        `linear ${dims.outFeatures}×${dims.inFeatures}, ${tokens.join(', ')} tokens, backend ${be.name}; ` +
          `inputs: 4 channels of X and 4 token rows of E_Y scaled ×50; errors are ‖·−ref‖/‖ref‖ against f64\n`,
      );
    }
    if (!((options.reps as number) >= 1) || !((options.warmup as number) >= 0)) throw new HaloError('E_ARG', '--reps must be ≥ 1 and --warmup ≥ 0');
    const rows = runLinearBenchShapes(
      be,
      {
        ...dims,
        tokens,
        levels,
        formats,
        reps: options.reps as number,
        warmup: options.warmup as number,
        seed: options.seed as number,
        errors: options['no-errors'] !== true,
      },
      json ? undefined : (r) => process.stderr.write(`  done ${r.level} ${r.format}, ${r.tokens} tokens\n`),
    );
    if (json) {
      process.stdout.write(JSON.stringify(rows) + '\n');
      return 0;
    }
    process.stdout.write(renderTable(rows, tokens.length > 1) + '\n');
    const speedups = speedupTable(rows);
    if (speedups) process.stdout.write('\n' + formatTable(speedups.header, speedups.body) + '\n');
    return 0;
  },
};

function renderTable(rows: LinearBenchRow[], withTokens: boolean): string {
  const e = (v: number) => (Number.isNaN(v) ? '-' : v.toExponential(2));
  const x = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}×`);
  const pct = (part: number, r: LinearBenchRow) => `${part.toFixed(1)} (${((100 * part) / r.totalMs).toFixed(0)}%)`;
  // Several token counts: a leading tokens column says which run a row is from.
  const lead = (cells: string[], r?: LinearBenchRow) => (withTokens ? [r ? String(r.tokens) : 'tokens', ...cells] : cells);
  return formatTable(
    lead([
      'level',
      'format',
      'relErr Y',
      'relErr E_X',
      'relErr G',
      'fwd ms',
      'bwd ms',
      'vs FP32',
      'vs BF16',
      'GEMM ms',
      'GEMM TOPS',
      'Had+quant ms',
      'transpose ms',
    ]),
    rows.map((r) =>
      lead(
        [
          r.level,
          r.format,
          e(r.relErrY),
          e(r.relErrEX),
          e(r.relErrG),
          r.fwdMs.toFixed(1),
          r.bwdMs.toFixed(1),
          x(r.vsFp32),
          x(r.vsBf16),
          pct(r.gemmMs, r),
          Object.entries(r.gemmTops)
            .map(([d, t]) => `${d} ${t.toFixed(3)}`)
            .join(', '),
          pct(r.hadQuantMs, r),
          pct(r.transposeMs, r),
        ],
        r,
      ),
    ),
  );
}

function parseList(value: string, allowed: readonly string[], what: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const it of items) {
    if (!allowed.includes(it)) throw new HaloError('E_ARG', `unknown ${what} entry '${it}'; allowed: ${allowed.join(', ')}`);
  }
  return items;
}
