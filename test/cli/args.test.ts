// The strict CLI: switches mean what they say in every spelling, unknown options and stray words are errors
// that name them, renamed options still work under their old names with one deprecation line, and every
// registered command keeps one name per concept.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { formatHelp, parseArgs, type OptionSpec, type PositionalSpec } from '../../src/cli/args.ts';
import type { Command } from '../../src/cli/command.ts';
import { main } from '../../src/cli/main.ts';
import { COMMANDS } from '../../src/cli/registry.ts';
import { HaloError } from '../../src/core/errors.ts';
import { halo } from '../helpers/run-halo.ts';

const SPECS: readonly OptionSpec[] = [
  { name: 'train-on-prompt', type: 'boolean', help: 'switch' },
  { name: 'json', type: 'boolean', help: 'switch with a default', default: false },
  { name: 'out', type: 'string', help: 'a folder' },
  { name: 'lr', type: 'number', help: 'a number', default: 1e-3 },
  { name: 'max-seq-len', aliases: ['seq-len'], type: 'int', help: 'renamed', default: 256 },
  { name: 'verbose', aliases: ['chatty'], type: 'boolean', help: 'renamed switch' },
  { name: 'format', type: 'string', help: 'a choice', choices: ['int8', 'fp8'] },
];

const parse = (argv: string[], positionals: readonly PositionalSpec[] = []) => parseArgs(argv, SPECS, positionals);

/** The E_ARG message parseArgs throws for argv (fails the test if it does not throw one). */
function argError(argv: string[], positionals: readonly PositionalSpec[] = []): string {
  try {
    parse(argv, positionals);
  } catch (e) {
    assert.ok(e instanceof HaloError, String(e));
    assert.equal(e.code, 'E_ARG');
    return e.message;
  }
  assert.fail(`expected ${argv.join(' ')} to be rejected`);
}

describe('parseArgs: switches', () => {
  const cases: [string[], boolean | undefined][] = [
    [[], undefined],
    [['--train-on-prompt'], true],
    [['--no-train-on-prompt'], false],
    [['--train-on-prompt=true'], true],
    [['--train-on-prompt=false'], false],
    [['--train-on-prompt', 'true'], true],
    [['--train-on-prompt', 'false'], false],
    [['--train-on-prompt', 'false', '--out', 'x'], false],
    [['--train-on-prompt', '--no-train-on-prompt'], false], // the last one wins
  ];
  for (const [argv, want] of cases) {
    it(`${argv.join(' ') || '(none)'} → ${want}`, () => {
      const r = parse(argv);
      assert.equal(r.options['train-on-prompt'], want);
      assert.deepEqual(r.positionals, [], 'true/false after a switch is its value, not a stray word');
    });
  }

  it('keeps a default unless told otherwise', () => {
    assert.equal(parse([]).options.json, false);
    assert.equal(parse(['--json']).options.json, true);
  });

  it('rejects a value it cannot read and a value on --no-x', () => {
    assert.match(argError(['--json=maybe']), /--json takes true or false, got 'maybe'/);
    assert.match(argError(['--no-json=false']), /--no-json takes no value/);
  });

  it('--no-x exists only for switches', () => {
    assert.match(argError(['--no-out']), /unknown option --no-out/);
  });
});

describe('parseArgs: values', () => {
  it('reads --name value and --name=value, converting numbers', () => {
    const r = parse(['--out', 'runs/a', '--lr=2e-4', '--max-seq-len', '64', '--format', 'fp8']);
    assert.deepEqual(r.options, { out: 'runs/a', lr: 2e-4, 'max-seq-len': 64, format: 'fp8', json: false });
  });

  it('takes a negative number as a value', () => {
    assert.equal(parse(['--lr', '-1e-3']).options.lr, -1e-3);
  });

  it('names a missing value, an option where a value should be, a bad number and a bad choice', () => {
    assert.match(argError(['--out']), /option --out needs a value$/);
    assert.match(argError(['--out', '--json']), /option --out needs a value, got the option --json/);
    assert.equal(parse(['--out=--json']).options.out, '--json', 'the = form is the way to pass such a value');
    assert.match(argError(['--max-seq-len', '6.5']), /--max-seq-len takes an integer, got '6.5'/);
    assert.match(argError(['--lr', 'fast']), /--lr takes a number, got 'fast'/);
    assert.match(argError(['--format', 'fp4']), /--format must be one of int8, fp8; got 'fp4'/);
  });

  it('requires what is required', () => {
    assert.throws(() => parseArgs([], [{ name: 'model', type: 'string', help: '', required: true }]), /missing required option --model/);
  });
});

