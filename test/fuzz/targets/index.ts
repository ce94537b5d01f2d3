// The fuzz targets by name, each built over the same seeds.
import type { FuzzTarget, TargetName } from '../case.ts';
import type { Seeds } from '../seeds.ts';
import { configTarget } from './config.ts';
import { jsonlTarget } from './jsonl.ts';
import { safetensorsTarget } from './safetensors.ts';
import { tokenizerTarget } from './tokenizer.ts';

export function makeTarget(name: TargetName, seeds: Seeds): FuzzTarget {
  switch (name) {
    case 'safetensors':
      return safetensorsTarget(seeds);
    case 'config':
      return configTarget(seeds);
    case 'tokenizer':
      return tokenizerTarget(seeds);
    case 'jsonl':
      return jsonlTarget();
  }
}
