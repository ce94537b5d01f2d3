// `halo bench comm`: bytes all-gathered and time per FSDP training step with f32, bf16 and 8-bit (HQ-FSDP)
// weight gathers (src/bench/comm.ts). Runs in one process, or as every rank of `mpirun -np N halo bench comm`
// (rank 0 prints).
import { getBackend } from '../../backend/select.ts';
import { HaloError } from '../../core/errors.ts';
import { runCommBench, type CommBenchRow } from '../../dist/comm-bench.ts';
import { encodeRecords } from '../../data/encode.ts';
import { readJsonl } from '../../data/jsonl.ts';
import { worldCommunicator } from '../../dist/index.ts';
import { loadModelFolder } from '../../io/hf-folder.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import type { Command } from '../command.ts';
import { HALO_OPTIONS, haloConfigFromOptions, splitSpec } from '../halo-options.ts';
import { formatTable } from '../table.ts';

const MIB = 2 ** 20;

export const benchCommCommand: Command = {
  name: 'bench comm',
  summary: 'FSDP bytes all-gathered and time per step: --fsdp FP32, BF16 gathers, --hq-fsdp 8-bit',
  usage: 'mpirun -np 2 halo bench comm [--model models/halo-tiny] [--steps 3] [--json]   (or without mpirun: 1 process)',
  options: [
    { name: 'model', type: 'string', help: 'Hugging Face model folder', default: 'models/halo-tiny' },
    { name: 'data', type: 'string', help: 'training JSONL; FILE[:FROM:TO] takes rows FROM..TO-1', default: 'data/sql/train.jsonl::64' },
    ...HALO_OPTIONS,
    { name: 'batch-size', type: 'int', help: 'sequences per rank per step', default: 2 },
    { name: 'max-seq-len', type: 'int', help: 'truncate examples to this many tokens', default: 128 },
    { name: 'steps', type: 'int', help: 'timed optimizer steps per run', default: 3 },
    { name: 'warmup', type: 'int', help: 'untimed steps first', default: 1 },
    { name: 'json', type: 'boolean', help: 'print one JSON object instead of a table' },
  ],
  async run({ options: o }) {
    const steps = o.steps as number;
    if (steps < 1) throw new HaloError('E_ARG', `--steps must be ≥ 1, got ${steps}`);
    if ((o.warmup as number) < 0) throw new HaloError('E_ARG', `--warmup must be ≥ 0, got ${o.warmup}`);
    const comm = worldCommunicator();
    const lead = comm.rank === 0;
    const modelDir = o.model as string;
    const tok = loadTokenizer(modelDir);
    const spec = splitSpec(o.data as string);
    const examples = encodeRecords(readJsonl(spec.file).records.slice(spec.from, spec.to), tok, { maxSeqLen: o['max-seq-len'] as number }).examples;
    if (examples.length === 0) throw new HaloError('E_ARG', `${spec.file}: no training examples in the selected rows`);
    const model = loadModelFolder(modelDir, { dtype: 'f32' });
    const json = o.json === true;
    if (lead && !json) {
      process.stdout.write(
        `${modelDir}: ${model.config.num_hidden_layers} layers, hidden ${model.config.hidden_size}; ${comm.size} rank(s) (${comm.kind}); ` +
          `batch ${o['batch-size']} × ${comm.size} ranks, seq ≤ ${o['max-seq-len']}; ${steps} timed step(s) after ${o.warmup} warm-up\n`,
      );
    }
    const rows = runCommBench(comm, {
      model,
      examples,
      backend: getBackend(o.backend as 'native' | 'reference' | undefined),
      hq: haloConfigFromOptions(o),
      batchSize: o['batch-size'] as number,
      padId: tok.padId ?? tok.eosId ?? 0,
      steps,
      warmup: o.warmup as number,
      lr: 1e-4,
    });
    if (!lead) return 0;
    process.stdout.write((json ? JSON.stringify({ ranks: comm.size, transport: comm.kind, rows }) : table(rows)) + '\n');
    return 0;
  },
};

function table(rows: CommBenchRow[]): string {
  return formatTable(
    ['run', 'matmuls', 'gather', 'weights MiB/step', '× FP32', 'other MiB/step', 'grads MiB/step', 'ms/step', 'gather ms', 'scatter ms'],
    rows.map((r) => [
      r.run,
      r.matmuls,
      r.gatherDtype,
      (r.weightBytesPerStep / MIB).toFixed(3),
      r.weightBytesVsFp32.toFixed(3),
      (r.otherBytesPerStep / MIB).toFixed(3),
      (r.scatterBytesPerStep / MIB).toFixed(3),
      r.msPerStep.toFixed(0),
      r.gatherMsPerStep.toFixed(0),
      r.scatterMsPerStep.toFixed(0),
    ]),
  );
}
