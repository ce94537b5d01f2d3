// The native backend's NnKernels: the addon's f32 kernels (native/src/nn_*.cc) for the model's element-wise
// ops, attention and AdamW, agreeing with src/nn/ops and src/optim element for element (bit-identical except
// where a row sum is reduced in a different order; see nn.h). Once the GEMMs run in oneDNN these loops are a
// large share of a training step (a 32k-vocabulary cross-entropy alone is two exp passes over [tokens, 32000]).
//
// Each wrapper runs the reference's own argument checks (same HaloError codes and messages) before calling the
// addon, and hands f64 arrays (finite-difference gradient checks) to the reference.
import type { NnKernels } from '../nn-kernels.ts';
import { nativeAttention } from './attention.ts';
import { callAddon as call, NATIVE_NN_FUNCTIONS, type NativeAddon, type NativeNnAddon } from './binding.ts';
import type { FloatArray } from '../../core/dtype.ts';
import { HaloError } from '../../core/errors.ts';
import { checkDims, checkLen, checkSameFloat, outBuffer } from '../../nn/ops/check.ts';
import { checkCrossEntropyArgs, checkCrossEntropyBackwardArgs, crossEntropyBackward, crossEntropyForward, IGNORE_INDEX } from '../../nn/ops/cross-entropy.ts';
import { add, addInPlace } from '../../nn/ops/elementwise.ts';
import { checkTokenIds, embeddingBackward, embeddingForward } from '../../nn/ops/embedding.ts';
import {
  addRmsnormForward,
  checkAddRmsnormArgs,
  checkRmsnormBackwardAddArgs,
  checkRmsnormBackwardArgs,
  checkRmsnormForwardArgs,
  rmsnormBackward,
  rmsnormBackwardAdd,
  rmsnormForward,
} from '../../nn/ops/rmsnorm.ts';
import { checkRopeArgs, ropeBackward, ropeForward } from '../../nn/ops/rope.ts';
import { swigluBackward, swigluForward } from '../../nn/ops/swiglu.ts';
import { adamwUpdate, type AdamWHyper } from '../../optim/adamw.ts';
import { adamwBlockUpdate, checkQuantizedMoments } from '../../optim/adamw8bit.ts';

/** Whether the loaded addon has every kernel (an addon built before they existed does not). */
export function hasNnKernels(a: NativeAddon): a is NativeAddon & NativeNnAddon {
  const fns = a as unknown as Record<string, unknown>;
  return NATIVE_NN_FUNCTIONS.every((f) => typeof fns[f] === 'function');
}

const isF32 = (a: FloatArray): a is Float32Array => a instanceof Float32Array;
const f32 = (a: FloatArray) => a as Float32Array; // after checkSameFloat against an f32 array

