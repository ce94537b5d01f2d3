// A strict, typed flag parser: each command declares its options (and positional arguments, if it takes any)
// once, and the same table drives parsing, validation and `--help`. Whatever the table does not name is an
// error — a typo or a stray word must not silently fall back to a default, and a switch must never mean its
// opposite (`--train-on-prompt false` once turned the option ON and dropped the word).
//   switches:  --x   --no-x   --x=true|false   --x true|false
//   values:    --name value   --name=value      (a value may not look like an option: `--out --json` is an error)
//   --         everything after it is a positional argument
// A renamed option keeps its old names as `aliases`: they still work, and each adds one deprecation line.
import { HaloError } from '../core/errors.ts';

export type OptionType = 'string' | 'number' | 'int' | 'boolean';

export interface OptionSpec {
  name: string; // kebab-case, without the leading dashes
  type: OptionType;
  help: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  required?: boolean;
  /** Old names still accepted for this option; using one adds a deprecation line naming `name`. */
  aliases?: readonly string[];
}

/** A positional argument a command takes (in order), e.g. `halo inspect DIR`. Commands that declare none take none. */
export interface PositionalSpec {
  name: string; // as the usage line writes it, e.g. 'DIR'
  help: string;
  required?: boolean;
}

export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export interface ParsedArgs {
  /** Keyed by each option's current name, whichever alias was typed. */
  options: ParsedOptions;
  positionals: string[];
  /** One line per deprecated name used, e.g. "--seq-len is deprecated; use --max-seq-len" (the CLI prints them). */
  deprecations: string[];
}

const BOOL_WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, '1': true, '0': false };

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], positionalSpecs: readonly PositionalSpec[] = []): ParsedArgs {
  const byName = new Map<string, OptionSpec>();
  for (const s of specs) for (const n of [s.name, ...(s.aliases ?? [])]) byName.set(n, s);
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  const deprecations: string[] = [];
  // For the stray-word error: the switch a stray word followed, if any (`--json yes`).
  const after: (string | undefined)[] = [];
  let lastSwitch: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\.?\d/.test(arg)) {
      positionals.push(arg);
      after.push(lastSwitch);
      lastSwitch = undefined;
      continue;
    }
    lastSwitch = undefined;
    if (!arg.startsWith('--')) throw new HaloError('E_ARG', `unknown option ${arg}: options are spelled --name${suggest(arg.replace(/^-+/, ''), specs)}`);
    const eq = arg.indexOf('=');
    const typed = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let spec = byName.get(typed);
    let used = typed;
    let negated = false;
    if (!spec && typed.startsWith('no-') && byName.get(typed.slice(3))?.type === 'boolean') {
      spec = byName.get(typed.slice(3))!;
      used = typed.slice(3);
      negated = true;
    }
    if (!spec) throw new HaloError('E_ARG', `unknown option --${typed}${suggest(typed, specs)}`);
    if (used !== spec.name) {
      const line = `--${negated ? 'no-' : ''}${used} is deprecated; use --${negated ? 'no-' : ''}${spec.name}`;
      if (!deprecations.includes(line)) deprecations.push(line);
    }
    if (spec.type === 'boolean') {
      if (negated) {
        if (inline !== undefined) throw new HaloError('E_ARG', `--${typed} takes no value; write --no-${used} or --${used}=false`);
        options[spec.name] = false;
      } else if (inline !== undefined) {
        const b = BOOL_WORDS[inline];
        if (b === undefined) throw new HaloError('E_ARG', `option --${used} takes true or false, got '${inline}'`);
        options[spec.name] = b;
      } else if (argv[i + 1] === 'true' || argv[i + 1] === 'false') {
        options[spec.name] = argv[++i] === 'true';
      } else {
        options[spec.name] = true;
        lastSwitch = used;
      }
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined) throw new HaloError('E_ARG', `option --${used} needs a value`);
      if (next.startsWith('--'))
        throw new HaloError('E_ARG', `option --${used} needs a value, got the option ${next} (write --${used}=${next} if that is the value)`);
      value = next;
      i++;
    }
    options[spec.name] = convert(spec, used, value);
  }
  for (const s of specs) {
    if (options[s.name] === undefined && s.default !== undefined) options[s.name] = s.default;
    if (s.required && options[s.name] === undefined) throw new HaloError('E_ARG', `missing required option --${s.name}`);
  }
  checkPositionals(positionals, positionalSpecs, after);
  return { options, positionals, deprecations };
}

