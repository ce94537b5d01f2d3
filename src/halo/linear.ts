// The HALO linear layer: Y = X·Wᵀ, E_X = E_Y·W, G = E_Yᵀ·X with every operand rotated and quantized as the
// level and format say (spec §5). Rotations are orthonormal (Ĥ = (H_K ⊗ H_2^p)/√n), so with quantization off
// every level computes exactly the three plain matmuls; with it on, the right rotation spreads X's channel
// outliers (HALO-1/2) and the left, token-dimension rotation spreads E_Y's token outliers (HALO-2).
//
//   level   forward                 input gradient E_X                 weight gradient G
//   halo0   X_Q W_Qᵀ                (E_Y)_Q W_Q                        (E_Yᵀ)_Q X_Q
//   halo1   (XĤᵀ)_Q (WĤᵀ)_Qᵀ        (E_Y)_Q (WĤᵀ)_Q · Ĥ                (E_Yᵀ)_Q (XĤᵀ)_Q · Ĥ
//   halo2   (XĤᵀ)_Q (WĤᵀ)_Qᵀ        Ĥ_bᵀ (Ĥ_b E_Y)_Q (WĤᵀ)_Q · Ĥ       as halo1
//
// and the two baselines of HALO's reference code (spec §10; config.ts RECIPES), with their own scales
// (r: one per row, t: one per tensor, 32: one per 32×32 tile) and no rotations:
//   switchback   X_Q^r W_Q^tᵀ             (E_Y)_Q^r W_Q^t                    bf16(E_Y)ᵀ bf16(X), f32 sum
//   jetfire      (X_Q^32 W_Q^32ᵀ)_Q^32    ((E_Y)_Q^32 W_Q^32)_Q^32           (E_Y)_Q^32ᵀ X_Q^32, dequantized
//
// Only the 8-bit (X̃)_Q and (W̃)_Q and their scales are saved for backward, never the float X (the paper's
// "quantized activations for memory reduction"; SwitchBack alone saves bf16(X), for its G), each in ONE
// layout: the backward's GEMMs read W̃ as the [out, in] matrix it is (E_X = E_Y·W̃) and X̃ and E_Y
// transposed in place (G = E_Yᵀ·X̃) through the backend's operand layouts, with no transposed copies.
// Per-row scales that would run along a GEMM's contraction dimension cannot be factored out of the integer
// sum (operand.ts), so with granularity 'row'/'block32' those operands go through the dequantized
// (simulated) path exactly as before, and the weight gradient's E_Y keeps its per-output-channel scales
// (quantized as E_Yᵀ; 32×32 tiles mean the same for E_Y and E_Yᵀ, so 'tile32' quantizes E_Y once for both
// backward GEMMs). Unlike HALO's code, token counts with no Hadamard matrix are zero-padded for HALO-2's left
// rotation (exact: padded rows are zero and are dropped after undoing it), and channel sizes with no
// Hadamard matrix fall back to a block-diagonal rotation.
//
// Row scales of SwitchBack's X and E_Y sit on the GEMM's output rows, so its forward and input gradient stay
// integer GEMMs; Jetfire's tile scales run along the contraction dimension too, so its GEMMs take the
// dequantized path (its real kernels rescale per 32-wide K block inside the GEMM, which no backend GEMM
// here does), and its Y and E_X are fake-quantized as its simulated version does.
//
// cfg.passes = 'forward' | 'backward' (analysis only, the paper's Figure 2) quantizes one pass and runs the
// other in plain FP32: the weight and input are then prepared twice, once per pass's configuration.
import type { Backend, FloatTensor, Rotation } from '../backend/backend.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import { decompose, planHadamard, type HadamardPlan } from '../hadamard/index.ts';
import { operandFormat, operandGranularity, passConfig, RECIPES, type HaloConfig } from './config.ts';
import { floatOperand, gemm, operandBytes, quantOperand, type Operand } from './operand.ts';

/** A weight made ready for the GEMMs once (per optimizer step, or once for a frozen PEFT base). */
export interface PreparedWeight {
  outFeatures: number;
  inFeatures: number;
  plan: HadamardPlan | null; // the in_features rotation of the forward, when its level rotates
  backPlan: HadamardPlan | null; // the backward's (the same object unless cfg.passes splits the passes)
  w: Operand; // (WĤᵀ)_Q [out, in]: B of the forward (read as Wᵀ) and of the input gradient (as W)
  wBack?: Operand; // the backward's own (WĤᵀ)_Q [out, in] when cfg.passes splits the passes
}

