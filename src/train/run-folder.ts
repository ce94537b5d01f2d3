// A training run's folder owns its identity: OUT/run.json holds a random run id and the settings the run was
// started with (model and data fingerprints, HALO level/format, PEFT method and rank, batch × world size,
// optimizer, …), and every checkpoint the run writes carries the run id. So:
//  - a fresh run refuses a folder that already holds a run (a new run's checkpoints mixed with an older one's
//    were pruned as "older", and a later --resume restored the old run) unless --overwrite, which first
//    removes the old run's files (run.json first: a kill halfway leaves no identity, which --resume refuses);
//  - --resume compares the settings with run.json: a change that makes the checkpoint mean something else
//    (model, data, level/format, PEFT rank, sequence length, seed, …) is refused, naming each difference; a
//    change a run can continue with (lr, steps, batch, world size → global batch) is a warning;
//  - the trainer refuses a checkpoint whose run id is not run.json's (src/train/trainer.ts).
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import { parseJsonChecked } from '../core/json-guard.ts';
import { TOKENIZER_FILES } from '../io/hf-folder.ts';
import { writeFileAtomic } from '../io/safetensors.ts';
import { sha256File } from './checkpoint.ts';

export const RUN_FILE = 'run.json';

export type SettingValue = string | number | boolean | null;
/** Settings by flag name (without dashes) or a key of SETTING_LABELS. */
export type RunSettings = Record<string, SettingValue>;

export interface RunRecord {
  format: 'halo-run';
  version: 1;
  runId: string;
  command: string;
  created: string;
  settings: RunSettings;
}

/**
 * Settings a resumed run must share with the run that wrote the checkpoint: they decide what the weights,
 * optimizer moments and data position mean. Any other change (lr, schedule, steps, batch, world size, …) is
 * allowed with a warning.
 */
const MUST_MATCH = new Set([
  'command',
  'model',
  'config',
  'tokenizer',
  'data',
  'max-seq-len',
  'seq-len',
  'train-on-prompt',
  'eval-fraction',
  'seed',
  'level',
  'format',
  'granularity',
  'hadamard-block',
  'lm-head',
  'peft',
  'rank',
  'alpha',
  'dropout',
  'target-modules',
  'rslora',
  'optimizer',
  'adam-beta2',
]);

/** How a setting is named in messages (default: --KEY). */
const SETTING_LABELS: Record<string, string> = {
  command: 'the command',
  model: 'the model (its config, tokenizer and weight files)',
  config: 'the architecture (--config / --init)',
  tokenizer: 'the tokenizer files',
  data: 'the training data (--data rows or file contents)',
  'model-path': '--model path',
  'world-size': 'world size (ranks)',
  'global-batch': 'global batch (sequences per optimizer step)',
  optimizer: 'the optimizer',
};

export function settingLabel(key: string): string {
  return SETTING_LABELS[key] ?? `--${key}`;
}

/** Files and folders a run (or a saved model) leaves in its folder: any of them means the folder is in use. */
const RUN_ENTRIES = [
  RUN_FILE,
  'run_config.json',
  'metrics.jsonl',
  'checkpoints',
  'halo_config.json',
  'pretrain_summary.json',
  'config.json',
  'model.safetensors',
  'model.safetensors.index.json',
  'adapter_config.json',
  'adapter_model.safetensors',
];
const SHARD = /^model-\d{5}-of-\d{5}\.safetensors$/;

/** The entries of `out` that belong to a previous run or model (empty when the folder is new or unrelated). */
export function runEntries(out: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(out);
  } catch {
    return [];
  }
  return names.filter((n) => RUN_ENTRIES.includes(n) || SHARD.test(n) || n.startsWith('.metrics.jsonl.tmp-'));
}

/** Removes a previous run's files from `out`: run.json first, then checkpoints, metrics and saved weights. */
export function clearRun(out: string): string[] {
  const names = runEntries(out);
  const doomed = [
    ...names.filter((n) => n === RUN_FILE),
    ...names.filter((n) => n !== RUN_FILE),
    ...TOKENIZER_FILES.filter((f) => fs.existsSync(path.join(out, f))),
  ];
  for (const n of doomed) fs.rmSync(path.join(out, n), { recursive: true, force: true });
  return names;
}

export function readRunRecord(out: string): RunRecord | null {
  const file = path.join(out, RUN_FILE);
  if (!fs.existsSync(file)) return null;
  const r = parseJsonChecked(fs.readFileSync(file, 'utf8'), file) as RunRecord;
  if (typeof r !== 'object' || r === null || r.format !== 'halo-run' || typeof r.runId !== 'string' || typeof r.settings !== 'object' || r.settings === null) {
    throw new HaloError('E_FORMAT', `${file} is not a halo run record; start a new run with --overwrite or another --out`);
  }
  return r;
}

export function writeRunRecord(out: string, r: RunRecord): void {
  const text = JSON.stringify(r, null, 2) + '\n';
  writeFileAtomic(path.join(out, RUN_FILE), (fd) => fs.writeSync(fd, text));
}

function show(v: SettingValue | undefined): string {
  if (v === undefined) return '(not set)';
  if (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) return `${v.slice(0, 12)}…`;
  return JSON.stringify(v);
}

/** Settings that differ between the saved run and this one: those a resume refuses, and those it warns about. */
export function compareSettings(saved: RunSettings, now: RunSettings): { refused: string[]; warned: string[] } {
  const refused: string[] = [];
  const warned: string[] = [];
  for (const key of new Set([...Object.keys(saved), ...Object.keys(now)])) {
    const a = saved[key];
    const b = now[key];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    const line = `${settingLabel(key)} ${show(a)} → ${show(b)}`;
    (MUST_MATCH.has(key) ? refused : warned).push(line);
  }
  return { refused, warned };
}

