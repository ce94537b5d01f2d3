// `halo <command> [options]`: finds the command (longest name match, so 'bench linear' beats 'bench'),
// parses its flags (strictly: unknown options and stray words are errors; a deprecated flag name prints one line),
// runs it, and turns HaloErrors into one clear line on stderr and exit code 2.
import { HaloError } from '../core/errors.ts';
import { formatHelp, parseArgs } from './args.ts';
import type { Command } from './command.ts';
import { COMMANDS } from './registry.ts';

export async function main(argv: readonly string[], commands: readonly Command[] = COMMANDS): Promise<number> {
  const words = argv.filter((a) => !a.startsWith('-'));
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (argv.length === 0 || (wantsHelp && words.length === 0)) {
    process.stdout.write(topHelp(commands) + '\n');
    return argv.length === 0 ? 1 : 0;
  }
  const cmd = [...commands].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length).find((c) => c.name.split(' ').every((w, i) => argv[i] === w));
  if (!cmd) {
    const group = commands.filter((c) => c.name.startsWith(argv[0] + ' '));
    const sub = argv[1];
    if (group.length && (sub === undefined || sub.startsWith('-'))) {
      process.stdout.write(topHelp(group) + '\n');
      return wantsHelp ? 0 : 1;
    }
    const what = group.length ? `${argv[0]} ${sub}` : argv[0];
    process.stderr.write(`halo: unknown command '${what}'. Run 'halo ${group.length ? argv[0] + ' ' : ''}--help' for the list.\n`);
    return 2;
  }
  const rest = argv.slice(cmd.name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(formatHelp(cmd.usage, cmd.summary, cmd.options, cmd.positionals) + '\n');
    return 0;
  }
  try {
    const args = parseArgs(rest, cmd.options, cmd.positionals);
    for (const line of args.deprecations) process.stderr.write(`halo ${cmd.name}: ${line}\n`);
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof HaloError) {
      process.stderr.write(`halo ${cmd.name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

function topHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 4;
  return [
    'Usage: halo <command> [options]   (halo <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
  ].join('\n');
}
