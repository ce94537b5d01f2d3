// `halo analyze outliers`: the paper's Figures 1 and 6 for any model. Reads a projection's input X and output
// gradient E_Y at a chosen fine-tuning step and plots, raw / right-Hadamard / left-Hadamard, the largest |value|
// of E_Y per token and of X per channel, with a plain verdict on whether the model has such outliers and
// whether each rotation flattens them. --inject-outliers repeats it on the same tensors with synthetic
// outliers, for models (like halo-tiny) that have none of their own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureProjection, parseProjection, PROJECTIONS } from '../../analysis/capture.ts';
import { hasOutliers, injectOutliers, profileViews, VIEWS, type ViewProfiles } from '../../analysis/outliers.ts';
import { batchAtStep, loadAnalysisInputs, weightsAfterSteps } from '../../analysis/setup.ts';
import { backendNames, getBackend } from '../../backend/select.ts';
import { HaloError } from '../../core/errors.ts';
import { gridSvg } from '../../report/svg-grid.ts';
import { lineChartSvg } from '../../report/svg-plot.ts';
import type { Command } from '../command.ts';
import { splitSpec } from '../halo-options.ts';
import { formatTable } from '../table.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const VIEW_LABEL = { raw: 'raw', rightH: 'right-H (M·Ĥᵀ)', leftH: 'left-H (Ĥ·M)' } as const;

interface Section {
  label: string;
  x: ViewProfiles;
  ey: ViewProfiles;
  injected?: { factor: number; xChannels: number[]; eyTokens: number[] };
}

export const analyzeOutliersCommand: Command = {
  name: 'analyze outliers',
  summary: "Per-token / per-channel max |value| of a projection's X and E_Y, raw and Hadamard-rotated (paper Fig. 1/6)",
  usage: 'halo analyze outliers [--model DIR] [--data FILE] [--layer N] [--module k_proj] [--step S] [--inject-outliers F] --out DIR',
  options: [
    { name: 'model', type: 'string', help: 'model folder', default: path.join(ROOT, 'models/halo-tiny') },
    {
      name: 'data',
      type: 'string',
      help: 'JSONL the batch comes from; FILE[:FROM:TO] takes rows FROM..TO-1',
      default: path.join(ROOT, 'data/sql/train.jsonl'),
    },
    { name: 'layer', type: 'int', help: 'decoder layer (0-based)', default: 3 },
    { name: 'module', type: 'string', help: 'projection', default: 'k_proj', choices: PROJECTIONS },
    { name: 'step', type: 'int', help: 'FP32 fine-tuning steps before the tensors are read (0 = the model as given)', default: 0 },
    { name: 'batch-size', type: 'int', help: 'sequences in the analysed batch (and per warm-up step)', default: 8 },
    { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 256 },
    { name: 'lr', type: 'number', help: 'learning rate of the warm-up steps', default: 1e-3 },
    { name: 'seed', type: 'int', help: 'shuffle seed (which batch) and injection seed', default: 42 },
    { name: 'threshold', type: 'number', help: 'outlier ratio (largest ÷ median row/column max) from which the profile counts as having outliers', default: 4 },
    {
      name: 'inject-outliers',
      type: 'number',
      help: 'also analyse a copy with synthetic outliers: this factor on a few X channels and E_Y tokens (0 = off)',
      default: 0,
    },
    { name: 'inject-count', type: 'int', help: 'how many channels / tokens get the injected factor', default: 4 },
    { name: 'out', type: 'string', help: 'output folder (outliers.json, outliers.svg, outliers-injected.svg)', required: true },
    { name: 'backend', type: 'string', help: 'kernel backend', choices: backendNames() },
  ],
  async run({ options: o }) {
    const module = parseProjection(o.module as string);
    const step = o.step as number;
    if (step < 0) throw new HaloError('E_ARG', `--step must be ≥ 0, got ${step}`);
    const factor = o['inject-outliers'] as number;
    if (!(factor === 0 || factor > 1)) throw new HaloError('E_ARG', `--inject-outliers takes 0 (off) or a factor > 1, got ${factor}`);
    const threshold = o.threshold as number;
    const outDir = o.out as string;
    fs.mkdirSync(outDir, { recursive: true });
    const be = getBackend(o.backend as 'native' | undefined);
    const inputs = loadAnalysisInputs(o.model as string, splitSpec(o.data as string), o['max-seq-len'] as number);
    const seed = o.seed as number;
    const batchSize = o['batch-size'] as number;
    const weights = weightsAfterSteps(inputs, be, { steps: step, batchSize, lr: o.lr as number, seed, workDir: path.join(outDir, 'warmup') });
    const batch = batchAtStep(inputs.examples, batchSize, inputs.padId, seed, step);
    const layer = o.layer as number;
    const cap = captureProjection(inputs.source.config, weights, be, batch, layer, module);
    const where = `layer ${layer} ${module}`;

    const sections: Section[] = [{ label: `${where}, step ${step}`, x: profileViews(be, cap.x), ey: profileViews(be, cap.ey) }];
    if (factor > 0) {
      const count = o['inject-count'] as number;
      const xi = injectOutliers(cap.x, 'channel', factor, count, seed);
      const ei = injectOutliers(cap.ey, 'token', factor, count, seed + 1);
      sections.push({
        label: `${where}, step ${step}, ×${factor} injected on ${count} X channels / E_Y tokens`,
        x: profileViews(be, xi.m),
        ey: profileViews(be, ei.m),
        injected: { factor, xChannels: xi.indices, eyTokens: ei.indices },
      });
    }

    const lines: string[] = [];
    for (const s of sections) {
      const rows = VIEWS.flatMap((v) => [
        [`E_Y ${v}`, fmt(s.ey[v].absmax), s.ey[v].tokenRatio.toFixed(2), s.ey[v].channelRatio.toFixed(2), s.ey[v].int8RelError.toExponential(2)],
        [`X ${v}`, fmt(s.x[v].absmax), s.x[v].tokenRatio.toFixed(2), s.x[v].channelRatio.toFixed(2), s.x[v].int8RelError.toExponential(2)],
      ]);
      lines.push(`${s.label} (${cap.tokens} tokens; X [${cap.x.shape.join('×')}], E_Y [${cap.ey.shape.join('×')}])`);
      lines.push(formatTable(['tensor / view', 'absmax', 'token ratio', 'channel ratio', 'INT8 rel. error'], rows));
      lines.push(...verdicts(s, threshold), '');
    }
    process.stdout.write(lines.join('\n') + '\n');

    const json = {
      model: o.model,
      data: o.data,
      layer,
      module,
      step,
      batchSize,
      seed,
      tokens: cap.tokens,
      threshold,
      sections: sections.map((s) => ({ label: s.label, injected: s.injected ?? null, verdicts: verdicts(s, threshold), x: toJson(s.x), ey: toJson(s.ey) })),
    };
    fs.writeFileSync(path.join(outDir, 'outliers.json'), JSON.stringify(json, null, 1) + '\n');
    fs.writeFileSync(path.join(outDir, 'outliers.svg'), plot(sections[0]));
    if (sections[1]) fs.writeFileSync(path.join(outDir, 'outliers-injected.svg'), plot(sections[1]));
    process.stderr.write(`wrote ${path.join(outDir, 'outliers.json')} and outliers${sections[1] ? '{,-injected}' : ''}.svg\n`);
    return 0;
  },
};

