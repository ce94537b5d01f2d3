// `halo inspect DIR`: what a Hugging Face model folder holds, read from config.json and the safetensors
// headers only (no tensor data), so it is instant even for a large model: architecture, dimensions, parameter
// count, dtypes, files, tokenizer, the in/out sizes of every linear layer (the sizes the Hadamard rotations
// must handle), and any tensors missing or mis-shaped for the config. Exit code 1 when a problem was found.
// --weight-stats also reads the tensor data (RMS and max |w| per projection), which takes as long as a load.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../core/errors.ts';
import { projectionWeightStats, type WeightStats } from '../../analysis/weight-stats.ts';
import { describeTensorCheck, itemSize, loadModelFolder, parameterCount, scanModelFolder, type ModelFolderInfo } from '../../io/hf-folder.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import type { Command } from '../command.ts';

export interface LinearDims {
  name: string;
  /** Input features (the GEMM's K in the forward pass). */
  in: number;
  out: number;
}

/** The linear layers of one decoder layer, plus lm_head, with their [in → out] sizes. */
export function linearDims(info: ModelFolderInfo): LinearDims[] {
  const c = info.config;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  return [
    { name: 'q_proj', in: c.hidden_size, out: q },
    { name: 'k_proj', in: c.hidden_size, out: kv },
    { name: 'v_proj', in: c.hidden_size, out: kv },
    { name: 'o_proj', in: q, out: c.hidden_size },
    { name: 'gate_proj', in: c.hidden_size, out: c.intermediate_size },
    { name: 'up_proj', in: c.hidden_size, out: c.intermediate_size },
    { name: 'down_proj', in: c.intermediate_size, out: c.hidden_size },
    { name: 'lm_head', in: c.hidden_size, out: c.vocab_size },
  ];
}

export interface InspectReport {
  dir: string;
  architecture: string;
  modelType: string;
  config: {
    vocabSize: number;
    hiddenSize: number;
    intermediateSize: number;
    layers: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    maxPositions: number;
    rmsNormEps: number;
    ropeTheta: number;
    ropeScaling: unknown;
    tiedEmbeddings: boolean;
    biases: { qkv: boolean; o: boolean; mlp: boolean };
    slidingWindow: number | null;
    torchDtype: string | null;
  };
  parameters: number;
  dtypes: Record<string, { tensors: number; parameters: number; bytes: number }>;
  weightFiles: { name: string; bytes: number }[];
  tokenizerFiles: string[];
  tokenizer: { vocabSize: number; bos: string | null; eos: string | null; pad: string | null; chatTemplate: boolean } | { error: string } | null;
  eosTokenIds: number[];
  linearDims: LinearDims[];
  /** Distinct sizes the linear layers take as input or produce (each one a Hadamard size to support). */
  dims: number[];
  problems: string[];
  /** With --weight-stats (the data read in f32): per projection kind, then 'all'. */
  weightStats?: WeightStats[];
}

export function inspectFolder(dir: string): InspectReport {
  const info = scanModelFolder(dir);
  const c = info.config;
  const dtypes: InspectReport['dtypes'] = {};
  for (const t of info.tensors) {
    const d = (dtypes[t.dtype] ??= { tensors: 0, parameters: 0, bytes: 0 });
    d.tensors++;
    d.parameters += t.bytes / itemSize(t.dtype);
    d.bytes += t.bytes;
  }
  const problems: string[] = [];
  const { missing, misshaped, unexpected } = info.check;
  if (missing.length) problems.push(`missing tensors: ${missing.join(', ')}`);
  for (const m of misshaped) problems.push(`${m.name} has shape [${m.actual}], config implies [${m.expected}]`);
  const extraLayers = new Set(info.check.extraLayers);
  if (extraLayers.size)
    problems.push(
      `${describeTensorCheck({ missing: [], unexpected: [], misshaped: [], ignored: [], extraLayers: info.check.extraLayers })}: loading refuses this folder`,
    );
  const ignored = unexpected.filter((n) => !extraLayers.has(n));
  if (ignored.length) problems.push(`unexpected tensors (ignored by the model): ${ignored.join(', ')}`);
  let tokenizer: InspectReport['tokenizer'] = null;
  if (info.tokenizerFiles.includes('tokenizer.json')) {
    try {
      const tok = loadTokenizer(dir);
      tokenizer = { vocabSize: tok.vocabSize, bos: tok.bosToken, eos: tok.eosToken, pad: tok.padToken, chatTemplate: tok.chatTemplate !== null };
      if (tok.vocabSize > c.vocab_size) problems.push(`tokenizer has ${tok.vocabSize} tokens but the embedding only ${c.vocab_size} rows`);
    } catch (e) {
      if (!(e instanceof HaloError)) throw e;
      tokenizer = { error: e.message };
      problems.push(`tokenizer: ${e.message}`);
    }
  } else problems.push('no tokenizer.json');
  const lin = linearDims(info);
  return {
    dir,
    architecture: c.architecture,
    modelType: c.model_type,
    config: {
      vocabSize: c.vocab_size,
      hiddenSize: c.hidden_size,
      intermediateSize: c.intermediate_size,
      layers: c.num_hidden_layers,
      heads: c.num_attention_heads,
      kvHeads: c.num_key_value_heads,
      headDim: c.head_dim,
      maxPositions: c.max_position_embeddings,
      rmsNormEps: c.rms_norm_eps,
      ropeTheta: c.rope_theta,
      ropeScaling: c.rope_scaling,
      tiedEmbeddings: c.tie_word_embeddings,
      biases: { qkv: c.attention_bias, o: c.o_proj_bias, mlp: c.mlp_bias },
      slidingWindow: c.sliding_window,
      torchDtype: c.torch_dtype,
    },
    parameters: parameterCount(c),
    dtypes,
    weightFiles: info.weightFiles.map((name) => ({ name, bytes: fs.statSync(path.join(dir, name)).size })),
    tokenizerFiles: info.tokenizerFiles,
    tokenizer,
    eosTokenIds: info.eosTokenIds,
    linearDims: lin,
    dims: [...new Set(lin.flatMap((l) => [l.in, l.out]))].sort((a, b) => a - b),
    problems,
  };
}

