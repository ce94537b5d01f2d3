// `halo analyze gradients`: the paper's Figure 2 for any model — per-layer cosine similarity of one step's
// weight gradients to FP32's under each quantization setting (backward only, forward only, forward with the
// right Hadamard, BF16, HALO-0/1/2 × INT8/FP8/FP6), same weights and batch for all. Writes gradients.json,
// gradients.md and gradients.svg.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gradientSettings, layerSimilarities, meanCosine, projectionGradients, type LayerSimilarity } from '../../analysis/gradients.ts';
import { batchAtStep, loadAnalysisInputs, weightsAfterSteps } from '../../analysis/setup.ts';
import { backendNames, getBackend } from '../../backend/select.ts';
import { HaloError } from '../../core/errors.ts';
import { FORMATS, haloConfig, type Format } from '../../halo/config.ts';
import { gridSvg } from '../../report/svg-grid.ts';
import { lineChartSvg } from '../../report/svg-plot.ts';
import type { Command } from '../command.ts';
import { splitSpec } from '../halo-options.ts';
import { markdownTable } from '../../report/markdown.ts';
import { formatTable } from '../table.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const analyzeGradientsCommand: Command = {
  name: 'analyze gradients',
  summary: 'Per-layer cosine similarity of weight gradients to FP32 for each quantization setting (paper Fig. 2)',
  usage: 'halo analyze gradients [--model DIR] [--data FILE] [--step S] [--settings a,b] --out DIR',
  options: [
    { name: 'model', type: 'string', help: 'model folder', default: path.join(ROOT, 'models/halo-tiny') },
    {
      name: 'data',
      type: 'string',
      help: 'JSONL the batch comes from; FILE[:FROM:TO] takes rows FROM..TO-1',
      default: path.join(ROOT, 'data/sql/train.jsonl'),
    },
    { name: 'step', type: 'int', help: 'FP32 fine-tuning steps before the gradients are taken (0 = the first step)', default: 0 },
    { name: 'batch-size', type: 'int', help: 'sequences in the batch', default: 8 },
    { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 256 },
    { name: 'lr', type: 'number', help: 'learning rate of the warm-up steps', default: 1e-3 },
    { name: 'seed', type: 'int', help: 'shuffle seed (which batch)', default: 42 },
    {
      name: 'format',
      type: 'string',
      help: 'format of the backward-only / forward-only / forward+Hadamard settings',
      default: 'int8',
      choices: FORMATS.filter((f) => f !== 'fp32' && f !== 'bf16'),
    },
    { name: 'settings', type: 'string', help: 'comma-separated setting ids (default: all; see gradients.json for the ids)' },
    { name: 'out', type: 'string', help: 'output folder (gradients.json, gradients.md, gradients.svg)', required: true },
    { name: 'backend', type: 'string', help: 'kernel backend', choices: backendNames() },
  ],
  async run({ options: o }) {
    const outDir = o.out as string;
    fs.mkdirSync(outDir, { recursive: true });
    let settings = gradientSettings(o.format as Format);
    if (o.settings) {
      const want = (o.settings as string)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = want.filter((w) => !settings.some((s) => s.id === w));
      if (bad.length) throw new HaloError('E_ARG', `unknown --settings entry '${bad[0]}'; use some of ${settings.map((s) => s.id).join(', ')}`);
      settings = settings.filter((s) => want.includes(s.id));
    }
    const be = getBackend(o.backend as 'native' | undefined);
    const inputs = loadAnalysisInputs(o.model as string, splitSpec(o.data as string), o['max-seq-len'] as number);
    const seed = o.seed as number;
    const step = o.step as number;
    const batchSize = o['batch-size'] as number;
    const weights = weightsAfterSteps(inputs, be, { steps: step, batchSize, lr: o.lr as number, seed, workDir: path.join(outDir, 'warmup') });
    const batch = batchAtStep(inputs.examples, batchSize, inputs.padId, seed, step);
    const L = inputs.source.config.num_hidden_layers;
    const log = (s: string) => process.stderr.write(s + '\n');

    log(`FP32 reference gradients (${batch.lossTokens} loss tokens, ${L} layers) …`);
    const ref = projectionGradients(inputs.source.config, weights, be, haloConfig({ level: 'none', format: 'fp32' }), batch);
    // FP32 again: the check that the comparison itself is exact (deterministic kernels give cosine 1).
    const again = layerSimilarities(ref, projectionGradients(inputs.source.config, weights, be, haloConfig({ level: 'none', format: 'fp32' }), batch), L);
    const results: { id: string; label: string; group: string; mean: number; layers: LayerSimilarity[] }[] = [];
    for (const s of settings) {
      log(`${s.label} …`);
      const layers = layerSimilarities(ref, projectionGradients(inputs.source.config, weights, be, s.halo, batch), L);
      results.push({ id: s.id, label: s.label, group: s.group, mean: meanCosine(layers), layers });
    }

    const header = ['setting', 'mean', ...Array.from({ length: L }, (_, l) => `L${l}`)];
    const rows = [
      ['FP32 (rerun)', meanCosine(again).toFixed(4), ...again.map((l) => l.cosine.toFixed(4))],
      ...results.map((r) => [r.label, r.mean.toFixed(4), ...r.layers.map((l) => l.cosine.toFixed(4))]),
    ];
    const table = formatTable(header, rows);
    process.stdout.write(`cosine similarity of weight gradients to FP32, per layer (parameter-weighted over q,k,v,o,gate,up,down)\n${table}\n`);
    const verdict = orderingVerdict(results);
    if (verdict) process.stdout.write(verdict + '\n');

    fs.writeFileSync(
      path.join(outDir, 'gradients.json'),
      JSON.stringify(
        {
          model: o.model,
          data: o.data,
          step,
          batchSize,
          seed,
          lossTokens: batch.lossTokens,
          layers: L,
          fp32Rerun: { mean: meanCosine(again), layers: again },
          settings: results,
          verdict,
        },
        null,
        1,
      ) + '\n',
    );
    const md = markdownTable(header, rows);
    fs.writeFileSync(path.join(outDir, 'gradients.md'), md + '\n' + (verdict ? `\n${verdict}\n` : ''));
    const chart = (group: string[], title: string) =>
      lineChartSvg(
        results.filter((r) => group.includes(r.group)).map((r) => ({ name: r.label, points: r.layers.map((l) => [l.layer, l.cosine] as const) })),
        { title, xLabel: 'layer', yLabel: 'cosine to FP32', width: 560, height: 380 },
      );
    const panels = [chart(['figure2'], 'quantizing one pass (paper Fig. 2)'), chart(['level', 'baseline'], 'HALO levels × formats')].filter((p) =>
      /<path d="M/.test(p),
    );
    if (panels.length)
      fs.writeFileSync(path.join(outDir, 'gradients.svg'), gridSvg(panels, { columns: 2, title: 'weight-gradient cosine similarity to FP32, one step' }));
    log(`wrote ${path.join(outDir, 'gradients.json')}, gradients.md${panels.length ? ', gradients.svg' : ''}`);
    return 0;
  },
};

/** The paper's claim: forward quantization without Hadamard is the least faithful of Figure 2's three settings. */
function orderingVerdict(results: { id: string; label: string; group: string; mean: number }[]): string | null {
  const fig = results.filter((r) => r.group === 'figure2');
  if (fig.length < 3) return null;
  const sorted = [...fig].sort((a, b) => a.mean - b.mean);
  const least = sorted[0];
  const paper = least.id.startsWith('forward-only-') && !least.id.startsWith('forward-only-hadamard');
  return (
    `least faithful of the three one-pass settings: ${least.label} (${least.mean.toFixed(4)}); ` +
    `order ${sorted.map((r) => `${r.label} ${r.mean.toFixed(4)}`).join(' < ')} — ${paper ? 'as in the paper (forward without Hadamard is worst)' : "NOT the paper's ordering (there forward without Hadamard is worst)"}.`
  );
}
