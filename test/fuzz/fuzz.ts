// Seeded fuzz driver for halo's parsers (safetensors + index, HF config + folder, tokenizer, JSONL):
//   node --import tsx test/fuzz/fuzz.ts --iterations N --seed S [--target safetensors|config|tokenizer|jsonl|all]
//   node --import tsx test/fuzz/fuzz.ts --target T --seed S --case I     (re-runs one case in-process)
// Prints a table of outcomes per target and a line per finding (its reproducer is under os.tmpdir()/halo-fuzz);
// exits 1 on any crash, hang, broken invariant or unjustified allocation.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TARGET_NAMES, type TargetName } from './case.ts';
import { runFuzz } from './harness.ts';
import { caseRng } from './pick.ts';
import { DEFAULT_LIMITS, isFinding, runCase, writeCase } from './run-case.ts';
import { buildSeeds } from './seeds.ts';
import { findingLines, summaryTable } from './table.ts';
import { makeTarget } from './targets/index.ts';

interface Args {
  iterations: number;
  seed: number;
  targets: TargetName[];
  caseIndex: number | null;
}

function usage(msg: string): never {
  console.error(`${msg}\nusage: fuzz.ts --iterations N --seed S [--target ${TARGET_NAMES.join('|')}|all] [--case I]`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { iterations: 1000, seed: 1, targets: [...TARGET_NAMES], caseIndex: null };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (v === undefined) usage(`${flag} needs a value`);
    const int = () => (/^\d+$/.test(v) ? Number(v) : usage(`${flag} must be a non-negative integer, got ${v}`));
    if (flag === '--iterations') a.iterations = int();
    else if (flag === '--seed') a.seed = int();
    else if (flag === '--case') a.caseIndex = int();
    else if (flag === '--target') {
      if (v === 'all') a.targets = [...TARGET_NAMES];
      else if ((TARGET_NAMES as readonly string[]).includes(v)) a.targets = [v as TargetName];
      else usage(`unknown target ${v}`);
    } else usage(`unknown flag ${flag}`);
  }
  return a;
}

/** One case, in this process, with the full stack and the input left on disk. */
function runOne(a: Args): number {
  if (a.targets.length !== 1) usage('--case needs one --target');
  const name = a.targets[0]!;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-fuzz-case-'));
  const target = makeTarget(name, buildSeeds(path.join(work, 'seeds')));
  const c = target.generate(caseRng(a.seed, TARGET_NAMES.indexOf(name), a.caseIndex!));
  const dir = path.join(work, 'case');
  const bytes = writeCase(dir, c);
  const r = runCase(target, dir, a.caseIndex!, c, bytes, DEFAULT_LIMITS);
  const mem = `${(r.memDelta / 2 ** 20).toFixed(1)} MiB for ${bytes} input bytes${r.memFlag ? ' (MEMORY FLAG: more than the input + 64 MiB)' : ''}`;
  console.log(`${name} case ${r.index} (seed ${a.seed}): ${r.outcome}, ${r.ms.toFixed(1)} ms, ${mem}`);
  console.log(`mutation: ${c.note}`);
  console.log(`input: ${dir}`);
  if (r.error) console.log(`${r.error.stack ?? `${r.error.name}: ${r.error.message}`}`);
  return isFinding(r) ? 1 : 0;
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  if (a.caseIndex !== null) return runOne(a);
  const rows = await runFuzz({ targets: a.targets, iterations: a.iterations, seed: a.seed });
  console.log(`halo parser fuzzing: ${a.iterations} cases per target, seed ${a.seed}\n`);
  console.log(summaryTable(rows));
  const findings = findingLines(rows);
  if (findings.length) console.log(`\n${findings.length} finding(s):\n${findings.join('\n')}`);
  return rows.some((r) => r.findings.length) ? 1 : 0;
}

process.exitCode = await main();