function human(n: number, unit = ''): string {
  const k = unit === 'B' ? 1024 : 1000;
  const units = unit === 'B' ? ['B', 'KiB', 'MiB', 'GiB', 'TiB'] : ['', 'K', 'M', 'B', 'T'];
  let i = 0;
  let v = n;
  while (v >= k && i < units.length - 1) {
    v /= k;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)}${unit === 'B' ? ' ' : ''}${units[i]}`;
}

export function formatReport(r: InspectReport): string {
  const c = r.config;
  const rope = r.config.ropeScaling ? `, scaling ${JSON.stringify(r.config.ropeScaling)}` : '';
  const biases = Object.entries(c.biases)
    .filter(([, v]) => v)
    .map(([k]) => k);
  const tok = r.tokenizer;
  const lines = [
    `model        ${r.dir}`,
    `architecture ${r.architecture} (${r.modelType})`,
    `dims         vocab ${c.vocabSize} · hidden ${c.hiddenSize} · intermediate ${c.intermediateSize} · layers ${c.layers}`,
    `attention    heads ${c.heads} · kv heads ${c.kvHeads} · head_dim ${c.headDim}${c.slidingWindow ? ` · sliding window ${c.slidingWindow}` : ''} · biases ${biases.length ? biases.join(', ') : 'none'}`,
    `rope         theta ${c.ropeTheta}${rope} · max positions ${c.maxPositions} · rms_norm_eps ${c.rmsNormEps}`,
    `parameters   ${human(r.parameters)} (${r.parameters.toLocaleString('en-US')})${c.tiedEmbeddings ? ', embeddings tied to lm_head' : ''}`,
    `dtypes       ${Object.entries(r.dtypes)
      .map(([d, v]) => `${d}: ${v.tensors} tensors, ${human(v.bytes, 'B')}`)
      .join(' · ')}${c.torchDtype ? ` (config: ${c.torchDtype})` : ''}`,
    `weights      ${r.weightFiles.map((f) => `${f.name} (${human(f.bytes, 'B')})`).join(', ')}`,
    `tokenizer    ${
      tok === null
        ? 'none'
        : 'error' in tok
          ? `error: ${tok.error}`
          : `${tok.vocabSize} tokens · bos ${tok.bos ?? '-'} · eos ${tok.eos ?? '-'} · pad ${tok.pad ?? '-'} · chat template ${tok.chatTemplate ? 'yes' : 'no'}`
    }`,
    `files        ${r.tokenizerFiles.join(', ') || '-'}`,
    `stop ids     ${r.eosTokenIds.join(', ') || '-'}`,
    `linears      ${r.linearDims.map((l) => `${l.name} ${l.in}→${l.out}`).join(' · ')}`,
    `dims used    ${r.dims.join(', ')}`,
  ];
  if (r.weightStats) {
    lines.push('weight stats RMS and max |w| of each projection over all layers (max/RMS: the spread absmax quantization pays for)');
    for (const w of r.weightStats) {
      lines.push(
        `  ${w.name.padEnd(10)} ${String(w.tensors).padStart(3)} tensors  RMS ${w.rms.toPrecision(4)}  max ${w.absmax.toPrecision(4)}  max/RMS ${(w.absmax / w.rms).toFixed(1)}`,
      );
    }
  }
  lines.push(
    r.problems.length
      ? `problems     ${r.problems.join('\n             ')}`
      : 'check        ok: every tensor the config implies is present with the right shape',
  );
  return lines.join('\n');
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show what a Hugging Face model folder holds (config, tensors, dtypes, tokenizer, linear sizes)',
  usage: 'halo inspect DIR [--json] [--weight-stats]',
  positionals: [{ name: 'DIR', help: 'the model folder (config.json, *.safetensors, tokenizer files)', required: true }],
  options: [
    { name: 'json', type: 'boolean', help: 'print the report as JSON', default: false },
    { name: 'weight-stats', type: 'boolean', help: 'also read the weights: RMS and max |w| per projection', default: false },
  ],
  async run(args) {
    const [dir, ...extra] = args.positionals;
    if (!dir) throw new HaloError('E_ARG', 'missing model folder: halo inspect DIR');
    if (extra.length) throw new HaloError('E_ARG', `unexpected arguments: ${extra.join(' ')}`);
    const report = inspectFolder(dir);
    // A folder with problems may not load; the header report is still worth printing.
    if (args.options['weight-stats'] && !report.problems.length) report.weightStats = projectionWeightStats(loadModelFolder(dir, { dtype: 'f32' }).weights);
    process.stdout.write((args.options.json ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
    return report.problems.length ? 1 : 0;
  },
};