/** What the forward saves for the backward. */
export interface LinearSaved {
  x: Operand; // (XĤᵀ)_Q [b, in]; bf16(X) for a recipe with a BF16 weight gradient (SwitchBack)
  weight: PreparedWeight;
  tokens: number;
}

export interface LinearGrads {
  dx: FloatTensor | null; // E_X [b, in]
  dw: FloatTensor | null; // G [out, in]
}

export function prepareWeight(be: Backend, cfg: HaloConfig, w: FloatTensor /* [out, in] */): PreparedWeight {
  const [outF, inF] = w.dims2('weight');
  const fwd = passConfig(cfg, 'forward');
  const bwd = passConfig(cfg, 'backward');
  const plan = rightPlan(fwd, inF);
  const wq = quantize(be, fwd, 'w', w, rightRotation(plan));
  if (fwd === bwd) return { outFeatures: outF, inFeatures: inF, plan, backPlan: plan, w: wq };
  const backPlan = rightPlan(bwd, inF);
  return { outFeatures: outF, inFeatures: inF, plan, backPlan, w: wq, wBack: quantize(be, bwd, 'w', w, rightRotation(backPlan)) };
}

/** Bytes a prepared weight holds (codes + scales of each operand kept; one layout each). */
export function preparedWeightBytes(w: PreparedWeight): number {
  return operandBytes(w.w) + (w.wBack ? operandBytes(w.wBack) : 0);
}

function rightPlan(cfg: HaloConfig, inF: number): HadamardPlan | null {
  return RECIPES[cfg.level].rightXW ? planHadamard(inF, { block: cfg.hadamardBlock }) : null;
}

function rightRotation(plan: HadamardPlan | null): Rotation | null {
  return plan ? { plan, side: 'right', transpose: false } : null;
}

/** A layer input rotated and quantized once; several linears that read the same X (q/k/v, gate/up) share it. */
export interface PreparedInput {
  x: Operand; // (XĤᵀ)_Q [b, in]
  xBack?: Operand; // the backward's own copy when cfg.passes splits the passes, or SwitchBack's bf16(X)
  tokens: number;
  inFeatures: number;
  plan: HadamardPlan | null;
}

export function prepareInput(be: Backend, cfg: HaloConfig, x: FloatTensor /* [b, in] */, weight: PreparedWeight): PreparedInput {
  const [b, inF] = x.dims2('linear input');
  if (inF !== weight.inFeatures) {
    throw new HaloError(
      'E_SHAPE',
      `linear input has ${inF} features but the weight expects ${weight.inFeatures} (weight [${weight.outFeatures}, ${weight.inFeatures}])`,
    );
  }
  const fwd = passConfig(cfg, 'forward');
  const bwd = passConfig(cfg, 'backward');
  const xq = quantize(be, fwd, 'x', x, rightRotation(weight.plan));
  const xBack = fwd === bwd && !bf16WeightGrad(bwd) ? undefined : savedInput(be, bwd, x, rightRotation(weight.backPlan));
  return { x: xq, xBack, tokens: b, inFeatures: inF, plan: weight.plan };
}

/** SwitchBack's weight gradient: E_Y and X cast to bf16, f32 accumulation (a float config keeps its floats). */
function bf16WeightGrad(cfg: HaloConfig): boolean {
  return RECIPES[cfg.level].weightGrad === 'bf16' && operandFormat(cfg) !== null;
}

/** The X the backward multiplies with: its 8-bit codes, or bf16(X) where the weight gradient is BF16. */
function savedInput(be: Backend, cfg: HaloConfig, x: FloatTensor, rot: Rotation | null): Operand {
  if (!bf16WeightGrad(cfg)) return quantize(be, cfg, 'x', x, rot);
  return quantOperand(be.rotateQuantize(x, rot, 'bf16', 'tensor'));
}

export function linearForward(
  be: Backend,
  cfg: HaloConfig,
  input: FloatTensor /* [b, in] */ | PreparedInput,
  weight: PreparedWeight,
): { y: FloatTensor /* [b, out] */; saved: LinearSaved } {
  const xin = 'x' in input ? input : prepareInput(be, cfg, input, weight);
  if (xin.inFeatures !== weight.inFeatures || !samePlan(xin.plan, weight.plan)) {
    throw new HaloError(
      'E_SHAPE',
      `a prepared input of ${xin.inFeatures} features does not fit weight [${weight.outFeatures}, ${weight.inFeatures}] (or was rotated differently)`,
    );
  }
  const y = gemm(be, xin.x, weight.w, { bT: true, emulate: cfg.emulate }); // X̃ W̃ᵀ  [b, out]
  return { y: requantize(be, passConfig(cfg, 'forward'), y), saved: { x: xin.xBack ?? xin.x, weight, tokens: xin.tokens } };
}

