// What every analysis starts from: a model folder's weights in f32, its tokenizer, encoded examples, and
// (optionally) the weights after a few FP32 fine-tuning steps, so tensors can be read "at step S" as the
// paper does (its Figure 1 is at step 60 of a fine-tuning run).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../backend/backend.ts';
import { HaloError } from '../core/errors.ts';
import type { Tensor } from '../core/tensor.ts';
import { BatchLoader, type Batch } from '../data/batch.ts';
import { encodeRecords, type Example } from '../data/encode.ts';
import { readJsonl } from '../data/jsonl.ts';
import { haloConfig } from '../halo/config.ts';
import { loadModelFolder, type HfModel } from '../io/hf-folder.ts';
import { LlamaModel } from '../models/llama.ts';
import { loadTokenizer } from '../tokenizer/hf.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';
import { train } from '../train/trainer.ts';

export interface AnalysisInputs {
  source: HfModel;
  tok: TextTokenizer;
  examples: Example[];
  padId: number;
}

export function loadAnalysisInputs(modelDir: string, data: { file: string; from: number; to: number | undefined }, maxSeqLen: number): AnalysisInputs {
  if (!fs.existsSync(path.join(modelDir, 'config.json'))) throw new HaloError('E_IO', `no model at ${modelDir} (config.json missing)`);
  const tok = loadTokenizer(modelDir);
  const source = loadModelFolder(modelDir, { dtype: 'f32' });
  const records = readJsonl(data.file).records.slice(data.from, data.to);
  const examples = encodeRecords(records, tok, { maxSeqLen }).examples;
  if (examples.length === 0) throw new HaloError('E_ARG', `${data.file}: the selected rows gave no training examples`);
  return { source, tok, examples, padId: tok.padId ?? tok.eosId ?? 0 };
}

/** The batch optimizer step `step + 1` of a run with this seed would see (step 0: the first batch). */
export function batchAtStep(examples: readonly Example[], batchSize: number, padId: number, seed: number, step: number): Batch {
  const loader = new BatchLoader(examples, { batchSize, padId, seed });
  for (let s = 0; s < step; s++) loader.next();
  const b = loader.next();
  if (!b) throw new HaloError('E_ARG', 'no batch left at that step');
  return b;
}

/** The weights after `steps` FP32 AdamW steps (the trainer's own loop, seeded like batchAtStep). */
export function weightsAfterSteps(
  inputs: AnalysisInputs,
  be: Backend,
  o: { steps: number; batchSize: number; lr: number; seed: number; workDir: string },
): ReadonlyMap<string, Tensor> {
  if (o.steps <= 0) return inputs.source.weights;
  const model = new LlamaModel(inputs.source.config, inputs.source.weights, { halo: haloConfig({ level: 'none', format: 'fp32' }), backend: be });
  train(model, inputs.examples, [], {
    outDir: o.workDir,
    epochs: 1e9,
    maxSteps: o.steps,
    lr: o.lr,
    schedule: 'constant',
    warmupSteps: 0,
    minLrRatio: 0,
    weightDecay: 0,
    batchSize: o.batchSize,
    gradAccum: 1,
    maxGradNorm: 1,
    seed: o.seed,
    padId: inputs.padId,
    evalEvery: 0,
    saveEvery: 0,
    keepCheckpoints: 1,
    resume: false,
    logEvery: 10,
    maxBadSteps: 5,
    quiet: true,
  });
  // The trainer always checkpoints its last step; the analysis needs only the weights in memory.
  fs.rmSync(path.join(o.workDir, 'checkpoints'), { recursive: true, force: true });
  return model.stateDict();
}
