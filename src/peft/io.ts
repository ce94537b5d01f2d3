// Adapter folders on disk (HF PEFT layout: adapter_config.json + adapter_model.safetensors). The format itself —
// the config's fields and checks, the tensors — is src/peft/format.ts, re-exported so Node callers keep one import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../core/errors.ts';
import { assertFiniteTensor } from '../core/finite.ts';
import { castTensor } from '../io/cast.ts';
import type { ModelConfig } from '../io/hf-config.ts';
import { readSafetensors, writeFileAtomic, writeSafetensors } from '../io/safetensors.ts';
import type { Adapter } from './adapter.ts';
import { buildAdapters, type BuildOptions } from './build.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterConfigJson, adapterTensors, parseAdapterConfig, specOfAdapters, type PeftSpec } from './format.ts';

export * from './format.ts';

/** Writes adapter_config.json + adapter_model.safetensors into `dir`; returns the file names. */
export function savePeft(dir: string, adapters: ReadonlyMap<string, Adapter>, opts: { baseModel: string }): string[] {
  const spec = specOfAdapters(adapters, opts.baseModel);
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), adapterTensors(adapters), { format: 'pt' });
  const text = JSON.stringify(adapterConfigJson(spec), null, 2) + '\n';
  writeFileAtomic(path.join(dir, ADAPTER_CONFIG), (fd) => fs.writeSync(fd, text));
  return [ADAPTER_CONFIG, ADAPTER_WEIGHTS];
}

/** Reads an adapter folder into adapters for `config`; every tensor must be present and shaped as the config implies. */
export function loadPeft(
  dir: string,
  config: ModelConfig,
  build: BuildOptions = {},
  opts: { allowNonfinite?: boolean } = {},
): { adapters: Map<string, Adapter>; spec: PeftSpec } {
  const cfgFile = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(cfgFile)) throw new HaloError('E_IO', `no ${ADAPTER_CONFIG} in ${dir} (is it a PEFT adapter folder?)`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new HaloError('E_FORMAT', `${cfgFile}: not valid JSON (${(e as Error).message})`);
  }
  const spec = parseAdapterConfig(json, cfgFile);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(weightsFile)) {
    const bin = fs.existsSync(path.join(dir, 'adapter_model.bin'));
    throw new HaloError('E_IO', `no ${ADAPTER_WEIGHTS} in ${dir}${bin ? ' (adapter_model.bin is a pickle; re-save it with safe_serialization=True)' : ''}`);
  }
  const { tensors } = readSafetensors(weightsFile);
  // seed 0: the initial values are all overwritten below.
  const adapters = buildAdapters(config, { ...spec, seed: 0 }, build);
  const used = new Set<string>();
  for (const a of adapters.values()) {
    for (const p of a.params()) {
      const t = tensors.get(p.name);
      if (!t) throw new HaloError('E_FORMAT', `${weightsFile}: missing tensor ${p.name} (adapter_config.json targets it)`);
      if (t.shape.join(',') !== p.shape.join(',')) {
        throw new HaloError(
          'E_SHAPE',
          `${weightsFile}: ${p.name} has shape [${t.shape.join(', ')}], the model and r = ${spec.rank} imply [${p.shape.join(', ')}]`,
        );
      }
      if (!opts.allowNonfinite) assertFiniteTensor(p.name, t, weightsFile, 'the adapter is damaged (or --allow-nonfinite loads it anyway)');
      p.data.set(castTensor(t, p.data instanceof Float64Array ? 'f64' : 'f32', p.name).data);
      used.add(p.name);
    }
  }
  const extra = [...tensors.keys()].filter((n) => !used.has(n));
  if (extra.length) {
    throw new HaloError(
      'E_FORMAT',
      `${weightsFile}: tensors adapter_config.json does not account for: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ` … (${extra.length})` : ''}`,
    );
  }
  return { adapters, spec };
}