describe('parseArgs: unknown options and stray words', () => {
  it('names an unknown option and suggests the closest one', () => {
    assert.match(argError(['--ouput', 'x']), /^unknown option --ouput \(did you mean --out\?\)$/);
    assert.match(argError(['--max-seq', '8']), /unknown option --max-seq \(did you mean --max-seq-len\?\)/);
    assert.match(argError(['--zzzzzz']), /^unknown option --zzzzzz$/);
    assert.match(argError(['-j']), /unknown option -j/);
  });

  it('rejects a stray word, naming it', () => {
    assert.match(argError(['--out', 'x', 'stray']), /^unexpected argument 'stray' \(this command takes --options only\)$/);
    assert.match(argError(['a', '--json', 'b']), /unexpected arguments 'a' 'b'/);
  });

  it('says so when the stray word followed a switch', () => {
    assert.match(argError(['--train-on-prompt', 'no']), /unexpected argument 'no' after the switch --train-on-prompt, which takes no value/);
  });

  it('takes declared positionals, and requires the required ones', () => {
    const dir: PositionalSpec[] = [{ name: 'DIR', help: 'the model folder', required: true }];
    assert.deepEqual(parse(['models/x', '--json'], dir).positionals, ['models/x']);
    assert.match(argError(['--json'], dir), /^missing DIR: the model folder$/);
    assert.match(argError(['a', 'b'], dir), /unexpected argument 'b' \(it takes DIR and --options only\)/);
  });

  it('treats everything after -- as positional', () => {
    const r = parse(['--json', '--', '--out'], [{ name: 'X', help: '' }]);
    assert.deepEqual(r.positionals, ['--out']);
    assert.equal(r.options.out, undefined);
  });
});

describe('parseArgs: renamed options', () => {
  it('accepts the old name under the new key, with one deprecation line', () => {
    const r = parse(['--seq-len', '32', '--seq-len=48']);
    assert.equal(r.options['max-seq-len'], 48);
    assert.equal(r.options['seq-len'], undefined);
    assert.deepEqual(r.deprecations, ['--seq-len is deprecated; use --max-seq-len']);
    assert.deepEqual(parse(['--max-seq-len', '32']).deprecations, []);
  });

  it('negates an old switch name too', () => {
    const r = parse(['--no-chatty']);
    assert.equal(r.options.verbose, false);
    assert.deepEqual(r.deprecations, ['--no-chatty is deprecated; use --no-verbose']);
  });

  it('names the option as typed in a value error', () => {
    assert.match(argError(['--seq-len', 'x']), /--seq-len takes an integer/);
  });
});

describe('formatHelp', () => {
  it('lists positionals, old names and how switches are spelled', () => {
    const h = formatHelp('halo x DIR', 'does x', SPECS, [{ name: 'DIR', help: 'the folder', required: true }]);
    assert.match(h, /Arguments:\n {2}DIR +the folder \(required\)/);
    assert.match(h, /--max-seq-len <int> +renamed \(default: 256; formerly --seq-len\)/);
    assert.match(h, /--no-x, --x=false or --x false/);
  });
});

describe('the registered commands', () => {
  it('have no name clash within a command (names, old names, --no- forms)', () => {
    for (const c of COMMANDS) {
      const seen = new Map<string, string>();
      for (const s of c.options) {
        for (const n of [s.name, ...(s.aliases ?? []), ...(s.type === 'boolean' ? [`no-${s.name}`] : [])]) {
          assert.ok(!seen.has(n) || (n.startsWith('no-') && seen.get(n) === n), `${c.name}: --${n} is declared twice`);
          seen.set(n, s.name);
        }
      }
      assert.ok(!seen.has('help'), `${c.name}: --help is the CLI's`);
    }
  });

  it("use one name per concept: the retired names are nobody's current name, and --out is always a path", () => {
    const retired = new Set(['seq-len', 'limit', 'eval-examples', 'in']);
    for (const c of COMMANDS) {
      for (const s of c.options) {
        assert.ok(!retired.has(s.name), `${c.name}: --${s.name} was renamed (see src/cli/args.ts aliases)`);
        if (s.name === 'out') assert.equal(s.type, 'string', `${c.name}: --out names an output folder or file`);
      }
    }
  });

  it('every command that reads positionals declares them', () => {
    for (const c of COMMANDS) {
      const usesWords = /^halo [a-z ]+ [A-Z]/.test(c.usage);
      assert.equal(usesWords, (c.positionals?.length ?? 0) > 0, `${c.name}: usage '${c.usage}' vs declared positionals`);
    }
  });
});

