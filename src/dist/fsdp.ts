// Sharded data-parallel training (FSDP) of a Llama model, and its HALO variant HQ-FSDP (spec §7).
//
// Each rank keeps only its row shards (shard.ts) of the f32 master weights, their gradients and — through the
// trainer's AdamW, which sees only these shards — the optimizer moments. The wrapped LlamaModel holds working
// copies that are filled per unit just before use: the root unit (embeddings, final norm, lm_head) before the
// forward, decoder layer l in the `before(l, 'forward')` hook. After layer l's backward its gradients are
// reduce-scattered (summed over ranks, each rank keeping its rows) and its working gradient buffers, which
// exist only from just before that layer's backward to its reduce-scatter, are released; the root
// unit's once the backward returns.
//
// Gather precision: 'fp32' moves f32 masters; 'bf16' moves them rounded to bf16 (mixed-precision FSDP); 'hq'
// (HQ-FSDP) moves the seven projection weights of a layer as 8-bit codes: each rank right-rotates its rows,
// one all-reduce(max) per layer agrees on one scale per weight, each rank encodes its rows, and the codes are
// all-gathered and used directly as the HALO linear's prepared weight (bit-identical to quantizing the whole
// weight in one process). Norms and biases of a layer travel in f32. The scales are kept until the weights
// change, so later micro-batches of the same step reuse them.
//
// Unlike PyTorch FSDP, a layer's gathered weights are not freed after its forward: the backward uses the
// operands the forward saved (for HQ-FSDP the 8-bit codes), so there is no backward re-gather. With HQ-FSDP the
// f32 working copies of the projection weights are dropped altogether (only their codes are ever used).
import type { Backend } from '../backend/backend.ts';
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import type { Batch } from '../data/batch.ts';
import type { HaloConfig } from '../halo/config.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import type { CausalLM, LossResult, Param } from '../models/causal-lm.ts';
import { LlamaModel, type BlockHooks } from '../models/llama.ts';
import { layerNames } from '../models/llama-names.ts';
import { decodeBf16Array, encodeBf16Array, type QuantFormat } from '../quant/index.ts';
import type { TrainParallel } from '../train/parallel.ts';
import type { Communicator } from './communicator.ts';
import { absmaxOrInf, encodeWithScale, globalScale, hqFormat, preparedFromCodes, rotateRows, weightPlan } from './hq-quant.ts';
import { packForScatter, packShards, shardSpec, sliceShard, unitLayout, unpackGathered, type ShardSpec, type UnitLayout } from './shard.ts';

export const FSDP_MODES = ['fp32', 'bf16', 'hq'] as const;
const NO_GRAD = new Float32Array(0);
export type FsdpMode = (typeof FSDP_MODES)[number];

export interface FsdpOptions {
  halo: HaloConfig;
  backend: Backend;
  /** What the weight all-gathers move: f32, bf16, or (HQ-FSDP) 8-bit rotated projection weights. */
  mode: FsdpMode;
  trainable?: (name: string) => boolean;
}

/** Bytes of gathered (received, full) and reduce-scattered buffers since the last reset, by kind. */
export interface FsdpTraffic {
  gatheredWeightBytes: number; // the seven projections of every layer (what HQ-FSDP makes 8-bit)
  gatheredOtherBytes: number; // embeddings, norms, lm_head, biases
  scatteredGradBytes: number;
  scaleReduces: number; // all-reduce(max) calls for HQ scales
  gatherSeconds: number; // in gathers, HQ's rotate + encode included
  scatterSeconds: number;
}

interface Unit {
  index: number;
  float: UnitLayout; // gathered in f32/bf16
  quant: UnitLayout | null; // HQ-FSDP: the projection weights
  grads: UnitLayout; // parameters with gradients
}

