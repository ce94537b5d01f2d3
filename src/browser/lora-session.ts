// LoRA fine-tuning of a model held in memory, one optimizer step per call: what the browser page runs in its
// worker (the page stays responsive and draws the loss between steps). The same recipe as `halo finetune
// --peft lora` — frozen base as rotated 8-bit codes, HALO linears, AdamW, linear warm-up and decay, gradient
// clipping, non-finite steps skipped — through the trainer's own file-free steps (src/train/train-state.ts,
// train-step.ts), without its files (checkpoints, metrics.jsonl, locks), which a page has no disk for. Its
// adapter downloads as the PEFT folder `halo eval --adapter` loads.
import type { Backend } from '../backend/backend.ts';
import { HaloError } from '../core/errors.ts';
import { encodeRecords, type Example } from '../data/encode.ts';
import type { DataRecord } from '../data/jsonl-parse.ts';
import { toEvalItem } from '../data/records.ts';
import { evaluateGeneration } from '../eval/evaluate.ts';
import { scorersFor } from '../eval/scorers.ts';
import { haloConfig, haloConfigFileText, type HaloConfig } from '../halo/config.ts';
import { HALO_PEFT_DEFAULTS } from '../peft/build.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterFiles } from '../peft/format.ts';
import { createPeftModel, type PeftModel } from '../peft/peft-model.ts';
import { evaluateLoss } from '../train/evaluate-loss.ts';
import { createTrainState, type TrainState } from '../train/train-state.ts';
import { trainStep } from '../train/train-step.ts';
import type { LoadedModelFiles } from './model-files.ts';

export interface LoraSessionOptions {
  backend: Backend;
  /** Optimizer steps the schedule spans (the run may stop earlier). */
  steps: number;
  /** Default: HALO-2 INT8 (halo finetune's default). */
  halo?: Partial<HaloConfig>;
  rank?: number;
  alpha?: number;
  dropout?: number;
  lr?: number;
  warmupSteps?: number;
  batchSize?: number;
  maxSeqLen?: number;
  maxGradNorm?: number;
  seed?: number;
  /** base_model_name_or_path of the saved adapter. */
  baseModel?: string;
}

export interface LoraStep {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Tokens in this step's batch (padding excluded). */
  tokens: number;
  ms: number;
}

export interface Answer {
  prompt: string;
  reference: string;
  prediction: string;
  correct: boolean;
}

/** Non-finite steps in a row that end a session (halo finetune's --max-bad-steps default). */
const MAX_BAD_STEPS = 10;

export class LoraSession {
  readonly model: PeftModel;
  readonly halo: HaloConfig;
  readonly trainExamples: Example[];
  private readonly files: LoadedModelFiles;
  private readonly state: TrainState;
  private readonly o: Required<Omit<LoraSessionOptions, 'halo' | 'backend'>>;

