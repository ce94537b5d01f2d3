// The backend registry (src/backend/registry.ts): adding a backend is one folder plus one registration line.
// This file is that folder: a backend that wraps the reference one and counts its calls, registered here and
// nowhere else, then picked by name (getBackend, HALO_BACKEND) to run a tiny model's training step, which must
// call it and give the reference backend's results bit for bit. Also: a registration that supplies its own
// NnKernels gets them from nnKernels(); unknown names, taken names and an unavailable backend.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/backend.ts';
import { nnKernels, referenceNnKernels, type NnKernels } from '../../src/backend/nn-kernels.ts';
import { referenceBackend } from '../../src/backend/reference/index.ts';
import { backendNames, getBackend, registerBackend } from '../../src/backend/select.ts';
import { HALO_OPTIONS } from '../../src/cli/halo-options.ts';
import { HaloError } from '../../src/core/errors.ts';
import { haloConfig } from '../../src/halo/config.ts';
import { parseModelConfig } from '../../src/io/hf-config.ts';
import { tinyConfigJson, tinyWeights } from '../../src/io/testing/tiny-model.ts';
import { LlamaModel } from '../../src/models/llama.ts';
import { batchOf } from '../helpers/random-batch.ts';
import { counted } from '../helpers/counted.ts';

// The whole "folder": a backend and its registration line.
const gemmCounts = new Map<string, number>();
registerBackend('counting', () => ({ backend: counted(referenceBackend, 'counting', gemmCounts) }));

// One that also supplies its own element-wise ops / attention / AdamW.
const kernelCounts = new Map<string, number>();
const ownKernels: NnKernels = counted(referenceNnKernels, 'counting-nn', kernelCounts);
registerBackend('counting-nn', () => ({ backend: counted(referenceBackend, 'counting-nn', new Map()), nn: ownKernels }));

/** One training step (forward, backward, AdamW through nnKernels(be)) of a tiny HALO-2 int8 Llama; the results. */
function step(be: Backend) {
  const config = parseModelConfig(tinyConfigJson({ hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: 270, seed: 3 }));
  const model = new LlamaModel(config, tinyWeights(config, 5, 'f32', 0.3), { halo: haloConfig({ level: 'halo2', format: 'int8' }), backend: be });
  const batch = batchOf([9, 6], config.vocab_size, 11);
  const before = model.forwardBackward(batch, 1);
  const nn = nnKernels(be);
  for (const p of model.parameters()) {
    nn.adamwUpdate(p.data, p.grad!, new Float32Array(p.data.length), new Float32Array(p.data.length), 1, {
      lr: 1e-2,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: 0.1,
    });
  }
  model.weightsChanged();
  const after = model.loss(batch);
  return { before, after, params: model.parameters().map((p) => ({ name: p.name, data: p.data })) };
}

function withEnv<T>(value: string | undefined, fn: () => T): T {
  const old = process.env.HALO_BACKEND;
  if (value === undefined) delete process.env.HALO_BACKEND;
  else process.env.HALO_BACKEND = value;
  try {
    return fn();
  } finally {
    if (old === undefined) delete process.env.HALO_BACKEND;
    else process.env.HALO_BACKEND = old;
  }
}

const isArg = (re: RegExp) => (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && re.test(e.message);

describe('backend registry', () => {
  test('the built-ins and the ones registered here are listed; the CLI offers the built-ins', () => {
    assert.deepEqual(backendNames(), ['native', 'reference', 'counting', 'counting-nn']);
    const cli = HALO_OPTIONS.find((o) => o.name === 'backend')!;
    assert.deepEqual(cli.choices, ['native', 'reference']); // computed when the CLI loaded, before this file registered
  });

  test('a backend registered from a test file runs a model step by name, with the reference results', () => {
    const be = getBackend('counting');
    assert.equal(be.name, 'counting');
    assert.equal(getBackend('counting'), be); // built once
    assert.equal(
      withEnv('counting', () => getBackend()),
      be,
    );
    assert.equal(nnKernels(be), referenceNnKernels); // no kernels of its own: the reference's
    gemmCounts.clear();
    const got = step(be);
    for (const op of ['matmul', 'rotateQuantize']) assert.ok((gemmCounts.get(op) ?? 0) > 0, `${op} was called ${gemmCounts.get(op) ?? 0} times`);
    const want = step(referenceBackend);
    assert.ok(Number.isFinite(want.before.lossSum) && want.before.tokens > 0);
    assert.ok(want.after.lossSum !== want.before.lossSum); // the step changed the weights
    assert.deepEqual(got.before, want.before);
    assert.deepEqual(got.after, want.after);
    assert.deepEqual(got.params, want.params);
  });

  test('a registration that supplies its own NnKernels gets them from nnKernels()', () => {
    const be = getBackend('counting-nn');
    assert.equal(nnKernels(be), ownKernels);
    kernelCounts.clear();
    const got = step(be);
    for (const op of ['rmsnormForward', 'attentionForward', 'attentionBackward', 'crossEntropyForward', 'adamwUpdate']) {
      assert.ok((kernelCounts.get(op) ?? 0) > 0, `${op} was called ${kernelCounts.get(op) ?? 0} times`);
    }
    assert.deepEqual(got.after, step(referenceBackend).after);
  });

  test('an unknown name is E_ARG listing the registered backends', () => {
    assert.throws(() => getBackend('webgpu'), isArg(/unknown backend 'webgpu'; registered backends: native, reference, counting, counting-nn$/));
    assert.throws(() => withEnv('cuda', () => getBackend()), isArg(/'cuda' \(from HALO_BACKEND\)/));
  });

  test('a taken or malformed name, or a backend that calls itself something else, is E_ARG', () => {
    assert.throws(() => registerBackend('reference', () => ({ backend: referenceBackend })), isArg(/'reference' is already registered/));
    assert.throws(() => registerBackend('Bad Name', () => ({ backend: referenceBackend })), isArg(/'Bad Name' must be/));
    registerBackend('misnamed', () => ({ backend: referenceBackend }));
    assert.throws(() => getBackend('misnamed'), isArg(/registered as 'misnamed' calls itself 'reference'/));
  });

  test('a backend this machine cannot run falls back to the reference with one warning', () => {
    registerBackend('absent', () => ({ unavailable: 'absent device not found' }));
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => (lines.push(s), true)) as typeof process.stderr.write;
    try {
      assert.equal(getBackend('absent'), referenceBackend);
      assert.equal(getBackend('absent'), referenceBackend);
    } finally {
      process.stderr.write = write;
    }
    assert.deepEqual(lines, ['halo: warning: absent device not found; using the reference backend\n']);
    assert.equal(nnKernels({ ...referenceBackend, name: 'absent' }), referenceNnKernels);
  });
});
