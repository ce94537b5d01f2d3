// The Hugging Face tensor names of one decoder layer and the model's dimensions, derived once from the
// config so the model code reads like the architecture, not like string formatting.
import type { ModelConfig } from '../io/hf-config.ts';

export interface LayerNames {
  ln1: string;
  q: string;
  k: string;
  v: string;
  o: string;
  qkvBias: [string, string, string];
  oBias: string;
  ln2: string;
  gate: string;
  up: string;
  down: string;
  /** The seven projection weights, in forward order. */
  projections: readonly string[];
}

export function layerNames(l: number): LayerNames {
  const p = `model.layers.${l}`;
  return {
    ln1: `${p}.input_layernorm.weight`,
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    qkvBias: [`${p}.self_attn.q_proj.bias`, `${p}.self_attn.k_proj.bias`, `${p}.self_attn.v_proj.bias`],
    oBias: `${p}.self_attn.o_proj.bias`,
    ln2: `${p}.post_attention_layernorm.weight`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
    projections: ['q_proj', 'k_proj', 'v_proj', 'o_proj']
      .map((x) => `${p}.self_attn.${x}.weight`)
      .concat(['gate_proj', 'up_proj', 'down_proj'].map((x) => `${p}.mlp.${x}.weight`)),
  };
}

/** C hidden, V vocab, I intermediate, Hq/Hkv heads, D head dim, eps of RMSNorm. */
export class Dims {
  readonly C: number;
  readonly V: number;
  readonly I: number;
  readonly Hq: number;
  readonly Hkv: number;
  readonly D: number;
  readonly eps: number;
  constructor(c: ModelConfig) {
    this.C = c.hidden_size;
    this.V = c.vocab_size;
    this.I = c.intermediate_size;
    this.Hq = c.num_attention_heads;
    this.Hkv = c.num_key_value_heads;
    this.D = c.head_dim;
    this.eps = c.rms_norm_eps;
  }
}