  constructor(files: LoadedModelFiles, train: readonly DataRecord[], opts: LoraSessionOptions) {
    if (!(Number.isInteger(opts.steps) && opts.steps >= 1)) throw new HaloError('E_ARG', `steps must be a positive integer, got ${opts.steps}`);
    this.files = files;
    this.o = {
      steps: opts.steps,
      rank: opts.rank ?? HALO_PEFT_DEFAULTS.rank,
      alpha: opts.alpha ?? HALO_PEFT_DEFAULTS.alpha,
      dropout: opts.dropout ?? HALO_PEFT_DEFAULTS.dropout,
      lr: opts.lr ?? 2e-3,
      warmupSteps: opts.warmupSteps ?? Math.min(5, opts.steps),
      batchSize: opts.batchSize ?? 4,
      maxSeqLen: opts.maxSeqLen ?? 256,
      maxGradNorm: opts.maxGradNorm ?? 1,
      seed: opts.seed ?? 0,
      baseModel: opts.baseModel ?? 'halo-tiny',
    };
    this.halo = haloConfig({ level: 'halo2', format: 'int8', ...opts.halo });
    const quantized = this.halo.level !== 'none';
    this.model = createPeftModel(files.config, files.weights, {
      halo: this.halo,
      backend: opts.backend,
      peft: { method: 'lora', rank: this.o.rank, alpha: this.o.alpha, dropout: this.o.dropout, seed: this.o.seed },
      // halo finetune's --base-8bit default for LoRA with a quantized format: the frozen base as codes only.
      frozenProjections: quantized ? 'codes' : 'f32',
    });
    const { examples } = encodeRecords(train, files.tokenizer, { maxSeqLen: this.o.maxSeqLen });
    if (examples.length === 0) throw new HaloError('E_ARG', 'no training example has answer tokens (empty data, or all cut by maxSeqLen)');
    this.trainExamples = examples;
    this.state = createTrainState(this.model, examples, {
      epochs: 1,
      maxSteps: this.o.steps,
      lr: this.o.lr,
      schedule: 'linear',
      warmupSteps: this.o.warmupSteps,
      minLrRatio: 0,
      weightDecay: 0,
      batchSize: this.o.batchSize,
      gradAccum: 1,
      maxGradNorm: this.o.maxGradNorm,
      seed: this.o.seed,
      padId: this.padId,
      maxBadSteps: MAX_BAD_STEPS,
    });
  }

  get padId(): number {
    const t = this.files.tokenizer;
    return t.padId ?? t.eosId ?? 0;
  }

  get steps(): number {
    return this.state.step;
  }

  /**
   * One optimizer step on the next batch (the loader reshuffles each epoch). A step with a non-finite loss or
   * gradient norm makes no update; MAX_BAD_STEPS of them in a row throw E_NUMERIC. E_ARG after `steps` steps.
   */
  step(): LoraStep {
    const t0 = performance.now();
    const tokensBefore = this.state.tokensTotal;
    const r = trainStep(this.state);
    if (!r) throw new HaloError('E_ARG', `the session has run all of its ${this.o.steps} steps`);
    return { step: r.step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm, tokens: this.state.tokensTotal - tokensBefore, ms: performance.now() - t0 };
  }

  /** Mean answer-token loss over `records`, as `halo eval --metric loss` computes it (batch 4, 512 tokens). */
  evalLoss(records: readonly DataRecord[], opts: { batchSize?: number; maxSeqLen?: number } = {}): number {
    const { examples } = encodeRecords(records, this.files.tokenizer, { maxSeqLen: opts.maxSeqLen ?? 512 });
    this.model.eval();
    return evaluateLoss(this.model, examples, opts.batchSize ?? 4, this.padId);
  }

  /** Greedy answers to `records` (chat records whose last message is the answer), scored by SQL exact match. */
  answer(records: readonly DataRecord[], maxNewTokens = 64): Answer[] {
    this.model.eval();
    const items = records.map((r) => toEvalItem(r, 'data'));
    const r = evaluateGeneration(this.model.model, this.files.tokenizer, items, scorersFor('sql'), {
      maxNewTokens,
      batchSize: items.length,
      showExamples: items.length,
      progress: false,
    });
    return r.examples.map((e, i) => ({
      prompt: items[i]!.messages.at(-1)!.content,
      reference: e.reference,
      prediction: e.prediction,
      correct: Object.values(e.correct).some(Boolean),
    }));
  }

  /** The adapter folder's files: adapter_config.json, adapter_model.safetensors, halo_config.json (for --as-trained). */
  adapterFiles(): Map<string, string | Uint8Array> {
    const f = adapterFiles(this.model.adapters, { baseModel: this.o.baseModel });
    return new Map<string, string | Uint8Array>([
      [ADAPTER_CONFIG, f[ADAPTER_CONFIG]],
      [ADAPTER_WEIGHTS, f[ADAPTER_WEIGHTS]],
      ['halo_config.json', haloConfigFileText(this.halo)],
    ]);
  }
}
