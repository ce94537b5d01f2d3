// Plots the training loss of several runs together (one metrics.jsonl each) as one SVG, smoothed over a moving
// window so curves a few percent apart stay readable, and prints each run's mean loss over its last 10% of
// steps (and its last eval loss, where logged). docs/results.md §6's adamw vs adamw8bit pretraining plot.
//   node --import tsx scripts/loss-curves.ts --out FILE.svg --title T NAME=RUN_DIR [NAME=RUN_DIR …]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lineChartSvg, type Series } from '../src/report/svg-plot.ts';

function fail(msg: string): never {
  process.stderr.write(`loss-curves: ${msg}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.length === 0) {
  process.stdout.write('usage: node --import tsx scripts/loss-curves.ts --out FILE.svg [--title T] [--window 50] NAME=RUN_DIR …\n');
  process.exit(args.length === 0 ? 2 : 0);
}
let out = '';
let title = 'training loss';
let window = 50;
const runs: { name: string; dir: string }[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--out') out = args[++i] ?? fail('--out needs a file');
  else if (a === '--title') title = args[++i] ?? fail('--title needs a value');
  else if (a === '--window') window = Number(args[++i]);
  else if (/^[^=]+=.+$/.test(a)) runs.push({ name: a.slice(0, a.indexOf('=')), dir: a.slice(a.indexOf('=') + 1) });
  else fail(`unexpected argument '${a}'`);
}
if (!out || runs.length === 0) fail('need --out FILE.svg and at least one NAME=RUN_DIR');
if (!(Number.isInteger(window) && window >= 1)) fail('--window must be a positive integer');

const series: Series[] = [];
for (const r of runs) {
  const file = path.join(r.dir, 'metrics.jsonl');
  if (!fs.existsSync(file)) fail(`no metrics.jsonl in ${r.dir}`);
  const rows = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: number; loss: number; evalLoss?: number });
  const steps = rows.filter((x) => Number.isFinite(x.loss));
  const points: [number, number][] = [];
  let sum = 0;
  for (let i = 0; i < steps.length; i++) {
    sum += steps[i]!.loss;
    if (i >= window) sum -= steps[i - window]!.loss;
    if (i + 1 >= window) points.push([steps[i]!.step, sum / window]);
  }
  series.push({ name: r.name, points });
  const tail = steps.slice(Math.floor(steps.length * 0.9));
  const mean = tail.reduce((a, x) => a + x.loss, 0) / tail.length;
  const evalLoss = [...rows].reverse().find((x) => typeof x.evalLoss === 'number')?.evalLoss;
  process.stdout.write(
    `${r.name}: ${steps.length} steps, mean train loss over the last ${tail.length} ${mean.toFixed(4)}${evalLoss !== undefined ? `, eval loss ${evalLoss.toFixed(4)}` : ''}\n`,
  );
}
fs.writeFileSync(out, lineChartSvg(series, { title, xLabel: 'step', yLabel: `train loss (mean of ${window} steps)` }));
process.stdout.write(`wrote ${out}\n`);
