// The kill -9 crash test (crash-run.ts) from the command line:
//   node --import tsx test/crash/crash-test.ts --kills 20 --seed 1 [--steps N] [--backend reference|native] [--keep]
// Prints one line per kill and a summary; exits 1 unless every resume picked the newest complete checkpoint,
// no checkpoint was unusable, and the final weights and loss curve are within 1e-6 of the uninterrupted run.
import { crashPassed, describeCrash, runCrashTest, type CrashOptions } from './crash-run.ts';

function usage(msg: string): never {
  console.error(`${msg}\nusage: crash-test.ts --kills N --seed S [--steps N] [--backend reference|native] [--keep]`);
  process.exit(2);
}

function parseArgs(argv: string[]): CrashOptions {
  const o: CrashOptions = { kills: 20, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--keep') {
      o.keep = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) usage(`${flag} needs a value`);
    const int = () => (/^\d+$/.test(v) ? Number(v) : usage(`${flag} must be a non-negative integer, got ${v}`));
    if (flag === '--kills') o.kills = int();
    else if (flag === '--seed') o.seed = int();
    else if (flag === '--steps') o.steps = int();
    else if (flag === '--backend') o.backend = v === 'native' || v === 'reference' ? v : usage(`--backend must be reference or native, got ${v}`);
    else usage(`unknown flag ${flag}`);
  }
  return o;
}

const o = parseArgs(process.argv.slice(2));
console.log(`halo crash test: ${o.kills} kills, seed ${o.seed}`);
const s = await runCrashTest({ ...o, log: (l) => console.log(l) });
console.log(`\n${describeCrash(s)}${o.keep ? `\nwork folder: ${s.workDir}` : ''}`);
const ok = crashPassed(s);
console.log(ok ? 'PASS' : 'FAIL');
process.exitCode = ok ? 0 : 1;