/** Runs main() on one command with stdout/stderr captured. */
async function runMain(argv: string[], commands: readonly Command[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv, commands), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

describe('main', () => {
  let ran: Record<string, unknown> | null = null;
  const probe: Command = {
    name: 'probe',
    summary: 'test command',
    usage: 'halo probe [--max-seq-len N]',
    options: SPECS,
    async run(args) {
      ran = args.options;
      return 0;
    },
  };

  it('exits 2 with one line naming an unknown option or a stray word, without running the command', async () => {
    ran = null;
    for (const [argv, re] of [
      [['probe', '--bogus'], /unknown option --bogus/],
      [['probe', 'stray'], /unexpected argument 'stray'/],
    ] as const) {
      const r = await runMain([...argv], [probe]);
      assert.equal(r.code, 2);
      assert.match(r.err, re);
      assert.equal(r.err.trimEnd().split('\n').length, 1, r.err);
      assert.ok(r.err.startsWith('halo probe: '));
    }
    assert.equal(ran, null);
  });

  it('exits 2 naming an unknown command or subcommand', async () => {
    const group: Command = { ...probe, name: 'probe sub' };
    const r = await runMain(['nope'], [probe, group]);
    assert.equal(r.code, 2);
    assert.equal(r.err, "halo: unknown command 'nope'. Run 'halo --help' for the list.\n");
    const s = await runMain(['probe', 'sbu', '--x'], [group]);
    assert.equal(s.code, 2);
    assert.equal(s.err, "halo: unknown command 'probe sbu'. Run 'halo probe --help' for the list.\n");
    const list = await runMain(['probe'], [group]);
    assert.equal(list.code, 1, 'a group alone lists its commands');
    assert.match(list.out, /probe sub/);
  });

  it('prints one deprecation line for an old name and runs with the new key', async () => {
    const r = await runMain(['probe', '--seq-len', '16'], [probe]);
    assert.equal(r.code, 0);
    assert.equal(r.err, 'halo probe: --seq-len is deprecated; use --max-seq-len\n');
    assert.equal(ran!['max-seq-len'], 16);
  });
});

describe('halo finetune (the CLI as a user runs it)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-args-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const base = ['finetune', '--model', 'models/halo-tiny', '--data', 'data/sql/train.jsonl:0:2', '--out', path.join(tmp, 'x')];
  const shown = (out: string) => out.slice(out.indexOf('legend:')).split('\n')[1]!;

  it('--train-on-prompt false keeps the prompt masked; --train-on-prompt true trains on it', async () => {
    const off = await halo(...base, '--train-on-prompt', 'false', '--debug-data');
    assert.equal(off.code, 0, off.err);
    assert.match(shown(off.out), /^⟦<\|begin_of_text\|><\|start_header_id\|>user/, 'the prompt is inside ⟦…⟧ (no loss)');
    const masked = Number(/(\d+) with loss/.exec(off.out)![1]);
    const on = await halo(...base, '--train-on-prompt', 'true', '--debug-data');
    assert.equal(on.code, 0, on.err);
    const trained = Number(/(\d+) with loss/.exec(on.out)![1]);
    assert.ok(trained > masked, `train-on-prompt puts loss on the prompt too (${trained} vs ${masked} tokens)`);
    assert.match(shown(on.out), /^⟦<\|begin_of_text\|>⟧<\|start_header_id\|>user/, 'only the first token (nothing predicts it) is masked');
  });

  it('a stray word exits 2 with one line naming it', async () => {
    const r = await halo(...base, '--debug-data', 'stray');
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      "halo finetune: unexpected argument 'stray' after the switch --debug-data, which takes no value (write --debug-data=false or --no-debug-data to turn it off)\n",
    );
    assert.equal(r.out, '');
  });
});
