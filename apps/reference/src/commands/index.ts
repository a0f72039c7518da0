import { benchCommand } from './bench.js';
import { checkCellCommand } from './check-cell.js';
import type { Command } from './command.js';
import { costCommand } from './cost.js';
import { demoCommand } from './demo.js';
import { frontierCommand } from './frontier.js';
import { planCommand } from './plan.js';
import { reportCommand } from './report.js';
import { trainCommand } from './train.js';
import { verifyCommand } from './verify.js';

/** Every command, in the order `rewind --help` lists them. */
export const COMMANDS: readonly Command[] = [
  planCommand,
  costCommand,
  verifyCommand,
  frontierCommand,
  trainCommand,
  benchCommand,
  reportCommand,
  demoCommand,
  checkCellCommand,
];
