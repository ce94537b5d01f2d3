// A LlamaModel with a frozen base and PEFT adapters, as the trainer and evaluator see it. Two things the plain
// model cannot know are settled here:
//   - LoRA dropout is on for forwardBackward (training) and off for loss (evaluation);
//   - weightsChanged() only drops the cached rotated+quantized base weights when they can have changed (a
//     trainable base tensor, or a HUT adapter whose W' moves every step). With a frozen base and LoRA the
//     base is rotated and quantized once for the whole run.
// compactBase() goes one step further for a quantized frozen base: it drops the f32 master copies of the
// projection weights and keeps only the rotated 8-bit codes + scales the HALO linear multiplies with.
import type { Backend } from '../backend/backend.ts';
import type { NnKernels } from '../backend/nn-kernels.ts';
import { HaloError } from '../core/errors.ts';
import type { Tensor } from '../core/tensor.ts';
import type { Batch } from '../data/batch.ts';
import { operandFormat, type HaloConfig } from '../halo/config.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import type { CausalLM, LossResult, Param } from '../models/causal-lm.ts';
import { LlamaModel, type LlamaOptions } from '../models/llama.ts';
import type { TensorSource } from '../io/hf-folder.ts';
import type { Adapter } from './adapter.ts';
import { buildAdapters, setAdaptersTraining, type PeftOptions } from './build.ts';

export class PeftModel implements CausalLM {
  readonly model: LlamaModel;
  private readonly baseMoves: boolean;

  constructor(model: LlamaModel) {
    this.model = model;
    const adapterNames = new Set([...model.adapters.values()].flatMap((a) => a.params().map((p) => p.name)));
    const baseTrainable = model.parameters().some((p) => p.grad !== null && !adapterNames.has(p.name));
    this.baseMoves = baseTrainable || [...model.adapters.values()].some((a) => a.kind === 'weight');
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  /** The base model's kernels (its backend's), so a trainer updates the adapters with the backend's AdamW. */
  get nn(): NnKernels {
    return this.model.nn;
  }

  get adapters(): ReadonlyMap<string, Adapter> {
    return this.model.adapters;
  }

  parameters(): readonly Param[] {
    return this.model.parameters();
  }

  /** Only the adapters' parameters (what a PEFT checkpoint or adapter file holds). */
  adapterParameters(): Param[] {
    return [...this.model.adapters.values()].flatMap((a) => [...a.params()]);
  }

  forwardBackward(batch: Batch, gradScale: number): LossResult {
    setAdaptersTraining(this.model.adapters.values(), true);
    return this.model.forwardBackward(batch, gradScale);
  }

  loss(batch: Batch): LossResult {
    setAdaptersTraining(this.model.adapters.values(), false);
    return this.model.loss(batch);
  }

  weightsChanged(): void {
    if (this.baseMoves) this.model.weightsChanged();
  }

  /** The base weights (unmerged; refused once the base is 8-bit codes only); merge.ts makes merged ones. */
  stateDict(): Map<string, Tensor> {
    return this.model.stateDict();
  }

  /**
   * Rotates and quantizes every projection weight of the frozen base now and drops its f32 master
   * copy: the base then costs its 8-bit codes once, 1 byte per weight (+ one scale; the input gradient reads
   * the same [out, in] codes transposed in place), not 4 bytes per weight more. Needs a quantized format and a base that never changes (LoRA on
   * a frozen base); afterwards stateDict() is refused and the underlying model must not be told
   * weightsChanged() directly. Returns the bytes of f32 weights released.
   */
  compactBase(): number {
    if (this.baseMoves) throw new HaloError('E_UNSUPPORTED', "compactBase needs a frozen base that never changes; HUT rebuilds W' from the f32 W0 every step");
    if (operandFormat(this.model.halo) === null) {
      throw new HaloError(
        'E_UNSUPPORTED',
        `compactBase needs a quantized base (e.g. --level halo2 --format int8); with ${this.model.halo.format} operands the f32 weights are what the linear multiplies with`,
      );
    }
    let freed = 0;
    for (const n of this.model.names) for (const name of n.projections) freed += this.model.pinToCodes(name);
    return freed;
  }

  /** Puts LoRA dropout off for decoding / evaluation through `model` directly. */
  eval(): this {
    setAdaptersTraining(this.model.adapters.values(), false);
    return this;
  }
}

export interface CreatePeftOptions extends Pick<LlamaOptions, 'adoptWeights' | 'frozenProjections' | 'gradCheckpointing'> {
  halo: HaloConfig;
  backend: Backend;
  /** New adapters from these options, or `adapters` (e.g. loaded by loadPeft). */
  peft?: PeftOptions;
  adapters?: ReadonlyMap<string, Adapter>;
  precision?: 'f32' | 'f64';
}

/** A frozen base (no gradients, no optimizer state) with adapters on it, ready for train(). */
export function createPeftModel(config: ModelConfig, weights: TensorSource, o: CreatePeftOptions): PeftModel {
  const adapters = o.adapters ?? (o.peft ? buildAdapters(config, o.peft, { precision: o.precision, backend: o.backend }) : new Map<string, Adapter>());
  const { peft: _p, adapters: _a, ...llama } = o;
  const model = new LlamaModel(config, weights, { ...llama, trainable: () => false, adapters });
  return new PeftModel(model);
}