export class FsdpModel implements CausalLM, TrainParallel {
  readonly inner: LlamaModel;
  readonly config: ModelConfig;
  readonly comm: Communicator;
  readonly mode: FsdpMode;
  readonly rank: number;
  readonly size: number;
  readonly traffic: FsdpTraffic = {
    gatheredWeightBytes: 0,
    gatheredOtherBytes: 0,
    scatteredGradBytes: 0,
    scaleReduces: 0,
    gatherSeconds: 0,
    scatterSeconds: 0,
  };
  private readonly specs = new Map<string, ShardSpec>();
  private readonly shards: Param[] = [];
  private readonly byName = new Map<string, Param>();
  private readonly units: Unit[] = []; // [0] root, [l + 1] decoder layer l
  private readonly format: QuantFormat | null;
  private readonly scales = new Map<number, Float32Array>();
  private scattered: boolean[] = [];
  private training = false;

  constructor(comm: Communicator, config: ModelConfig, weights: ReadonlyMap<string, Tensor>, opts: FsdpOptions) {
    this.comm = comm;
    this.rank = comm.rank;
    this.size = comm.size;
    this.mode = opts.mode;
    if (!(FSDP_MODES as readonly string[]).includes(opts.mode)) throw new HaloError('E_ARG', `unknown FSDP mode '${opts.mode}'; use ${FSDP_MODES.join(', ')}`);
    this.format = opts.mode === 'hq' ? hqFormat(opts.halo) : null;
    const hooks: BlockHooks = {
      before: (l, pass) => {
        if (pass === 'forward') this.gather(this.units[l + 1]);
        else if (this.training) this.allocateGrads(this.units[l + 1]);
      },
      after: (l, pass) => {
        if (pass === 'backward' && this.training) this.scatter(this.units[l + 1]);
      },
    };
    this.inner = new LlamaModel(config, weights, { halo: opts.halo, backend: opts.backend, trainable: opts.trainable, blockHooks: hooks });
    this.config = config;
    if (this.inner.adapters.size > 0) throw new HaloError('E_UNSUPPORTED', 'FSDP with PEFT adapters is not supported; fine-tune adapters in one process');
    for (const p of this.inner.parameters()) {
      if (!(p.data instanceof Float32Array)) throw new HaloError('E_DTYPE', `FSDP trains f32 parameters; ${p.name} is not f32`);
      const s = shardSpec(p.name, p.shape, this.size);
      this.specs.set(p.name, s);
      const shard: Param = {
        name: p.name,
        shape: p.shape.length === 2 ? [s.rowsPerRank, s.cols] : [s.rowsPerRank],
        data: sliceShard(p.data, s, this.rank),
        grad: p.grad ? new Float32Array(s.shardLen) : null,
      };
      this.shards.push(shard);
      this.byName.set(p.name, shard);
    }
    const L = config.num_hidden_layers;
    const blockOf = (name: string) => {
      const m = /^model\.layers\.(\d+)\./.exec(name);
      return m ? Number(m[1]) + 1 : 0;
    };
    const members: string[][] = Array.from({ length: L + 1 }, () => []);
    for (const p of this.shards) members[blockOf(p.name)].push(p.name);
    const projections = new Set<string>();
    for (let l = 0; l < L; l++) {
      const n = layerNames(l);
      for (const w of [n.q, n.k, n.v, n.o, n.gate, n.up, n.down]) projections.add(w);
    }
    members.forEach((names, index) => {
      const quantNames = this.format ? names.filter((n) => projections.has(n)) : [];
      const spec = (n: string) => this.specs.get(n)!;
      this.units.push({
        index,
        float: unitLayout(names.filter((n) => !quantNames.includes(n)).map(spec)),
        quant: quantNames.length ? unitLayout(quantNames.map(spec)) : null,
        grads: unitLayout(names.filter((n) => this.byName.get(n)!.grad !== null).map(spec)),
      });
    });
    // HQ-FSDP never reads the f32 working copies of the projection weights (the gathered 8-bit codes are
    // installed as their prepared weights before every use), so they are dropped: a rank holds those weights
    // only as its f32 master rows and, per layer in use, as 1-byte codes. (A stray use would fail loudly on the
    // empty array, E_SHAPE, instead of reading stale values.)
    if (this.format) for (const name of projections) this.inner.param(name).data = new Float32Array(0);
    // Whole-size gradient buffers exist per unit only while that unit's backward runs (allocateGrads/scatter).
    for (const u of this.units) this.releaseGrads(u);
  }

