// Every CLI command, in the order `halo --help` lists them. Adding a command = one file + one line here.
import type { Command } from './command.ts';
import { analyzeGradientsCommand } from './commands/analyze-gradients.ts';
import { analyzeOutliersCommand } from './commands/analyze-outliers.ts';
import { benchCommCommand } from './commands/bench-comm.ts';
import { benchGemmCommand } from './commands/bench-gemm.ts';
import { benchCompareCommand } from './commands/bench-compare.ts';
import { benchHadamardCommand } from './commands/bench-hadamard.ts';
import { benchLinearCommand } from './commands/bench-linear.ts';
import { benchModelCommand } from './commands/bench-model.ts';
import { benchStepCommand } from './commands/bench-step.ts';
import { demoCommand } from './commands/demo.ts';
import { experimentAblationCommand } from './commands/experiment-ablation.ts';
import { experimentCompareCommand } from './commands/experiment-compare.ts';
import { evalCommand } from './commands/eval.ts';
import { finetuneCommand } from './commands/finetune.ts';
import { generateCommand } from './commands/generate.ts';
import { initCommand } from './commands/init.ts';
import { inspectCommand } from './commands/inspect.ts';
import { mergeCommand } from './commands/merge.ts';
import { pretrainCommand } from './commands/pretrain.ts';
import { tokenizerTrainCommand } from './commands/tokenizer-train.ts';

export const COMMANDS: readonly Command[] = [
  demoCommand,
  finetuneCommand,
  evalCommand,
  generateCommand,
  mergeCommand,
  pretrainCommand,
  initCommand,
  tokenizerTrainCommand,
  inspectCommand,
  benchLinearCommand,
  benchGemmCommand,
  benchHadamardCommand,
  benchStepCommand,
  benchModelCommand,
  benchCompareCommand,
  benchCommCommand,
  analyzeOutliersCommand,
  analyzeGradientsCommand,
  experimentAblationCommand,
  experimentCompareCommand,
];
