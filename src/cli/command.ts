// What a CLI command is: a name, its option table (which also generates --help), the positional arguments it
// takes (none unless declared: a stray word is an error), and a run function that returns the process exit
// code. Commands live one per file in src/cli/commands/.
import type { OptionSpec, ParsedArgs, PositionalSpec } from './args.ts';

export interface Command {
  name: string; // e.g. 'inspect', or 'bench linear' for a subcommand
  summary: string; // one line, shown in `halo --help`
  usage: string; // e.g. 'halo inspect DIR'
  options: readonly OptionSpec[];
  positionals?: readonly PositionalSpec[];
  run(args: ParsedArgs): Promise<number>;
}