function samePlan(a: HadamardPlan | null, b: HadamardPlan | null): boolean {
  return a === b || (a !== null && b !== null && a.n === b.n && a.block === b.block && a.K === b.K);
}

/**
 * Whether linears that read one prepared input may sum their input gradients before the backward's undo
 * rotations (finishInputGrad): the undo (Ĥ_bᵀ·, row slice, ·Ĥ) is linear, so Σ undo(Pᵢ) = undo(Σ Pᵢ) and q/k/v
 * (gate/up) pay one undo instead of three (two). Not where the recipe re-quantizes E_X (Jetfire), which is not
 * linear. The sum is taken in the rotated basis, so its f32 roundings differ from summing undone gradients.
 * False where the backward rotates nothing (FP32, HALO-0): there is nothing to save.
 */
export function canSumRotatedInputGrads(cfg: HaloConfig): boolean {
  const bwd = passConfig(cfg, 'backward');
  const recipe = RECIPES[bwd.level];
  return (recipe.rightXW || recipe.leftEY) && (recipe.requantOut === null || operandFormat(bwd) === null);
}

/**
 * need.rotatedDx: return dx as the input-gradient GEMM left it — [bp, in] in HALO-2's token-rotated and
 * channel-rotated basis, [b, in] channel-rotated for HALO-1 — for the caller to sum with the other linears
 * of the same prepared input and pass to finishInputGrad once (canSumRotatedInputGrads must hold).
 */
export function linearBackward(
  be: Backend,
  cfg: HaloConfig,
  saved: LinearSaved,
  ey: FloatTensor /* [b, out] */,
  need: { dx: boolean; dw: boolean; rotatedDx?: boolean } = { dx: true, dw: true },
): LinearGrads {
  const [b, outF] = ey.dims2('output gradient');
  const { weight } = saved;
  if (b !== saved.tokens || outF !== weight.outFeatures) {
    throw new HaloError('E_SHAPE', `output gradient is [${b}, ${outF}] but the forward produced [${saved.tokens}, ${weight.outFeatures}]`);
  }
  const bwd = passConfig(cfg, 'backward');
  const recipe = RECIPES[bwd.level];
  const undoRight: Rotation | null = weight.backPlan ? { plan: weight.backPlan, side: 'right', transpose: true } : null;
  const w = weight.wBack ?? weight.w; // [out, in]
  const emulate = cfg.emulate;
  let dx: FloatTensor | null = null;
  let dw: FloatTensor | null = null;
  // E_Y quantized as it is [b, out]: the input gradient's A, and with one scale per tensor also the weight
  // gradient's (read as E_Yᵀ), since quantizing E_Yᵀ would give the same codes.
  let eq: Operand | null = null;

  if (need.dx) {
    if (recipe.leftEY) {
      // HALO-2: rotate E_Y over its tokens before quantizing, undo after the GEMM (finishInputGrad).
      const plan = tokenPlan(b);
      const eyPadded = padRows(ey, plan.n);
      const heq = quantize(be, bwd, 'ey', eyPadded, { plan, side: 'left', transpose: false });
      dx = gemm(be, heq, w, { emulate }); // Ĥ_b E_Y W Ĥᵀ  [bp, in]
    } else {
      eq = quantize(be, bwd, 'ey', ey, null);
      dx = gemm(be, eq, w, { emulate }); // E_Y W Ĥᵀ      [b, in]
    }
    if (need.rotatedDx) {
      if (!canSumRotatedInputGrads(cfg))
        throw new HaloError('E_ARG', `linearBackward: ${bwd.level} re-quantizes E_X, so its input gradient has no rotated form to sum`);
    } else dx = finishInputGrad(be, cfg, saved, dx);
  }

  if (need.dw) {
    // G = (E_Yᵀ)_Q (XĤᵀ)_Q · Ĥ: both operands enter with the tokens as the contraction dimension, read
    // transposed in place. Per-row scales of E_Y would be per token, along that dimension: those quantize
    // E_Yᵀ [out, b] instead (scales per output channel, as always), and X̃'s per-token scales take the
    // dequantized path inside gemm. Per-tensor and 32×32-tile scales mean the same for E_Y and E_Yᵀ.
    const g = operandGranularity(bwd, 'ey');
    if (bf16WeightGrad(bwd)) {
      const eb = quantOperand(be.rotateQuantize(ey, null, 'bf16', 'tensor')); // bf16(E_Y)     [b, out]
      dw = gemm(be, eb, saved.x, { aT: true, emulate }); // bf16(E_Y)ᵀ bf16(X)
    } else if (operandFormat(bwd) === null || g === 'tensor' || g === 'tile32') {
      eq ??= quantize(be, bwd, 'ey', ey, null); // (E_Y)_Q       [b, out]
      dw = gemm(be, eq, saved.x, { aT: true, emulate }); //               [out, in]
    } else {
      const eyT = quantize(be, bwd, 'ey', ey, null, true); // (E_Yᵀ)_Q      [out, b]
      dw = gemm(be, eyT, saved.x, { emulate });
    }
    if (undoRight) dw = be.rotate(dw, undoRight);
  }
  return { dx, dw };
}

