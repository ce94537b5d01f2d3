// The HALO settings every API function that runs a model takes (level, format, granularity, Hadamard block,
// lm_head precision, backend), as typed options, and their HaloConfig. The CLI's --level/--format/… flags map
// onto these one to one.
import type { BackendName } from '../backend/select.ts';
import { haloConfig, type Format, type HaloConfig, type Level } from '../halo/config.ts';
import type { Granularity } from '../quant/index.ts';

export interface HaloSettings {
  /** Where Hadamard rotations go ('none' = full precision). */
  level?: Level;
  /** Precision of the linear-layer matmul operands. */
  format?: Format;
  granularity?: Granularity;
  /** Channel rotation: 'auto' (default), 'full' or a block size. */
  hadamardBlock?: HaloConfig['hadamardBlock'];
  /** lm_head GEMMs in f32 or bf16 operands (default: bf16 when the linears are low precision, else f32). */
  lmHead?: 'f32' | 'bf16';
  /** Kernel backend (default: native if built, else reference; or HALO_BACKEND). */
  backend?: BackendName;
}

/** The HaloConfig of `s`; `defaults` fill what `s` leaves out before haloConfig's own defaults do. */
export function haloFromSettings(s: HaloSettings, defaults: Partial<HaloConfig> = {}): HaloConfig {
  const pick = Object.fromEntries(
    Object.entries({ level: s.level, format: s.format, granularity: s.granularity, hadamardBlock: s.hadamardBlock }).filter(([, v]) => v !== undefined),
  ) as Partial<HaloConfig>;
  return haloConfig({ ...defaults, ...pick, ...(s.lmHead !== undefined ? { lmHead: s.lmHead } : {}) });
}
