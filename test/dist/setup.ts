// Shared by the distributed tests and their mpirun workers: the tiny model, the data and the training options,
// so the 1-process reference run and the N-rank runs are set up identically.
import * as path from 'node:path';
import { encodeRecords, type Example } from '../../src/data/encode.ts';
import { readJsonl } from '../../src/data/jsonl.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { loadTokenizer } from '../../src/tokenizer/hf.ts';
import type { TrainOptions } from '../../src/train/trainer.ts';

export const REPO = path.resolve(import.meta.dirname, '../..');
/** Odd vocabulary: the embedding's rows do not split evenly, so the last rank's shard is padded. */
export const TINY = { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: 301, seed: 11 };
export const STEPS = 5;
/** Sequences per rank per micro-batch. */
export const MICRO = 3;

export function writeModel(dir: string): void {
  writeTinyModelFolder(dir, TINY);
}

export function trainExamples(modelDir: string): Example[] {
  const tok = loadTokenizer(modelDir);
  return encodeRecords(readJsonl(path.join(REPO, 'data/sql/train.jsonl')).records.slice(0, 40), tok, { maxSeqLen: 160 }).examples;
}

export function trainOptions(outDir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir,
    epochs: 1,
    maxSteps: STEPS,
    lr: 3e-3,
    schedule: 'linear',
    warmupSteps: 0,
    minLrRatio: 0,
    weightDecay: 0.01,
    batchSize: MICRO,
    gradAccum: 1,
    maxGradNorm: 1,
    seed: 3,
    padId: 0,
    evalEvery: 0,
    saveEvery: 0,
    keepCheckpoints: 2,
    resume: false,
    logEvery: 100,
    maxBadSteps: 3,
    quiet: true,
    ...extra,
  };
}