export interface RunFolderOptions {
  command: string;
  settings: RunSettings;
  resume: boolean;
  overwrite: boolean;
  /** Hears warnings and what --overwrite removed. */
  note?: (line: string) => void;
}

function shown(entries: readonly string[]): string {
  return entries.slice(0, 5).join(', ') + (entries.length > 5 ? ', …' : '');
}

/** What a run will be in its folder: decided by prepareRunFolder, made so by startRun. */
export interface RunPlan {
  out: string;
  /** The saved record on resume, a new one otherwise. */
  record: RunRecord;
  /** Whether run.json is to be written (a new run, or a resume that found nothing to resume). */
  fresh: boolean;
  /** The previous run's entries --overwrite will remove. */
  clear: string[];
}

/**
 * Decides what this run is, writing nothing: E_ARG for a fresh run into a used folder (without --overwrite) or
 * a resume with settings the checkpoint cannot continue with; warnings for settings a resume may change.
 * Call it before the model loads (a refusal takes seconds), and startRun once training is about to start.
 */
export function prepareRunFolder(out: string, o: RunFolderOptions): RunPlan {
  const note = o.note ?? (() => {});
  if (o.resume && o.overwrite) throw new HaloError('E_ARG', '--resume and --overwrite exclude each other: continue the run in --out, or replace it');
  const newRecord = (): RunRecord => ({
    format: 'halo-run',
    version: 1,
    runId: randomUUID(),
    command: o.command,
    created: new Date().toISOString(),
    settings: o.settings,
  });
  if (o.resume) {
    const saved = readRunRecord(out);
    if (saved === null) {
      // Nothing to resume is a fresh start; but files without a run.json (an older halo's run, or a model
      // folder) cannot be checked against this run, and a fresh start would write over them.
      const used = runEntries(out);
      if (used.length) {
        throw new HaloError(
          'E_ARG',
          `--resume: ${out} holds ${shown(used)} but no ${RUN_FILE} (an older halo's run, or not a halo run), so it cannot be checked against this run's settings; ` +
            `start over with --overwrite, or write to another --out`,
        );
      }
      return { out, record: newRecord(), fresh: true, clear: [] };
    }
    const diff = compareSettings({ command: saved.command, ...saved.settings }, { command: o.command, ...o.settings });
    if (diff.refused.length) {
      throw new HaloError(
        'E_ARG',
        `--resume: ${out} holds run ${saved.runId}, started with other settings: ${diff.refused.join('; ')}. Its checkpoints cannot continue under these ` +
          `(use the run's settings, or start a new run with --overwrite or another --out)`,
      );
    }
    for (const w of diff.warned) note(`--resume: ${w} (changed since run ${saved.runId.slice(0, 8)} started; continuing with the new value)`);
    return { out, record: saved, fresh: false, clear: [] };
  }
  const used = runEntries(out);
  if (used.length) {
    if (!o.overwrite) {
      throw new HaloError(
        'E_ARG',
        `--out ${out} already holds a run or a model (${shown(used)}); continue it with --resume, replace it with --overwrite, or write to another folder`,
      );
    }
  }
  return { out, record: newRecord(), fresh: true, clear: used };
}

/** Carries out a plan: --overwrite's removal (run.json first), then the new run.json. */
export function startRun(plan: RunPlan, note: (line: string) => void = () => {}): void {
  fs.mkdirSync(plan.out, { recursive: true });
  if (plan.clear.length) {
    clearRun(plan.out);
    note(`--overwrite: removed the previous run's files from ${plan.out} (${plan.clear.join(', ')})`);
  }
  if (plan.fresh) writeRunRecord(plan.out, plan.record);
}

/** sha256 over labelled parts (strings or whole files), in order. */
function digest(parts: readonly (string | { file: string })[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(typeof p === 'string' ? p : `file ${path.basename(p.file)} ${sha256File(p.file)}`);
    h.update('\0');
  }
  return h.digest('hex');
}

/** Bytes of `file` at [start, start + n) (fewer at its end). */
function slice(file: string, start: number, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, fs.readSync(fd, buf, 0, n, start));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A model folder's fingerprint: config.json and the tokenizer files in full, and for each weight file its name,
 * size and first and last MiB (a full hash of an 8B checkpoint's 16 GB would take longer than the check is
 * worth; its header with every name, shape and offset is in the first MiB).
 */
export function modelFingerprint(dir: string): string {
  const parts: (string | { file: string })[] = [];
  for (const f of ['config.json', ...TOKENIZER_FILES]) if (fs.existsSync(path.join(dir, f))) parts.push({ file: path.join(dir, f) });
  for (const f of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.safetensors'))
    .sort()) {
    const file = path.join(dir, f);
    const size = fs.statSync(file).size;
    const h = createHash('sha256')
      .update(slice(file, 0, 1 << 20))
      .update(slice(file, Math.max(0, size - (1 << 20)), 1 << 20));
    parts.push(`weights ${f} ${size} ${h.digest('hex')}`);
  }
  return digest(parts);
}

/** Fingerprint of data files by content (and row ranges): moving or touching a file keeps it, editing changes it. */
export function dataFingerprint(parts: readonly { file: string; from?: number; to?: number }[]): string {
  return digest(parts.map((p) => `rows ${p.from ?? 0}:${p.to ?? ''} of ${sha256File(p.file)}`));
}

/** Fingerprint of one file's contents. */
export function fileFingerprint(file: string): string {
  return digest([{ file }]);
}
