// Resumable training checkpoints. A checkpoint is a folder checkpoints/step-NNNNNNN/ holding the trained
// parameters (model.safetensors, f32 master weights, HF names and shapes, so with a config.json and tokenizer
// files beside it the file loads as a model folder's weights), the optimizer state (optimizer.safetensors:
// AdamW moments, or 8-bit codes + scales, src/train/optimizer-file.ts), trainer_state.json (step, data-loader
// position, config) and manifest.json (size + sha256 of each of them).
// Every file is written temp-then-rename inside a hidden temp folder, the manifest last, and the folder is
// renamed into place: a kill at any moment leaves the previous checkpoints plus at most a stale temp folder.
// A checkpoint counts as complete only if its manifest is there and every checksum matches, so a folder that
// was damaged later (a truncated copy, a full disk, a hand edit) is skipped on resume instead of loaded.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FloatArray } from '../core/dtype.ts';
import { HaloError } from '../core/errors.ts';
import { parseJsonChecked } from '../core/json-guard.ts';
import { Tensor } from '../core/tensor.ts';
import { readSafetensors, writeFileAtomic, writeSafetensors } from '../io/safetensors.ts';
import type { OptimizerState } from '../optim/optimizer.ts';
import { optimizerFromTensors, optimizerTensors } from './optimizer-file.ts';

export interface TrainerState {
  step: number;
  loader: unknown;
  config: unknown;
  [k: string]: unknown;
}

export interface Checkpoint {
  dir: string;
  params: Map<string, Float32Array>;
  optimizer: OptimizerState;
  state: TrainerState;
}

export const MANIFEST_FILE = 'manifest.json';
/** The files a checkpoint must have, each listed in its manifest. */
export const CHECKPOINT_FILES = ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json'] as const;

export interface Manifest {
  format: 'halo-checkpoint';
  version: 1;
  step: number;
  files: Record<string, { bytes: number; sha256: string }>;
}

const STEP_DIR = /^step-(\d+)$/;
const TMP_DIR = /^\.tmp-step-/;

export function checkpointDir(runDir: string, step: number): string {
  return path.join(runDir, 'checkpoints', `step-${String(step).padStart(7, '0')}`);
}