function checkPositionals(got: readonly string[], specs: readonly PositionalSpec[], after: readonly (string | undefined)[]): void {
  if (got.length > specs.length) {
    const extra = got.slice(specs.length);
    const words = extra.map((w) => `'${w}'`).join(' ');
    const sw = after[specs.length];
    const why =
      sw !== undefined
        ? ` after the switch --${sw}, which takes no value (write --${sw}=false or --no-${sw} to turn it off)`
        : specs.length
          ? ` (it takes ${specs.map((s) => s.name).join(' ')} and --options only)`
          : ' (this command takes --options only)';
    throw new HaloError('E_ARG', `unexpected argument${extra.length > 1 ? 's' : ''} ${words}${why}`);
  }
  const missing = specs.slice(got.length).find((s) => s.required);
  if (missing) throw new HaloError('E_ARG', `missing ${missing.name}: ${missing.help}`);
}

function convert(spec: OptionSpec, used: string, value: string): string | number {
  if (spec.type === 'number' || spec.type === 'int') {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
      throw new HaloError('E_ARG', `option --${used} takes ${spec.type === 'int' ? 'an integer' : 'a number'}, got '${value}'`);
    }
    return n;
  }
  if (spec.choices && !spec.choices.includes(value)) {
    throw new HaloError('E_ARG', `option --${used} must be one of ${spec.choices.join(', ')}; got '${value}'`);
  }
  return value;
}

/** " (did you mean --x?)" for the closest option name (a shared 3-letter prefix or ≤ 2 edits), else "". */
function suggest(name: string, specs: readonly OptionSpec[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const s of specs) {
    for (const n of [s.name, ...(s.aliases ?? [])]) {
      const d = editDistance(name, n);
      if (d < bestD) [best, bestD] = [s.name, d];
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3))) return ` (did you mean --${best}?)`;
  const prefix = name.length >= 3 ? specs.find((s) => s.name.startsWith(name.slice(0, 3))) : undefined;
  return prefix ? ` (did you mean --${prefix.name}?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

export function formatHelp(usage: string, summary: string, specs: readonly OptionSpec[], positionals: readonly PositionalSpec[] = []): string {
  const lines = [`Usage: ${usage}`, '', summary, ''];
  const left = (s: OptionSpec) => `  --${s.name}${s.type === 'boolean' ? '' : ' <' + (s.type === 'string' ? 'str' : s.type === 'int' ? 'int' : 'num') + '>'}`;
  const width = Math.max(10, ...specs.map((s) => left(s).length), ...positionals.map((p) => p.name.length + 2)) + 4;
  if (positionals.length) {
    lines.push('Arguments:');
    for (const p of positionals) lines.push(`${`  ${p.name}`.padEnd(width)}${p.help}${p.required ? ' (required)' : ''}`);
    lines.push('');
  }
  if (specs.length) {
    lines.push('Options:');
    for (const s of specs) {
      const extra = [
        s.choices ? `one of: ${s.choices.join(', ')}` : '',
        s.default !== undefined ? `default: ${s.default}` : '',
        s.required ? 'required' : '',
        s.aliases?.length ? `formerly ${s.aliases.map((a) => `--${a}`).join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      lines.push(`${left(s).padEnd(width)}${s.help}${extra ? ` (${extra})` : ''}`);
    }
    lines.push(`  --help`.padEnd(width) + 'show this help');
    if (specs.some((s) => s.type === 'boolean')) {
      lines.push('', 'Switches (no <value>): --x turns one on; --no-x, --x=false or --x false turn it off.');
    }
  }
  return lines.join('\n');
}