export function makeNativeKernels(lib: NativeNnAddon): NnKernels {
  const rms: typeof rmsnormForward = (x, w, N, C, eps, out = {}) => {
    if (!isF32(x)) return rmsnormForward(x, w, N, C, eps, out);
    const op = 'rmsnormForward';
    checkRmsnormForwardArgs(x, w, N, C);
    const y = f32(outBuffer(op, 'y', out.y, x, N * C, '[N, C]'));
    const rstd = f32(outBuffer(op, 'rstd', out.rstd, x, N, '[N]'));
    call(() => lib.rmsnormForward(x, f32(w), N, C, eps, y, rstd));
    return { y, rstd };
  };

  const rmsBack: typeof rmsnormBackward = (dy, x, w, rstd, N, C, dw, dx) => {
    if (!isF32(x)) return rmsnormBackward(dy, x, w, rstd, N, C, dw, dx);
    const op = 'rmsnormBackward';
    checkRmsnormBackwardArgs(dy, x, w, rstd, N, C, dw);
    const g = f32(outBuffer(op, 'dx', dx, x, N * C, '[N, C]'));
    call(() => lib.rmsnormBackward(f32(dy), x, f32(w), f32(rstd), N, C, dw ? f32(dw) : null, g));
    return g;
  };

  const addRms: typeof addRmsnormForward = (a, b, w, N, C, eps, out = {}) => {
    if (!isF32(a)) return addRmsnormForward(a, b, w, N, C, eps, out);
    const op = 'addRmsnormForward';
    checkAddRmsnormArgs(a, b, w, N, C, out);
    const x = f32(outBuffer(op, 'x', out.x, a, N * C, '[N, C]'));
    const y = f32(outBuffer(op, 'y', out.y, a, N * C, '[N, C]'));
    const rstd = f32(outBuffer(op, 'rstd', out.rstd, a, N, '[N]'));
    call(() => lib.addRmsnormForward(a, f32(b), f32(w), N, C, eps, x, y, rstd));
    return { x, y, rstd };
  };

  const rmsBackAdd: typeof rmsnormBackwardAdd = (dy, x, w, rstd, N, C, dw, res, dx) => {
    if (!isF32(x)) return rmsnormBackwardAdd(dy, x, w, rstd, N, C, dw, res, dx);
    const op = 'rmsnormBackwardAdd';
    checkRmsnormBackwardAddArgs(dy, x, w, rstd, N, C, dw, res);
    const g = f32(outBuffer(op, 'dx', dx, x, N * C, '[N, C]'));
    call(() => lib.rmsnormBackwardAdd(f32(dy), x, f32(w), f32(rstd), N, C, dw ? f32(dw) : null, f32(res), g));
    return g;
  };

  const rope = (op: string, sign: 1 | -1, x: FloatArray, cos: FloatArray, sin: FloatArray, N: number, H: number, D: number, out?: FloatArray) => {
    checkRopeArgs(op, x, cos, sin, N, H, D);
    const y = f32(outBuffer(op, 'out', out, x, N * H * D, '[N, H, D]'));
    call(() => lib.ropeRotate(f32(x), f32(cos), f32(sin), N, H, D, sign, y));
    return y;
  };
  const ropeFwd: typeof ropeForward = (x, cos, sin, N, H, D, out) =>
    isF32(x) ? rope('ropeForward', 1, x, cos, sin, N, H, D, out) : ropeForward(x, cos, sin, N, H, D, out);
  const ropeBwd: typeof ropeBackward = (dout, cos, sin, N, H, D, dx) =>
    isF32(dout) ? rope('ropeBackward', -1, dout, cos, sin, N, H, D, dx) : ropeBackward(dout, cos, sin, N, H, D, dx);

  const swiFwd: typeof swigluForward = (gate, up, out) => {
    if (!isF32(gate)) return swigluForward(gate, up, out);
    const op = 'swigluForward';
    const n = gate.length;
    checkLen(op, 'up', up, n, "gate's shape");
    checkSameFloat(op, gate, { up });
    const h = f32(outBuffer(op, 'out', out, gate, n, "gate's shape"));
    call(() => lib.swigluForward(gate, f32(up), h));
    return h;
  };

  const swiBwd: typeof swigluBackward = (dh, gate, up, buffers = {}) => {
    if (!isF32(gate)) return swigluBackward(dh, gate, up, buffers);
    const op = 'swigluBackward';
    const n = gate.length;
    checkLen(op, 'dh', dh, n, "gate's shape");
    checkLen(op, 'up', up, n, "gate's shape");
    checkSameFloat(op, gate, { dh, up });
    const dgate = f32(outBuffer(op, 'dgate', buffers.dgate, gate, n, "gate's shape"));
    const dup = f32(outBuffer(op, 'dup', buffers.dup, gate, n, "gate's shape"));
    call(() => lib.swigluBackward(f32(dh), gate, f32(up), dgate, dup));
    return { dgate, dup };
  };

  const ceFwd: typeof crossEntropyForward = (logits, targets, N, V, opts = {}, lseOut) => {
    if (!isF32(logits)) return crossEntropyForward(logits, targets, N, V, opts, lseOut);
    const op = 'crossEntropyForward';
    checkCrossEntropyArgs(op, logits, targets, N, V, opts);
    const lse = f32(outBuffer(op, 'lse', lseOut, logits, N, '[N]'));
    const { lossSum, count } = call(() => lib.crossEntropyForward(logits, targets, N, V, opts.ignoreIndex ?? IGNORE_INDEX, opts.mask ?? null, lse));
    if (!Number.isFinite(lossSum)) {
      throw new HaloError('E_NUMERIC', `${op}: loss is ${lossSum}; the logits contain NaN or ±Infinity (check the learning rate or the input data)`);
    }
    return { loss: count > 0 ? lossSum / count : 0, lossSum, count, lse };
  };

  const ceBwd: typeof crossEntropyBackward = (logits, targets, lse, N, V, opts = {}, dlogits) => {
    if (!isF32(logits)) return crossEntropyBackward(logits, targets, lse, N, V, opts, dlogits);
    const op = 'crossEntropyBackward';
    const { ignore, mask, norm } = checkCrossEntropyBackwardArgs(op, logits, targets, lse, N, V, opts);
    const g = f32(outBuffer(op, 'dlogits', dlogits, logits, N * V, '[N, V]'));
    const inv = norm > 0 ? 1 / norm : 0;
    call(() => lib.crossEntropyBackward(logits, targets, f32(lse), N, V, ignore, mask, inv, g));
    return g;
  };

  const embFwd: typeof embeddingForward = (ids, wte, V, C, out) => {
    if (!isF32(wte)) return embeddingForward(ids, wte, V, C, out);
    const op = 'embeddingForward';
    checkDims(op, { V, C });
    checkLen(op, 'wte', wte, V * C, '[V, C]');
    checkTokenIds(op, ids, V);
    const y = f32(outBuffer(op, 'out', out, wte, ids.length * C, '[N, C]'));
    call(() => lib.embeddingForward(ids, wte, V, C, y));
    return y;
  };

  const embBwd: typeof embeddingBackward = (dout, ids, dwte, V, C) => {
    if (!isF32(dout)) return embeddingBackward(dout, ids, dwte, V, C);
    const op = 'embeddingBackward';
    checkDims(op, { V, C });
    checkLen(op, 'dout', dout, ids.length * C, '[N, C]');
    checkLen(op, 'dwte', dwte, V * C, '[V, C]');
    checkSameFloat(op, dout, { dwte });
    checkTokenIds(op, ids, V);
    call(() => lib.embeddingBackward(dout, ids, f32(dwte), V, C));
  };

  const adamw: typeof adamwUpdate = (param, grad, m, v, t, h: AdamWHyper) => {
    if (!isF32(param) || !isF32(grad) || !isF32(m) || !isF32(v)) return adamwUpdate(param, grad, m, v, t, h);
    const n = param.length;
    if (grad.length !== n || m.length !== n || v.length !== n) {
      throw new HaloError('E_SHAPE', `adamwUpdate: param has ${n} values but grad, m, v have ${grad.length}, ${m.length}, ${v.length}`);
    }
    // The step scalars exactly as the reference computes them (JS doubles), so both paths use the same values.
    const { lr, beta1, beta2, eps, weightDecay } = h;
    const decay = 1 - lr * weightDecay;
    const stepSize = lr / (1 - Math.pow(beta1, t));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, t));
    call(() => lib.adamwUpdate(param, grad, m, v, beta1, beta2, 1 - beta1, 1 - beta2, decay, stepSize, bc2Sqrt, eps));
  };

  const blockUpdate: typeof adamwBlockUpdate = (param, grad, q, block, t, h, maps) => {
    const native8 = lib.adamw8bitUpdate;
    if (!native8 || !isF32(param) || !isF32(grad)) return adamwBlockUpdate(param, grad, q, block, t, h, maps);
    const n = param.length;
    if (grad.length !== n) throw new HaloError('E_SHAPE', `adamwBlockUpdate: param has ${n} values but grad has ${grad.length}`);
    checkQuantizedMoments('adamwBlockUpdate', n, q, block);
    const { lr, beta1, beta2, eps, weightDecay } = h;
    const decay = 1 - lr * weightDecay;
    const stepSize = lr / (1 - Math.pow(beta1, t));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, t));
    call(() =>
      native8.call(lib, param, grad, q.m, q.v, q.mScale, q.vScale, maps.m, maps.v, block, beta1, beta2, 1 - beta1, 1 - beta2, decay, stepSize, bc2Sqrt, eps),
    );
  };

  const addInto = (dst: FloatArray, src: FloatArray): void => {
    if (!isF32(dst)) return addInPlace(dst, src);
    checkLen('addInPlace', 'src', src, dst.length, "dst's shape");
    checkSameFloat('addInPlace', dst, { src });
    call(() => lib.addInto(dst, f32(src)));
  };

  const addFn = (a: FloatArray, b: FloatArray, out?: FloatArray): FloatArray => {
    if (!isF32(a)) return add(a, b, out);
    checkLen('add', 'b', b, a.length, "a's shape");
    checkSameFloat('add', a, { b });
    const y = f32(outBuffer('add', 'out', out, a, a.length, "a's shape"));
    call(() => lib.add(a, f32(b), y));
    return y;
  };

  return Object.freeze({
    name: 'native',
    rmsnormForward: rms,
    rmsnormBackward: rmsBack,
    addRmsnormForward: addRms,
    rmsnormBackwardAdd: rmsBackAdd,
    ropeForward: ropeFwd,
    ropeBackward: ropeBwd,
    swigluForward: swiFwd,
    swigluBackward: swiBwd,
    crossEntropyForward: ceFwd,
    crossEntropyBackward: ceBwd,
    embeddingForward: embFwd,
    embeddingBackward: embBwd,
    adamwUpdate: adamw,
    adamwBlockUpdate: blockUpdate,
    addInto,
    add: addFn,
    ...nativeAttention(lib),
  });
}
