// Resumable training checkpoints. A checkpoint is a folder checkpoints/step-NNNNNNN/ holding the trained
// parameters (model.safetensors, f32 master weights, HF names), the AdamW moments (optimizer.safetensors)
// and trainer_state.json (step, data-loader position, config). It is written into a hidden temp folder and
// renamed into place, so a kill at any moment leaves either the previous checkpoints or a complete new one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import type { AdamWState } from '../optim/adamw.ts';

export interface TrainerState {
  step: number;
  loader: unknown;
  config: unknown;
  [k: string]: unknown;
}

export interface Checkpoint {
  dir: string;
  params: Map<string, Float32Array>;
  optimizer: AdamWState;
  state: TrainerState;
}

const STEP_DIR = /^step-(\d+)$/;

export function checkpointDir(runDir: string, step: number): string {
  return path.join(runDir, 'checkpoints', `step-${String(step).padStart(7, '0')}`);
}

export function saveCheckpoint(
  runDir: string,
  params: ReadonlyMap<string, FloatArray>,
  optimizer: AdamWState,
  state: TrainerState,
  keep = 2,
): string {
  const final = checkpointDir(runDir, state.step);
  const root = path.dirname(final);
  fs.mkdirSync(root, { recursive: true });
  const tmp = path.join(root, `.tmp-${path.basename(final)}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  const f32 = (a: FloatArray) => new Tensor([a.length], 'f32', a instanceof Float32Array ? a : Float32Array.from(a));
  writeSafetensors(path.join(tmp, 'model.safetensors'), new Map([...params].map(([n, a]) => [n, f32(a)])));
  const moments = new Map<string, Tensor>();
  for (const [n, a] of Object.entries(optimizer.m)) moments.set(`m.${n}`, f32(a));
  for (const [n, a] of Object.entries(optimizer.v)) moments.set(`v.${n}`, f32(a));
  writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments, { step: String(optimizer.step) });
  fs.writeFileSync(path.join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2));
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  pruneCheckpoints(runDir, keep);
  return final;
}

/** Complete checkpoints of a run, oldest first. */
export function listCheckpoints(runDir: string): { step: number; dir: string }[] {
  const root = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((name) => ({ m: STEP_DIR.exec(name), dir: path.join(root, name) }))
    .filter((e) => e.m && fs.existsSync(path.join(e.dir, 'trainer_state.json')))
    .map((e) => ({ step: Number(e.m![1]), dir: e.dir }))
    .sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(runDir: string): string | null {
  const all = listCheckpoints(runDir);
  return all.length ? all[all.length - 1].dir : null;
}

export function loadCheckpoint(dir: string): Checkpoint {
  const stateFile = path.join(dir, 'trainer_state.json');
  if (!fs.existsSync(stateFile)) throw new HaloError('E_IO', `${dir} is not a complete checkpoint (no trainer_state.json)`);
  let state: TrainerState;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as TrainerState;
  } catch (e) {
    throw new HaloError('E_FORMAT', `${stateFile}: ${(e as Error).message}`);
  }
  const params = new Map<string, Float32Array>();
  for (const [n, t] of readSafetensors(path.join(dir, 'model.safetensors')).tensors) params.set(n, t.data as Float32Array);
  const opt = readSafetensors(path.join(dir, 'optimizer.safetensors'));
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  for (const [n, t] of opt.tensors) (n.startsWith('m.') ? m : v)[n.slice(2)] = t.data as Float32Array;
  const step = Number(opt.metadata?.step ?? state.step);
  return { dir, params, optimizer: { step, m, v }, state };
}

function pruneCheckpoints(runDir: string, keep: number): void {
  const all = listCheckpoints(runDir);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(c.dir, { recursive: true, force: true });
}
