// Adapters in the Hugging Face PEFT layout, with no I/O: adapter_config.json (LoraConfig's fields as peft writes
// them) and adapter_model.safetensors (tensors named as peft saves them, lora_A [r, in], lora_B [out, r], f32).
// A LoRA folder written from these loads with `PeftModel.from_pretrained(base, dir)`; a LoRA folder peft wrote
// loads when it uses what halo implements (no bias training, no DoRA, no extra modules, one rank and alpha).
// HUT has no peft implementation: its folder has the same shape with peft_type "HUT" and hut_A/hut_B tensors.
// The browser build makes a downloadable adapter from these; src/peft/io.ts reads and writes folders.
import { HaloError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import { serializeSafetensors } from '../io/safetensors-format.ts';
import type { Adapter } from './adapter.ts';
import type { PeftMethod, PeftOptions } from './build.ts';
import { HutAdapter } from './hut.ts';
import { LoraAdapter } from './lora.ts';
import { TARGET_MODULES, type TargetModule } from './names.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

const PEFT_TYPE: Record<PeftMethod, string> = { lora: 'LORA', hut: 'HUT' };
const HUT_NOTE =
  "halo HUT adapter (arXiv 2409.13501; the HiRA form): W' = W0 + (lora_alpha/r)·W0⊙(hut_B·hut_A). " +
  'HF peft has no HUT type: merge it with `halo merge` to get a plain Hugging Face model.';

/** What an adapter folder describes, besides its tensors. */
export interface PeftSpec extends Required<Omit<PeftOptions, 'seed' | 'targetModules'>> {
  targetModules: TargetModule[];
  /** As the user named the base model (never an absolute path). */
  baseModel: string;
}

/** A name for base_model_name_or_path: a relative path or hub id as given, an absolute path reduced to its folder name. */
export function portableModelName(model: string): string {
  const trimmed = model.replace(/[\\/]+$/, '');
  const absolute = trimmed.startsWith('/') || /^[A-Za-z]:[\\/]/.test(trimmed) || trimmed.startsWith('\\\\');
  return absolute ? trimmed.split(/[\\/]/).at(-1)! : trimmed;
}

/** The spec a set of adapters implies (one method, rank, alpha and dropout for all of them). */
export function specOfAdapters(adapters: ReadonlyMap<string, Adapter>, baseModel: string): PeftSpec {
  const list = [...adapters.values()];
  if (list.length === 0) throw new HaloError('E_ARG', 'no adapters to save');
  const kinds = list.map((a) => (a instanceof LoraAdapter ? 'lora' : a instanceof HutAdapter ? 'hut' : null));
  if (kinds.some((k) => k === null)) throw new HaloError('E_UNSUPPORTED', 'only LoRA and HUT adapters can be saved in the PEFT layout');
  const method = kinds[0]!;
  const first = list[0] as LoraAdapter | HutAdapter;
  for (const a of list as (LoraAdapter | HutAdapter)[]) {
    const k = a instanceof LoraAdapter ? 'lora' : 'hut';
    if (k !== method || a.rank !== first.rank || a.alpha !== first.alpha || a.scale !== first.scale) {
      throw new HaloError(
        'E_UNSUPPORTED',
        `${a.projection}: every adapter must share one method, rank and alpha to be saved (PEFT rank/alpha patterns are not supported)`,
      );
    }
  }
  const modules = new Set((list as (LoraAdapter | HutAdapter)[]).map((a) => a.projection.split('.').at(-2)));
  return {
    method,
    rank: first.rank,
    alpha: first.alpha,
    dropout: first instanceof LoraAdapter ? first.dropout : 0,
    rslora: first.scale !== first.alpha / first.rank,
    targetModules: TARGET_MODULES.filter((m) => modules.has(m)),
    baseModel: portableModelName(baseModel),
  };
}

/** adapter_config.json contents: LoraConfig's fields as peft 0.13 writes them. */
export function adapterConfigJson(spec: PeftSpec): Record<string, unknown> {
  const json: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: spec.baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    modules_to_save: null,
    peft_type: PEFT_TYPE[spec.method],
    r: spec.rank,
    rank_pattern: {},
    revision: null,
    target_modules: spec.targetModules,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: spec.rslora,
  };
  if (spec.method === 'hut') json.halo_note = HUT_NOTE;
  return json;
}