  /** This rank's shards (what the optimizer updates). */
  parameters(): readonly Param[] {
    return this.shards;
  }

  /** The trainer runs the backend's AdamW kernel on the shards, as on a whole model. */
  get nn(): LlamaModel['nn'] {
    return this.inner.nn;
  }

  forwardBackward(batch: Batch, gradScale: number): LossResult {
    this.gather(this.units[0]);
    this.allocateGrads(this.units[0]);
    this.scattered = this.units.map(() => false);
    this.training = true;
    let r: LossResult;
    try {
      r = this.inner.forwardBackward(batch, gradScale);
    } finally {
      this.training = false;
    }
    // A rank whose micro-batch had no loss tokens skipped its backward; it still takes part (with zeros).
    for (let u = this.units.length - 1; u >= 1; u--) {
      if (this.scattered[u]) continue;
      this.allocateGrads(this.units[u]);
      this.scatter(this.units[u]);
    }
    this.scatter(this.units[0]);
    return r;
  }

  loss(batch: Batch): LossResult {
    this.gather(this.units[0]);
    return this.inner.loss(batch);
  }

  weightsChanged(): void {
    this.scales.clear();
    this.inner.weightsChanged();
  }

  /** The whole f32 master weights (collective: every rank must call it). */
  stateDict(): Map<string, Tensor> {
    const whole = this.unshard(new Map(this.shards.map((p) => [p.name, p.data])));
    return new Map([...whole].map(([n, a]) => [n, new Tensor(this.specs.get(n)!.shape, 'f32', a)]));
  }

  // ---- TrainParallel

  wholeShape(name: string): readonly number[] {
    return this.specs.get(name)!.shape;
  }

  sum(values: Float64Array): void {
    this.comm.allReduce(values, 'sum');
  }

  barrier(): void {
    this.comm.barrier();
  }