/** sha256 of a file, read in 4 MiB chunks (checkpoints can be gigabytes). */
export function sha256File(file: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function writeText(file: string, text: string): void {
  writeFileAtomic(file, (fd) => fs.writeSync(fd, text));
}

/** Writes a checkpoint of `state.step` and keeps the newest `keep` complete ones. Returns its folder. */
export function saveCheckpoint(
  runDir: string,
  params: ReadonlyMap<string, FloatArray>,
  optimizer: OptimizerState,
  state: TrainerState,
  keep = 2,
  shapes?: ReadonlyMap<string, readonly number[]>,
): string {
  const final = checkpointDir(runDir, state.step);
  const root = path.dirname(final);
  fs.mkdirSync(root, { recursive: true });
  // One trainer writes a run folder: a temp folder left here was cut short by a kill.
  for (const name of fs.readdirSync(root)) if (TMP_DIR.test(name)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  const tmp = path.join(root, `.tmp-${path.basename(final)}-${process.pid}`);
  fs.mkdirSync(tmp);
  const f32 = (a: FloatArray, shape: readonly number[] = [a.length]) => new Tensor(shape, 'f32', a instanceof Float32Array ? a : Float32Array.from(a));
  writeSafetensors(path.join(tmp, 'model.safetensors'), new Map([...params].map(([n, a]) => [n, f32(a, shapes?.get(n))])));
  const opt = optimizerTensors(optimizer);
  writeSafetensors(path.join(tmp, 'optimizer.safetensors'), opt.tensors, opt.metadata);
  writeText(path.join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2));
  const manifest: Manifest = { format: 'halo-checkpoint', version: 1, step: state.step, files: {} };
  for (const name of CHECKPOINT_FILES) {
    const f = path.join(tmp, name);
    manifest.files[name] = { bytes: fs.statSync(f).size, sha256: sha256File(f) };
  }
  writeText(path.join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  pruneCheckpoints(runDir, keep);
  return final;
}

/** Checkpoint folders of a run that have a manifest (complete when written), oldest first. Checksums are not read. */
export function listCheckpoints(runDir: string): { step: number; dir: string }[] {
  return stepDirs(runDir).filter((c) => fs.existsSync(path.join(c.dir, MANIFEST_FILE)));
}

/** Every step-N folder of a run, complete or not, oldest first. */
function stepDirs(runDir: string): { step: number; dir: string }[] {
  const root = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((name) => ({ m: STEP_DIR.exec(name), dir: path.join(root, name) }))
    .filter((e) => e.m !== null)
    .map((e) => ({ step: Number(e.m![1]), dir: e.dir }))
    .sort((a, b) => a.step - b.step);
}

/** Why `dir` is not a complete checkpoint (no manifest, a file missing, a size or checksum off), or null if it is. */
export function checkpointProblem(dir: string): string | null {
  const mf = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(mf)) return `no ${MANIFEST_FILE} (written last, so the save never finished)`;
  let m: Manifest;
  try {
    m = parseJsonChecked(fs.readFileSync(mf, 'utf8'), mf) as Manifest;
  } catch (e) {
    return e instanceof HaloError ? e.message : `cannot read ${mf}: ${(e as Error).message}`;
  }
  if (typeof m !== 'object' || m === null || m.format !== 'halo-checkpoint' || typeof m.files !== 'object' || m.files === null) {
    return `${MANIFEST_FILE} is not a halo checkpoint manifest`;
  }
  for (const name of CHECKPOINT_FILES) {
    const want = m.files[name];
    if (typeof want !== 'object' || want === null) return `${MANIFEST_FILE} does not list ${name}`;
    const f = path.join(dir, name);
    let bytes: number;
    try {
      bytes = fs.statSync(f).size;
    } catch {
      return `${name} is missing`;
    }
    if (bytes !== want.bytes) return `${name} is ${bytes} bytes, the manifest says ${want.bytes}`;
    if (sha256File(f) !== want.sha256) return `${name} does not match its sha256 in the manifest`;
  }
  return null;
}

/** Reads a checkpoint; with `verify` (default) first checks it against its manifest (E_FORMAT if it fails). */
export function loadCheckpoint(dir: string, opts: { verify?: boolean } = {}): Checkpoint {
  if (opts.verify ?? true) {
    const problem = checkpointProblem(dir);
    if (problem) throw new HaloError('E_FORMAT', `${dir} is not a complete checkpoint: ${problem}`);
  }
  const stateFile = path.join(dir, 'trainer_state.json');
  if (!fs.existsSync(stateFile)) throw new HaloError('E_IO', `${dir} is not a complete checkpoint (no trainer_state.json)`);
  const state = parseJsonChecked(fs.readFileSync(stateFile, 'utf8'), stateFile) as TrainerState;
  if (typeof state !== 'object' || state === null || !Number.isSafeInteger(state.step) || state.step < 0) {
    throw new HaloError('E_FORMAT', `${stateFile}: 'step' must be a non-negative integer`);
  }
  const params = new Map<string, Float32Array>();
  for (const [n, t] of readSafetensors(path.join(dir, 'model.safetensors')).tensors) params.set(n, t.data as Float32Array);
  const optFile = path.join(dir, 'optimizer.safetensors');
  const opt = readSafetensors(optFile);
  return { dir, params, optimizer: optimizerFromTensors(opt.tensors, opt.metadata, state.step, optFile), state };
}

export interface ResumePick {
  /** The newest complete checkpoint, loaded; null if there is none. */
  checkpoint: Checkpoint | null;
  /** Newer folders passed over, each with the reason. */
  skipped: { dir: string; reason: string }[];
}

/** The newest checkpoint of a run that is complete (manifest present, checksums valid) and loads. */
export function pickResumeCheckpoint(runDir: string): ResumePick {
  const skipped: { dir: string; reason: string }[] = [];
  for (const c of stepDirs(runDir).reverse()) {
    const problem = checkpointProblem(c.dir);
    if (problem) {
      skipped.push({ dir: c.dir, reason: problem });
      continue;
    }
    try {
      return { checkpoint: loadCheckpoint(c.dir, { verify: false }), skipped };
    } catch (e) {
      if (!(e instanceof HaloError)) throw e;
      skipped.push({ dir: c.dir, reason: e.message });
    }
  }
  return { checkpoint: null, skipped };
}

/** The newest complete checkpoint's folder (checksums verified), or null. */
export function latestCheckpoint(runDir: string): string | null {
  for (const c of stepDirs(runDir).reverse()) if (checkpointProblem(c.dir) === null) return c.dir;
  return null;
}

/**
 * Keeps the newest `keep` checkpoints that have a manifest; folders without one are left for resume to report.
 * A folder is renamed to a temp name before it is deleted: a kill in the middle of a recursive delete would
 * otherwise leave a step folder without its manifest that no later prune removes.
 */
function pruneCheckpoints(runDir: string, keep: number): void {
  const all = listCheckpoints(runDir);
  for (const c of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) {
    const doomed = path.join(path.dirname(c.dir), `.tmp-${path.basename(c.dir)}-deleting`);
    fs.rmSync(doomed, { recursive: true, force: true });
    fs.renameSync(c.dir, doomed);
    fs.rmSync(doomed, { recursive: true, force: true });
  }
}