/**
 * The input gradient from what the input-gradient GEMM made (one linear's, or the sum over linears that share
 * a prepared input): undo HALO-2's token rotation and drop its padded rows, undo the channel rotation, and
 * re-quantize where the recipe does. E_X [b, in].
 */
export function finishInputGrad(be: Backend, cfg: HaloConfig, saved: LinearSaved, gemmOut: FloatTensor): FloatTensor {
  const bwd = passConfig(cfg, 'backward');
  const backPlan = saved.weight.backPlan;
  let dx = gemmOut;
  if (RECIPES[bwd.level].leftEY) {
    const plan = tokenPlan(saved.tokens);
    dx = sliceRows(be.rotate(dx, { plan, side: 'left', transpose: true }), saved.tokens); // E_Y W Ĥᵀ  [b, in]
  }
  if (backPlan) dx = be.rotate(dx, { plan: backPlan, side: 'right', transpose: true });
  return requantize(be, bwd, dx);
}

/** Bytes saved for backward by one forward (the activation part; the weight is shared across calls). */
export function savedActivationBytes(saved: LinearSaved): number {
  return operandBytes(saved.x);
}

function quantize(be: Backend, cfg: HaloConfig, operand: 'x' | 'w' | 'ey', x: FloatTensor, rot: Rotation | null, transposeOut = false): Operand {
  const format = operandFormat(cfg);
  if (format === null) {
    const r = rot ? be.rotate(x, rot) : x;
    return floatOperand(transposeOut ? be.transpose(r) : r);
  }
  const unitScale = RECIPES[cfg.level].unitScale;
  return quantOperand(be.rotateQuantize(x, rot, format, operandGranularity(cfg, operand), { transposeOut, unitScale }));
}

/** A GEMM output fake-quantized where the recipe re-quantizes its outputs (Jetfire's Y and E_X), else itself. */
function requantize(be: Backend, cfg: HaloConfig, t: FloatTensor): FloatTensor {
  const format = operandFormat(cfg);
  const g = RECIPES[cfg.level].requantOut;
  if (format === null || g === null) return t;
  return be.dequantize(be.rotateQuantize(t, null, format, g), t.dtype);
}

/**
 * The token rotation of HALO-2 for b tokens: the smallest size ≥ b whose Hadamard factor K is small, so the
 * rotation stays an FWHT plus a cheap K×K mix (a large K such as 468 for 936 tokens would cost K² per column);
 * powers of two always qualify, so at most 2× padding. Zero rows pad the rest.
 */
const MAX_TOKEN_K = 64;
const tokenPlans = new Map<number, HadamardPlan>();
export function tokenPlan(b: number): HadamardPlan {
  let plan = tokenPlans.get(b);
  if (!plan) {
    let m = b;
    for (;;) {
      const d = decompose(m);
      if (d && d.K <= MAX_TOKEN_K) break;
      m++;
    }
    plan = planHadamard(m, { block: 'full' });
    tokenPlans.set(b, plan);
  }
  return plan;
}

function padRows(x: FloatTensor, rows: number): FloatTensor {
  const [r, c] = x.dims2();
  if (r === rows) return x;
  const out = Tensor.zeros([rows, c], x.dtype) as FloatTensor;
  out.data.set(x.data);
  return out;
}

function sliceRows(x: FloatTensor, rows: number): FloatTensor {
  const [r, c] = x.dims2();
  if (r === rows) return x;
  return new Tensor([rows, c], x.dtype, x.data.slice(0, rows * c)) as FloatTensor;
}