  unshard(shards: ReadonlyMap<string, FloatArray>): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, shard] of shards) {
      const s = this.spec(name);
      if (shard.length !== s.shardLen) throw new HaloError('E_SHAPE', `${name}: a shard of ${shard.length} values, expected ${s.shardLen}`);
      const all = new Float32Array(s.shardLen * this.size);
      this.comm.allGather(shard instanceof Float32Array ? shard : Float32Array.from(shard), all);
      out.set(name, all.slice(0, s.rows * s.cols));
    }
    return out;
  }

  shard(whole: ReadonlyMap<string, FloatArray>): Map<string, Float32Array> {
    return new Map([...whole].map(([name, a]) => [name, sliceShard(a, this.spec(name), this.rank)]));
  }

  private spec(name: string): ShardSpec {
    const s = this.specs.get(name);
    if (!s) throw new HaloError('E_ARG', `FSDP: no parameter named ${name}`);
    return s;
  }

  // ---- collectives per unit

  private gather(u: Unit): void {
    const t0 = performance.now();
    this.gatherFloat(u);
    if (u.quant) this.gatherQuant(u, u.quant);
    this.traffic.gatherSeconds += (performance.now() - t0) / 1000;
  }

  private gatherFloat(u: Unit): void {
    const lay = u.float;
    if (lay.specs.length === 0) return;
    const shards = lay.specs.map((s) => this.byName.get(s.name)!.data);
    const fulls = lay.specs.map((s) => this.inner.param(s.name).data as Float32Array);
    let gathered: Float32Array;
    if (this.mode === 'bf16') {
      const send = encodeBf16Array(packShards(lay, shards, new Float32Array(lay.length)));
      const recv = new Uint16Array(lay.length * this.size);
      this.comm.allGather(send, recv);
      this.count(u, recv.byteLength);
      gathered = decodeBf16Array(recv);
    } else {
      const send = packShards(lay, shards, new Float32Array(lay.length));
      gathered = new Float32Array(lay.length * this.size);
      this.comm.allGather(send, gathered);
      this.count(u, gathered.byteLength);
    }
    unpackGathered(lay, gathered, this.size, fulls);
  }

  /** Traffic bookkeeping: a layer's 2-D tensors are its projection weights, its 1-D ones norms and biases. */
  private count(u: Unit, bytes: number): void {
    if (u.index === 0 || u.quant) {
      this.traffic.gatheredOtherBytes += bytes;
      return;
    }
    const weightElems = u.float.specs.filter((s) => s.shape.length === 2).reduce((a, s) => a + s.shardLen, 0);
    const weightBytes = (bytes * weightElems) / u.float.length;
    this.traffic.gatheredWeightBytes += weightBytes;
    this.traffic.gatheredOtherBytes += bytes - weightBytes;
  }

  private gatherQuant(u: Unit, lay: UnitLayout): void {
    const cfg = this.inner.halo;
    const be = this.inner.be;
    const format = this.format!;
    const rotated = lay.specs.map((s) => rotateRows(be, weightPlan(cfg, s.cols), this.byName.get(s.name)!.data as Float32Array, s.rowsPerRank, s.cols));
    let scales = this.scales.get(u.index);
    if (!scales) {
      const absmax = Float32Array.from(rotated, absmaxOrInf);
      this.comm.allReduce(absmax, 'max');
      this.traffic.scaleReduces++;
      scales = Float32Array.from(lay.specs, (s, i) => globalScale(format, absmax[i], s.name));
      this.scales.set(u.index, scales);
    }
    const send = new Uint8Array(lay.length);
    lay.specs.forEach((s, i) => encodeWithScale(format, rotated[i], scales![i], send.subarray(lay.offsets[i], lay.offsets[i] + s.shardLen)));
    const recv = new Uint8Array(lay.length * this.size);
    this.comm.allGather(send, recv);
    this.traffic.gatheredWeightBytes += recv.byteLength;
    const fulls = lay.specs.map((s) => new Uint8Array(s.rows * s.cols));
    unpackGathered(lay, recv, this.size, fulls);
    lay.specs.forEach((s, i) => this.inner.setPreparedWeight(s.name, preparedFromCodes(be, cfg, format, fulls[i], s.rows, s.cols, scales![i])));
  }

  private scatter(u: Unit): void {
    this.scattered[u.index] = true;
    const lay = u.grads;
    if (lay.specs.length === 0) return;
    const t0 = performance.now();
    const grads = lay.specs.map((s) => this.inner.param(s.name).grad!);
    const send = packForScatter(lay, grads, this.size, new Float32Array(lay.length * this.size));
    const recv = new Float32Array(lay.length);
    this.comm.reduceScatter(send, recv, 'sum');
    this.traffic.scatteredGradBytes += send.byteLength;
    lay.specs.forEach((s, i) => {
      const g = this.byName.get(s.name)!.grad!;
      const off = lay.offsets[i];
      for (let k = 0; k < s.shardLen; k++) g[k] += recv[off + k];
    });
    this.releaseGrads(u);
    this.traffic.scatterSeconds += (performance.now() - t0) / 1000;
  }

  /** Fresh zero gradient buffers for a unit's parameters, for the backward that is about to run. */
  private allocateGrads(u: Unit): void {
    for (const s of u.grads.specs) this.inner.param(s.name).grad = new Float32Array(s.rows * s.cols);
  }

  /** Drops a unit's whole-size gradient buffers (an empty array; nothing writes to it outside allocate…scatter). */
  private releaseGrads(u: Unit): void {
    for (const s of u.grads.specs) this.inner.param(s.name).grad = NO_GRAD;
  }
}
