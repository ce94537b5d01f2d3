// halo's public API: what a program that fine-tunes with HALO imports. The CLI (src/cli) is built on
// exactly these pieces.
export { Tensor } from './core/tensor.ts';
export type { DType, FloatArray } from './core/dtype.ts';
export { HaloError, type ErrorCode } from './core/errors.ts';
export { Rng } from './core/rng.ts';

export type { Backend, FloatTensor, Rotation } from './backend/backend.ts';
export {
  backendNames,
  getBackend,
  registerBackend,
  type BackendEntry,
  type BackendFactory,
  type BackendName,
  type UnavailableBackend,
} from './backend/select.ts';
export { nnKernels, referenceNnKernels, type NnKernels } from './backend/nn-kernels.ts';
export { referenceBackend } from './backend/reference/index.ts';

export { planHadamard, rightHadamard, leftHadamard, hadamardMatrix, isSupportedOrder, type HadamardPlan } from './hadamard/index.ts';
export { quantize, dequantize, fakeQuantize, type Quantized, type QuantFormat, type Granularity } from './quant/index.ts';

export { haloConfig, LEVELS, FORMATS, type HaloConfig, type Level, type Format } from './halo/config.ts';
export { prepareWeight, prepareInput, linearForward, linearBackward, type PreparedWeight, type LinearSaved } from './halo/linear.ts';

export { readModelConfig, parseModelConfig, type ModelConfig } from './io/hf-config.ts';
export { loadModelFolder, saveModelFolder } from './io/hf-folder.ts';
export { readSafetensors, writeSafetensors } from './io/safetensors.ts';
export { loadTokenizer, HfTokenizer } from './tokenizer/hf.ts';
export type { TextTokenizer, ChatMessage } from './tokenizer/types.ts';

export { readJsonl } from './data/jsonl.ts';
export { encodeRecords, type Example } from './data/encode.ts';
export { BatchLoader, collate, type Batch } from './data/batch.ts';

export { LlamaModel } from './models/llama.ts';
export { loadLlama } from './models/load.ts';
export type { CausalLM, Param } from './models/causal-lm.ts';
export { AdamW } from './optim/adamw.ts';
export { AdamW8bit } from './optim/adamw8bit.ts';
export { makeOptimizer, type OptimizerChoice, type OptimizerKind } from './optim/optimizer.ts';
export { train, evaluateLoss, type TrainOptions } from './train/trainer.ts';
// train() one optimizer step at a time, for a loop of the caller's own (progress UI, custom stopping, a browser):
//   const run = restoreRun(model, trainSet, evalSet, trainOptions({ outDir }));   // fresh, or resumed (o.resume)
//   for (let r; (r = trainStep(run.state)) !== null; ) evaluateAndSave(run, r);
//   const summary = finishRun(run);
// createTrainState / resumeTrainState / trainStep touch no files (a RunPosition is what a checkpoint holds).
export { restoreRun, type TrainRun } from './train/restore-run.ts';
export { createTrainState, resumeTrainState, type TrainState, type StepOptions, type RunPosition } from './train/train-state.ts';
export { trainStep, BadStepsError, type StepMetrics } from './train/train-step.ts';
export { evaluateAndSave, saveRunCheckpoint } from './train/evaluate-save.ts';
export { finishRun } from './train/trainer.ts';

// The high-level API (docs/api.md): what the CLI commands are thin wrappers over.
export { finetune, type FinetuneOptions, type FinetunePeft, type FinetuneResult, type ProgressEvent } from './api/finetune.ts';
export { evaluate, type EvaluateOptions, type Evaluation, type LossEvaluation, type AccuracyEvaluation, type Metric } from './api/evaluate.ts';
export { generate, type GenerateApiOptions as GenerateOptions, type Generation } from './api/generate.ts';
export { loadModel, type LoadModelOptions, type LoadedModel } from './api/load-model.ts';
export { initModel, type InitModelOptions } from './api/init-model.ts';
export type { HaloSettings } from './api/halo-settings.ts';
export { trainOptions, TRAIN_DEFAULTS } from './train/train-options.ts';
export type { StepRecord, TrainSummary } from './train/trainer.ts';
