// The names PEFT files use. A target module is a projection's short name (q_proj … down_proj, as in
// LoraConfig.target_modules); an adapter tensor is named as HF peft saves it: the wrapped model's prefix
// `base_model.model.`, the projection's module path, then `lora_A.weight` / `lora_B.weight` (the adapter
// name "default" is dropped on save). HUT tensors use `hut_A` / `hut_B` in the same place.
import { HaloError } from '../core/errors.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { layerNames, type LayerNames } from '../models/llama-names.ts';

/** The seven Llama projections, in model order. */
export const TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type TargetModule = (typeof TARGET_MODULES)[number];

const KEY_OF: Record<TargetModule, keyof LayerNames> = {
  q_proj: 'q',
  k_proj: 'k',
  v_proj: 'v',
  o_proj: 'o',
  gate_proj: 'gate',
  up_proj: 'up',
  down_proj: 'down',
};

/**
 * Normalises a target-module list: PEFT's 'all-linear' (or an empty list) means all seven; each entry may be
 * a short name or a comma-separated list. Unknown names are errors, duplicates are dropped, order is model order.
 */
export function parseTargetModules(spec: string | readonly string[] | undefined): TargetModule[] {
  const parts = (spec === undefined ? [] : typeof spec === 'string' ? [spec] : [...spec])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'all-linear')) return [...TARGET_MODULES];
  for (const p of parts) {
    if (!(TARGET_MODULES as readonly string[]).includes(p)) {
      throw new HaloError('E_ARG', `unknown target module '${p}'; use some of ${TARGET_MODULES.join(', ')} (or all-linear)`);
    }
  }
  return TARGET_MODULES.filter((m) => parts.includes(m));
}

export interface Projection {
  /** HF weight name, e.g. model.layers.0.self_attn.q_proj.weight (the key of the model's adapter map). */
  weight: string;
  module: TargetModule;
  layer: number;
  inFeatures: number;
  outFeatures: number;
}

/** Every targeted projection of a config, layer by layer in model order, with its nn.Linear sizes. */
export function projections(c: ModelConfig, targets: readonly TargetModule[]): Projection[] {
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  const H = c.hidden_size;
  const I = c.intermediate_size;
  const dims: Record<TargetModule, [number, number]> = {
    q_proj: [H, q],
    k_proj: [H, kv],
    v_proj: [H, kv],
    o_proj: [q, H],
    gate_proj: [H, I],
    up_proj: [H, I],
    down_proj: [I, H],
  };
  const out: Projection[] = [];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const n = layerNames(l);
    for (const m of TARGET_MODULES) {
      if (!targets.includes(m)) continue;
      out.push({ weight: n[KEY_OF[m]] as string, module: m, layer: l, inFeatures: dims[m][0], outFeatures: dims[m][1] });
    }
  }
  return out;
}

/** `model.layers.0.self_attn.q_proj.weight` + 'lora_A' → `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. */
export function adapterTensorName(projectionWeight: string, factor: string): string {
  if (!projectionWeight.endsWith('.weight')) throw new HaloError('E_ARG', `${projectionWeight} is not a weight name (it should end in .weight)`);
  return `base_model.model.${projectionWeight.slice(0, -'.weight'.length)}.${factor}.weight`;
}
