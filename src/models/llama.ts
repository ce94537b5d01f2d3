// LlamaForCausalLM (and Qwen2ForCausalLM: the same graph plus q/k/v biases) with an explicit forward and
// backward, llm.c style: layers run in order, the backward in exact reverse. Parameters are keyed by their
// Hugging Face tensor names, so loading and saving are plain copies.
//
// This file is the model around the decoder blocks: parameters and their prepared (rotated + quantized)
// weights, the embedding, the final norm and the chunked lm_head + loss (head-loss.ts), the tape, and
// activation checkpointing. The block itself — the seven HALO-linear projections, norms, RoPE, attention,
// SwiGLU — is decoder-block.ts, which KV-cached decoding (llama-decode.ts) runs too. Embeddings, norms,
// lm_head and the loss stay in full precision (spec §6; lm_head may run in bf16, see lm-head.ts), from
// nnKernels(backend): src/nn/ops on the reference backend, the addon's f32 kernels on the native one.
// https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py
import { floatMatrix, type Backend, type FloatTensor } from '../backend/backend.ts';
import { floatLike, type FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import type { Batch } from '../data/batch.ts';
import { headPrecisionOf, operandFormat, type HaloConfig } from '../halo/config.ts';
import { castTensor } from '../io/cast.ts';
import { prepareWeight, type PreparedWeight } from '../halo/linear.ts';
import { expectedTensors, type TensorSource } from '../io/model-tensors.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { nnKernels, type NnKernels } from '../backend/nn-kernels.ts';
import { ropeTables } from '../nn/ops/rope.ts';
import { isTrainable, type CausalLM, type LossResult, type Param } from './causal-lm.ts';
import { embeddingBackwardBf16, type GradDtype } from '../optim/bf16-grad.ts';
import { Dims, layerNames, type LayerNames } from './llama-names.ts';
import { embeddingForwardBf16 } from './embedding-bf16.ts';
import { sequenceAttention, type TrainableAttention } from './block-attention.ts';
import { blockBackward, blockForward, type BlockModel, type BlockRows, type LayerTape } from './decoder-block.ts';
import { headLoss, type HeadWeight } from './head-loss.ts';
import { headForward, type HeadPrecision } from './lm-head.ts';
import type { Adapter } from '../peft/adapter.ts';

export interface LlamaOptions {
  halo: HaloConfig;
  backend: Backend;
  /** Which parameters get gradients (default: all). */
  trainable?: (name: string) => boolean;
  /** f32 for training; f64 for gradient checks (the reference backend then runs in f64). */
  precision?: 'f32' | 'f64';
  /** PEFT adapters keyed by the projection's weight name (e.g. model.layers.0.self_attn.q_proj.weight). */
  adapters?: ReadonlyMap<string, Adapter>;
  /** Called around each decoder layer's forward and backward (sharded data parallel gathers/scatters there). */
  blockHooks?: BlockHooks;
  /**
   * Activation checkpointing: the forward keeps only each decoder block's input, and the backward recomputes
   * the block before differentiating it (one more forward per step, for a fraction of the activations).
   */
  gradCheckpointing?: boolean;
  /**
   * The source hands out tensors nobody else holds (openModelFolder's reader does): f32 arrays become the
   * parameters as they are, with no copy. A Map shared with other models must not be adopted.
   */
  adoptWeights?: boolean;
  /**
   * 'codes': frozen projection weights (not trainable, no weight adapter) are rotated and quantized as they
   * are read, and their f32 copy is dropped at once, so a frozen base never exists in f32 as a whole.
   * Needs a quantized format. Default 'f32'.
   */
  frozenProjections?: 'f32' | 'codes';
  /**
   * 'bf16': a frozen embedding table / lm_head stored as bf16 in the checkpoint stays bf16 (half the bytes of
   * f32; the head then runs bf16 GEMMs with f32 accumulation, as PyTorch does for a bf16 model). Default 'f32'.
   */
  frozenTables?: 'f32' | 'bf16';
  /**
   * 'bf16' (--grad-dtype bf16): trainable 2-D tensors (projections, embedding, lm_head) accumulate their
   * gradient as bf16 (Param.gradBf16, src/optim/bf16-grad.ts); norms and biases stay f32. Needs precision f32.
   */
  gradDtype?: GradDtype;
}

/** Per-layer hooks: `before` the layer runs (gather its weights), `after` (backward: its gradients are final). */
export interface BlockHooks {
  before(layer: number, pass: 'forward' | 'backward'): void;
  after(layer: number, pass: 'forward' | 'backward'): void;
}

interface Tape {
  batch: Batch;
  /** The batch's rows as every block saw them: RoPE tables and the causal attention over the sequences. */
  rows: BlockRows<TrainableAttention>;
  /** [N, C] gradient at the final norm's output: the chunked head computes it with the loss. */
  dhf: FloatArray | null;
  /** Each layer's tape, or null when checkpointing (then `inputs` holds what recomputes it). */
  layers: (LayerTape | null)[];
  inputs: (FloatArray | null)[];
  /** Adapters' random states at each layer's forward, so a recomputed layer draws the same dropout masks. */
  randomStates: (Map<string, unknown> | null)[];
  xf: FloatArray; // [N, C] input of the final norm
  rstdf: FloatArray; // [N]
}

export class LlamaModel implements CausalLM, BlockModel {
  readonly config: ModelConfig;
  readonly halo: HaloConfig;
  readonly be: Backend;
  readonly dims: Dims;
  private readonly params = new Map<string, Param>();
  readonly names: LayerNames[];
  private readonly prepared = new Map<string, PreparedWeight>();
  /** Prepared weights of frozen projections whose f32 copy was dropped: never re-prepared. */
  private readonly pinned = new Map<string, PreparedWeight>();
  private readonly checkpointing: boolean;
  /** Frozen embedding / lm_head kept as the checkpoint's bf16 bits (frozenTables: 'bf16'). */
  private readonly tables = new Map<string, Uint16Array>();
  private readonly precision: 'f32' | 'f64';
  readonly adapters: ReadonlyMap<string, Adapter>;
  private readonly hooks: BlockHooks | undefined;
  /**
   * RMSNorm, RoPE, SwiGLU, cross-entropy, embedding, residual adds: the backend's (native or reference).
   * Writable so a profiler (bench step --profile) can put timed wrappers of the same kernels in their place.
   */
  nn: NnKernels;

  constructor(config: ModelConfig, weights: TensorSource, opts: LlamaOptions) {
    this.config = config;
    this.halo = opts.halo;
    this.be = opts.backend;
    this.nn = nnKernels(this.be);
    this.precision = opts.precision ?? 'f32';
    this.dims = new Dims(config);
    this.names = Array.from({ length: config.num_hidden_layers }, (_, l) => layerNames(l));
    this.adapters = opts.adapters ?? new Map();
    this.hooks = opts.blockHooks;
    if (config.mlp_bias) throw new HaloError('E_UNSUPPORTED', 'mlp_bias = true is not supported (no Llama/Qwen2 release uses it)');
    this.checkpointing = opts.gradCheckpointing ?? false;
    const trainable = opts.trainable ?? (() => true);
    const toCodes = opts.frozenProjections === 'codes';
    const bf16Grads = (opts.gradDtype ?? 'f32') === 'bf16';
    if (bf16Grads && this.precision !== 'f32') throw new HaloError('E_ARG', `bf16 gradients need precision 'f32', not '${this.precision}'`);
    if (toCodes && operandFormat(this.halo) === null) {
      throw new HaloError(
        'E_UNSUPPORTED',
        `a frozen base kept as 8-bit codes needs a quantized format (e.g. --level halo2 --format int8); with ${this.halo.format} operands the f32 weights are what the linear multiplies with`,
      );
    }
    const projections = new Set(this.names.flatMap((n) => n.projections));
    for (const spec of expectedTensors(config)) {
      const t = weights.get(spec.name);
      if (!t) throw new HaloError('E_FORMAT', `missing tensor ${spec.name}`);
      if (t.shape.join(',') !== spec.shape.join(',')) {
        throw new HaloError('E_SHAPE', `${spec.name} has shape [${t.shape.join(', ')}], the config implies [${spec.shape.join(', ')}]`);
      }
      if (!['f32', 'f64', 'bf16', 'f16'].includes(t.dtype))
        throw new HaloError('E_DTYPE', `${spec.name}: a ${t.dtype} tensor cannot be a model weight (f32, f64, bf16 or f16)`);
      const isTrainable = trainable(spec.name);
      if (opts.frozenTables === 'bf16' && !isTrainable && t.dtype === 'bf16' && this.precision === 'f32' && (spec.name === EMBED || spec.name === LM_HEAD)) {
        this.tables.set(spec.name, t.data as Uint16Array);
        this.params.set(spec.name, { name: spec.name, shape: spec.shape, data: new Float32Array(0), grad: null });
        continue;
      }
      const want = this.precision === 'f64' ? 'f64' : 'f32';
      const cast = castTensor(t, want, spec.name).data as FloatArray;
      // A tensor the caller still holds (a shared Map) is copied; a fresh one (or a fresh cast) is adopted.
      const data = cast !== t.data || opts.adoptWeights ? cast : want === 'f64' ? Float64Array.from(cast) : Float32Array.from(cast);
      const bf16Grad = isTrainable && bf16Grads && spec.shape.length === 2;
      this.params.set(
        spec.name,
        bf16Grad
          ? { name: spec.name, shape: spec.shape, data, grad: null, gradBf16: new Uint16Array(data.length) }
          : { name: spec.name, shape: spec.shape, data, grad: isTrainable ? floatLike(data, data.length) : null },
      );
      if (toCodes && !isTrainable && projections.has(spec.name) && this.adapters.get(spec.name)?.kind !== 'weight') this.pinToCodes(spec.name);
    }
  }

  /**
   * Rotates and quantizes a frozen projection weight for good and drops its f32 copy: it then costs its
   * 8-bit codes only. weightsChanged() leaves it alone; stateDict() can no longer save it.
   */
  pinToCodes(name: string): number {
    const p = this.param(name);
    if (isTrainable(p) || this.adapters.get(name)?.kind === 'weight')
      throw new HaloError('E_UNSUPPORTED', `${name} changes during training, so it cannot be kept as 8-bit codes only`);
    if (this.pinned.has(name)) return 0;
    this.pinned.set(name, this.weight(name));
    this.prepared.delete(name);
    const freed = p.data.byteLength;
    p.data = p.data instanceof Float64Array ? new Float64Array(0) : new Float32Array(0);
    return freed;
  }

  /** Whether some projection exists as 8-bit codes only (pinToCodes). */
  get hasPinnedWeights(): boolean {
    return this.pinned.size > 0;
  }

  /** Base parameters (HF names), then the adapters' (PEFT names). */
  parameters(): readonly Param[] {
    return [...this.params.values(), ...[...this.adapters.values()].flatMap((a) => a.params())];
  }

  hasParam(name: string): boolean {
    return this.params.has(name);
  }

  param(name: string): Param {
    const p = this.params.get(name);
    if (!p) throw new HaloError('E_ARG', `no parameter named ${name}`);
    return p;
  }

  /** A base parameter the architecture may lack (a bias), or undefined. */
  findParam(name: string): Param | undefined {
    return this.params.get(name);
  }

  weightsChanged(): void {
    this.prepared.clear();
  }

  stateDict(): Map<string, Tensor> {
    if (this.pinned.size) {
      throw new HaloError(
        'E_UNSUPPORTED',
        `the frozen base projections are kept as 8-bit codes only (${this.pinned.size} of them), so there are no f32 weights to save; save the adapters and merge them into the base folder with \`halo merge\``,
      );
    }
    const out = new Map<string, Tensor>();
    for (const p of this.params.values()) {
      const bits = this.tables.get(p.name);
      out.set(p.name, bits ? castTensor(new Tensor(p.shape, 'bf16', bits), 'f32') : new Tensor(p.shape, 'f32', Float32Array.from(p.data)));
    }
    return out;
  }

  loss(batch: Batch): LossResult {
    const r = this.forward(batch, null);
    return { lossSum: r.lossSum, tokens: r.tokens };
  }

  forwardBackward(batch: Batch, gradScale: number): LossResult {
    const r = this.forward(batch, gradScale > 0 ? 1 / gradScale : null);
    if (r.tokens > 0 && r.tape.dhf) this.backward(r.tape);
    return { lossSum: r.lossSum, tokens: r.tokens };
  }

  /** Logits [B·T, V] of a batch (tests and analysis; training never makes this [tokens, vocab] tensor). */
  logits(batch: Batch): FloatArray {
    const { x } = this.trunk(batch, false);
    const N = batch.B * batch.T;
    const { y } = this.nn.rmsnormForward(x, this.param('model.norm.weight').data, N, this.dims.C, this.dims.eps);
    return this.headLogits(y, N);
  }

  /** Token embeddings [ids.length, C] (from the bf16 table when the embedding is kept that way). */
  embed(ids: Int32Array): FloatArray {
    const { V, C } = this.dims;
    const bits = this.tables.get(EMBED);
    return bits ? embeddingForwardBf16(ids, bits, V, C) : this.nn.embeddingForward(ids, this.param(EMBED).data, V, C);
  }

  /** lm_head's weight as stored (the embedding table when tied). */
  headWeight(): HeadWeight {
    const name = this.config.tie_word_embeddings ? EMBED : LM_HEAD;
    const bits = this.tables.get(name);
    if (bits) return { dtype: 'bf16', data: bits };
    const d = this.param(name).data;
    return d instanceof Float64Array ? { dtype: 'f64', data: d } : { dtype: 'f32', data: d as Float32Array };
  }

  /** logits [rows, V] = h [rows, C] · Wᵀ, in the head's precision (bf16 GEMM for a bf16-kept head). */
  headLogits(h: FloatArray, rows: number): FloatArray {
    const { C, V } = this.dims;
    const w = this.headWeight();
    if (w.dtype !== 'bf16') return headForward(this.be, this.headPrecision(), h, w.data, rows, C, V);
    const hq = this.be.rotateQuantize(this.mat(h, rows, C), null, 'bf16', 'tensor', { unitScale: true }).q;
    return this.be.matmulT(hq, new Tensor([V, C], 'bf16', w.data), 1).data;
  }

  /** Rotated + quantized weight of a projection, made once per optimizer step and shared by micro-batches. */
  weight(name: string): PreparedWeight {
    let w = this.pinned.get(name) ?? this.prepared.get(name);
    if (!w) {
      const p = this.param(name);
      const adapter = this.adapters.get(name);
      const data = adapter?.kind === 'weight' ? adapter.effectiveWeight(p.data) : p.data;
      w = prepareWeight(this.be, this.halo, this.mat(data, p.shape[0], p.shape[1]));
      this.prepared.set(name, w);
    }
    return w;
  }

  /** Installs an already rotated + quantized weight (HQ-FSDP gathers them quantized); weightsChanged() drops it. */
  setPreparedWeight(name: string, w: PreparedWeight): void {
    this.param(name);
    this.prepared.set(name, w);
  }

  mat(data: FloatArray, rows: number, cols: number): FloatTensor {
    return floatMatrix(data, rows, cols);
  }

  /**
   * Forward of the whole model; with `normalizer` (training) the chunked head also returns dh at the final
   * norm's output, and lm_head's gradient is accumulated there and then.
   */
  private forward(batch: Batch, normalizer: number | null): { tape: Tape; lossSum: number; tokens: number } {
    const N = batch.B * batch.T;
    const { C, V, eps } = this.dims;
    const { x, tape } = this.trunk(batch, normalizer !== null);
    const normW = this.param('model.norm.weight').data;
    const { y: hf, rstd: rstdf } = this.nn.rmsnormForward(x, normW, N, C, eps);
    const head = this.lmHead();
    const r = headLoss(this.be, this.nn, hf, this.headWeight(), batch.targets, N, C, V, {
      precision: this.headPrecision(),
      grad: normalizer !== null ? { normalizer, dW: head.grad ?? head.gradBf16 ?? null } : undefined,
    });
    return { tape: { ...tape, xf: x, rstdf, dhf: r.dh }, lossSum: r.lossSum, tokens: r.count };
  }

  /** Embedding and decoder blocks: the final hidden states [N, C], and the blocks' tapes when training. */
  private trunk(batch: Batch, keep: boolean): { x: FloatArray; tape: Omit<Tape, 'xf' | 'rstdf' | 'dhf'> } {
    const { D } = this.dims;
    const c = this.config;
    const rows: BlockRows<TrainableAttention> = {
      N: batch.B * batch.T,
      rope: ropeTables(batch.positions, D, c.rope_theta, c.rope_scaling, this.precision),
      attention: sequenceAttention(this.nn, batch.B, batch.T, this.dims, { keyMask: batch.attnMask, window: c.sliding_window }),
    };
    let x = this.embed(batch.ids);
    const tape: Omit<Tape, 'xf' | 'rstdf' | 'dhf'> = { batch, rows, layers: [], inputs: [], randomStates: [] };
    for (let l = 0; l < this.names.length; l++) {
      this.hooks?.before(l, 'forward');
      const ckpt = keep && this.checkpointing;
      const randomState = ckpt ? this.adapterRandomStates(l) : null;
      const r = blockForward(this, l, x, rows, keep && !ckpt);
      tape.layers.push(r.tape);
      tape.inputs.push(ckpt ? x : null);
      tape.randomStates.push(randomState);
      x = r.x;
      this.hooks?.after(l, 'forward');
    }
    return { x, tape };
  }

  /** The random states of layer l's output adapters (LoRA dropout), or null when none draws. */
  private adapterRandomStates(l: number): Map<string, unknown> | null {
    let out: Map<string, unknown> | null = null;
    for (const name of this.names[l].projections) {
      const a = this.adapters.get(name);
      if (a?.kind === 'output' && a.randomState) (out ??= new Map()).set(name, a.randomState());
    }
    return out;
  }

  /** lm_head's GEMM precision (bf16 only in f32 models: the f64 twin of a model is for gradient checks). */
  headPrecision(): HeadPrecision {
    return headPrecisionOf(this.halo) === 'bf16' && this.precision === 'f32' ? 'bf16' : 'f32';
  }

  lmHead(): Param {
    return this.config.tie_word_embeddings ? this.param(EMBED) : this.param(LM_HEAD);
  }

  private backward(tape: Tape): void {
    const { batch } = tape;
    const N = batch.B * batch.T;
    const { C, V } = this.dims;
    const normW = this.param('model.norm.weight');
    let dx = this.nn.rmsnormBackward(tape.dhf!, tape.xf, normW.data, tape.rstdf, N, C, normW.grad);
    for (let l = this.names.length - 1; l >= 0; l--) {
      this.hooks?.before(l, 'backward');
      let t = tape.layers[l];
      if (!t) {
        // Checkpointed: replay the block from its input, with the adapters' dropout draws of the first pass.
        for (const [name, st] of tape.randomStates[l] ?? []) {
          const a = this.adapters.get(name);
          if (a?.kind === 'output') a.setRandomState?.(st);
        }
        t = blockForward(this, l, tape.inputs[l]!, tape.rows, true).tape!;
        tape.inputs[l] = null;
      }
      tape.layers[l] = null;
      dx = blockBackward(this, l, t, dx, tape.rows);
      this.hooks?.after(l, 'backward');
    }
    const emb = this.param(EMBED);
    if (emb.grad) this.nn.embeddingBackward(dx, batch.ids, emb.grad, V, C);
    else if (emb.gradBf16) embeddingBackwardBf16(dx, batch.ids, emb.gradBf16, V, C);
  }
}

const EMBED = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';