/** Plain sentences: are there outliers, and does the rotation HALO uses for that tensor flatten them? */
function verdicts(s: Section, threshold: number): string[] {
  const ey = s.ey;
  const x = s.x;
  const out: string[] = [];
  const eyHas = hasOutliers(ey.raw, 'token', threshold);
  out.push(
    eyHas
      ? `E_Y has token-row outliers (largest row max ${ey.raw.tokenRatio.toFixed(1)}× the median ≥ ${threshold}); left Hadamard → ${ey.leftH.tokenRatio.toFixed(1)}× (${ey.leftH.tokenRatio < ey.raw.tokenRatio ? 'flattened' : 'NOT flattened'}), right Hadamard → ${ey.rightH.tokenRatio.toFixed(1)}×; INT8 error ${ey.raw.int8RelError.toExponential(2)} raw vs ${ey.leftH.int8RelError.toExponential(2)} left-rotated.`
      : `E_Y has NO clear token-row outliers here (largest row max ${ey.raw.tokenRatio.toFixed(1)}× the median, below ${threshold}).`,
  );
  const xHas = hasOutliers(x.raw, 'channel', threshold);
  out.push(
    xHas
      ? `X has channel outliers (largest channel max ${x.raw.channelRatio.toFixed(1)}× the median ≥ ${threshold}); right Hadamard → ${x.rightH.channelRatio.toFixed(1)}× (${x.rightH.channelRatio < x.raw.channelRatio ? 'flattened' : 'NOT flattened'}), left Hadamard → ${x.leftH.channelRatio.toFixed(1)}×; INT8 error ${x.raw.int8RelError.toExponential(2)} raw vs ${x.rightH.int8RelError.toExponential(2)} right-rotated.`
      : `X has NO clear channel outliers here (largest channel max ${x.raw.channelRatio.toFixed(1)}× the median, below ${threshold}).`,
  );
  if ((!eyHas || !xHas) && !s.injected)
    out.push('Where this layer has no outliers of its own, rerun with --inject-outliers 20 to see what the rotations do to synthetic ones.');
  return out;
}

function toJson(p: ViewProfiles) {
  return Object.fromEntries(
    VIEWS.map((v) => [
      v,
      {
        absmax: p[v].absmax,
        tokenRatio: p[v].tokenRatio,
        channelRatio: p[v].channelRatio,
        int8RelError: p[v].int8RelError,
        perToken: Array.from(p[v].perToken),
        perChannel: Array.from(p[v].perChannel),
      },
    ]),
  );
}

function plot(s: Section): string {
  const panel = (p: Float32Array, title: string, xLabel: string) =>
    lineChartSvg([{ name: 'max |value|', points: Array.from(p, (v, i) => [i, v] as const) }], {
      title,
      xLabel,
      yLabel: 'max |value|',
      width: 420,
      height: 280,
    });
  const panels = [
    ...VIEWS.map((v) => panel(s.ey[v].perToken, `E_Y ${VIEW_LABEL[v]}: ratio ${s.ey[v].tokenRatio.toFixed(1)}`, 'token')),
    ...VIEWS.map((v) => panel(s.x[v].perChannel, `X ${VIEW_LABEL[v]}: ratio ${s.x[v].channelRatio.toFixed(1)}`, 'channel')),
  ];
  return gridSvg(panels, { columns: 3, title: `${s.label}: E_Y max per token (top), X max per channel (bottom)` });
}

const fmt = (v: number) => v.toPrecision(3);