function fail(file: string, msg: string, code: 'E_FORMAT' | 'E_UNSUPPORTED' = 'E_FORMAT'): never {
  throw new HaloError(code, `${file}: ${msg}`);
}

/** Parses and checks an adapter_config.json against what halo implements. */
export function parseAdapterConfig(json: unknown, file = ADAPTER_CONFIG): PeftSpec {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'not a JSON object');
  const c = json as Record<string, unknown>;
  const type = c.peft_type;
  const method = (Object.keys(PEFT_TYPE) as PeftMethod[]).find((m) => PEFT_TYPE[m] === type);
  if (!method) fail(file, `peft_type ${JSON.stringify(type)} is not supported; halo loads LORA and HUT adapters`, 'E_UNSUPPORTED');
  const r = c.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) fail(file, `r must be a positive integer, got ${JSON.stringify(r)}`);
  const alpha = c.lora_alpha ?? 8; // peft's default
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail(file, `lora_alpha must be a number, got ${JSON.stringify(alpha)}`);
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) fail(file, `lora_dropout must be in [0, 1), got ${JSON.stringify(dropout)}`);
  const unsupported: [string, boolean][] = [
    ['bias other than "none"', c.bias !== undefined && c.bias !== 'none'],
    ['use_dora', c.use_dora === true],
    ['fan_in_fan_out', c.fan_in_fan_out === true],
    ['modules_to_save', Array.isArray(c.modules_to_save) && c.modules_to_save.length > 0],
    ['layers_to_transform', c.layers_to_transform !== undefined && c.layers_to_transform !== null],
    ['rank_pattern / alpha_pattern', [c.rank_pattern, c.alpha_pattern].some((p) => p && typeof p === 'object' && Object.keys(p).length > 0)],
  ];
  for (const [what, bad] of unsupported) if (bad) fail(file, `${what} is not supported by halo's adapters`, 'E_UNSUPPORTED');
  const t = c.target_modules;
  let targets: string[];
  if (t === 'all-linear' || t === undefined || t === null) targets = [...TARGET_MODULES];
  else if (Array.isArray(t) && t.every((x) => typeof x === 'string')) targets = t as string[];
  else if (typeof t === 'string' && (TARGET_MODULES as readonly string[]).includes(t)) targets = [t];
  else fail(file, `target_modules ${JSON.stringify(t)} is not supported; give a list of ${TARGET_MODULES.join(', ')} or "all-linear"`, 'E_UNSUPPORTED');
  const unknown = targets.filter((m) => !(TARGET_MODULES as readonly string[]).includes(m));
  if (unknown.length) fail(file, `target_modules ${unknown.join(', ')} are not Llama projections halo adapts (${TARGET_MODULES.join(', ')})`, 'E_UNSUPPORTED');
  return {
    method,
    rank: r,
    alpha,
    dropout,
    rslora: c.use_rslora === true,
    targetModules: TARGET_MODULES.filter((m) => targets.includes(m)),
    baseModel: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : '',
  };
}

/** The adapters' trainable tensors under their PEFT names, as f32 copies. */
export function adapterTensors(adapters: ReadonlyMap<string, Adapter>): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  for (const a of adapters.values()) for (const p of a.params()) tensors.set(p.name, new Tensor(p.shape, 'f32', Float32Array.from(p.data)));
  return tensors;
}

/** An adapter folder's two files in memory (what savePeft writes): for a download, or a test's comparison. */
export function adapterFiles(adapters: ReadonlyMap<string, Adapter>, opts: { baseModel: string }): { [ADAPTER_CONFIG]: string; [ADAPTER_WEIGHTS]: Uint8Array } {
  const spec = specOfAdapters(adapters, opts.baseModel);
  return {
    [ADAPTER_CONFIG]: JSON.stringify(adapterConfigJson(spec), null, 2) + '\n',
    [ADAPTER_WEIGHTS]: serializeSafetensors(adapterTensors(adapters), { format: 'pt' }),
  };
}
