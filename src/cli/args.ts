// A small, typed flag parser: each command declares its options once, and the same table drives parsing,
// validation and `--help`. Unknown flags are errors (a typo must not silently fall back to a default).
import { HaloError } from '../core/errors.ts';

export type OptionType = 'string' | 'number' | 'int' | 'boolean';

export interface OptionSpec {
  name: string;            // kebab-case, without the leading dashes
  type: OptionType;
  help: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  required?: boolean;
}

export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export interface ParsedArgs {
  options: ParsedOptions;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean' && value === undefined) {
      options[name.slice(3)] = false;
      continue;
    }
    const spec = byName.get(name);
    if (!spec) throw new HaloError('E_ARG', `unknown option --${name}${suggest(name, specs)}`);
    if (spec.type === 'boolean') {
      options[name] = value === undefined ? true : parseBool(name, value);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new HaloError('E_ARG', `option --${name} needs a value`);
    }
    options[name] = convert(spec, value);
  }
  for (const s of specs) {
    if (options[s.name] === undefined && s.default !== undefined) options[s.name] = s.default;
    if (s.required && options[s.name] === undefined) throw new HaloError('E_ARG', `missing required option --${s.name}`);
  }
  return { options, positionals };
}

function convert(spec: OptionSpec, value: string): string | number {
  if (spec.type === 'number' || spec.type === 'int') {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
      throw new HaloError('E_ARG', `option --${spec.name} takes ${spec.type === 'int' ? 'an integer' : 'a number'}, got '${value}'`);
    }
    return n;
  }
  if (spec.choices && !spec.choices.includes(value)) {
    throw new HaloError('E_ARG', `option --${spec.name} must be one of ${spec.choices.join(', ')}; got '${value}'`);
  }
  return value;
}

function parseBool(name: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new HaloError('E_ARG', `option --${name} takes true or false, got '${v}'`);
}

function suggest(name: string, specs: readonly OptionSpec[]): string {
  const close = specs.find((s) => s.name.startsWith(name.slice(0, 3)));
  return close ? ` (did you mean --${close.name}?)` : '';
}

export function formatHelp(usage: string, summary: string, specs: readonly OptionSpec[]): string {
  const lines = [`Usage: ${usage}`, '', summary, ''];
  if (specs.length) {
    lines.push('Options:');
    const width = Math.max(...specs.map((s) => s.name.length + (s.type === "boolean" ? 0 : 6))) + 6;
    for (const s of specs) {
      const left = `  --${s.name}${s.type === 'boolean' ? '' : ' <' + (s.type === 'string' ? 'str' : s.type === 'int' ? 'int' : 'num') + '>'}`;
      const extra = [s.choices ? `one of: ${s.choices.join(', ')}` : '', s.default !== undefined ? `default: ${s.default}` : '', s.required ? 'required' : '']
        .filter(Boolean)
        .join('; ');
      lines.push(`${left.padEnd(width)}${s.help}${extra ? ` (${extra})` : ''}`);
    }
    lines.push(`  --help`.padEnd(width) + 'show this help');
  }
  return lines.join('\n');
}
