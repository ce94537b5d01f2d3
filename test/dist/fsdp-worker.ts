// One rank of the FSDP equivalence test (test/dist/fsdp.test.ts runs it under mpirun -np 2): trains the tiny
// model STEPS steps with --fsdp (f32 gathers) and with --hq-fsdp (HALO-2 INT8), and checks on every rank that
// the 8-bit weights it gathered are bit-identical to quantizing the whole (gathered) master weight in one
// process, before training and after it. Rank 0 writes the final weights and a result.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getBackend } from '../../src/backend/select.ts';
import { Tensor } from '../../src/core/tensor.ts';
import { collate } from '../../src/data/batch.ts';
import { worldCommunicator } from '../../src/dist/index.ts';
import { FsdpModel, type FsdpMode } from '../../src/dist/fsdp.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { prepareWeight } from '../../src/halo/linear.ts';
import { loadModelFolder } from '../../src/io/hf-folder.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { layerNames } from '../../src/models/llama-names.ts';
import { train } from '../../src/train/trainer.ts';
import { trainExamples, trainOptions } from './setup.ts';

const [modelDir, outRoot, modesArg, resumeDir] = process.argv.slice(2);
const comm = worldCommunicator();
const be = getBackend();
const examples = trainExamples(modelDir);
const result: Record<string, unknown> = { size: comm.size, kind: comm.kind };

/** Gathers every layer quantized (a forward), then compares with prepareWeight of the whole master weights. */
function checkCodes(m: FsdpModel): { compared: number; codeMismatches: number; scaleMismatches: number } {
  m.loss(collate(examples.slice(0, 2), { padId: 0 }));
  const whole = m.stateDict();
  let compared = 0;
  let codeMismatches = 0;
  let scaleMismatches = 0;
  for (let l = 0; l < m.config.num_hidden_layers; l++) {
    const n = layerNames(l);
    for (const name of [n.q, n.k, n.v, n.o, n.gate, n.up, n.down]) {
      const got = m.inner.weight(name).w;
      const want = prepareWeight(be, m.inner.halo, whole.get(name) as Tensor<'f32'>).w;
      if (got.kind !== 'quant' || want.kind !== 'quant') throw new Error(`${name}: not quantized`);
      const a = got.q.q.data as Int8Array;
      const b = want.q.q.data as Int8Array;
      for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) codeMismatches++;
      if (got.q.scales[0] !== want.q.scales[0]) scaleMismatches++;
      compared += b.length;
    }
  }
  return { compared, codeMismatches, scaleMismatches };
}

for (const mode of modesArg.split(',') as FsdpMode[]) {
  const halo = mode === 'hq' ? haloConfig({ level: 'halo2', format: 'int8' }) : haloConfig({ level: 'none', format: 'fp32' });
  const src = loadModelFolder(modelDir, { dtype: 'f32' });
  const m = new FsdpModel(comm, src.config, src.weights, { halo, backend: be, mode });
  const out = path.join(outRoot, mode);
  const checks = mode === 'hq' ? [checkCodes(m)] : [];
  const resume = resumeDir !== undefined;
  if (resume) fs.cpSync(path.join(resumeDir, mode), out, { recursive: true });
  // The global batch is always 2 micro-batches: one per rank on 2 ranks, accumulated on 1.
  const gradAccum = 2 / comm.size;
  const stopAtStep = process.env.STOP_AT ? Number(process.env.STOP_AT) : undefined;
  const summary = train(m, examples, [], trainOptions(out, { parallel: m, gradAccum, saveEvery: 3, resume, stopAtStep }));
  if (mode === 'hq') checks.push(checkCodes(m));
  const whole = m.stateDict();
  if (comm.rank === 0) {
    writeSafetensors(path.join(out, 'final.safetensors'), whole);
    result[mode] = { steps: summary.steps, resumedFrom: summary.resumedFrom, checks, traffic: m.traffic };
  }
}
if (comm.rank === 0) fs.writeFileSync(path.join(outRoot, 'result.json'), JSON.stringify(result));
