/**
 * The `rewind` command line: dispatch to the commands of `./commands/`, and map every error that reaches
 * here to one line and a documented exit code.
 */
import { PolicyError } from '@rewind/policy';
import { SolverError } from '@rewind/solver';
import { CliError, EXIT, formatNumber } from './args.js';
import { type Command, commandHelp, parseOptions, programHelp } from './commands/command.js';
import { COMMANDS } from './commands/index.js';
import type { Io } from './io.js';
import { RunnerError } from './runners.js';

export { EXIT } from './args.js';
export { planRequest } from './commands/plan.js';
export { decodeAny, looksBinary, skipRunnerBanner } from './policy-io.js';

/** The exit codes, as the help prints them. */
export const EXIT_CODES =
  'Exit codes: 0 success, 1 invalid policy, 2 usage error (options, input files, output paths), 3 budget\n' +
  'below the minimum, 4 other failure (I/O, backend, diverged training), 130 interrupted (Ctrl-C; train,\n' +
  'bench and demo keep what finished). Every failure is one line on stderr: rewind <command>: CODE: message.';

/** The command of a name, if there is one. */
export function findCommand(name: string | undefined): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The text of `rewind --help`. */
export function mainHelp(): string {
  return programHelp(COMMANDS, EXIT_CODES);
}

/** One line for a message: numbers shown to 12 significant digits, "1 slot", the first line only. */
function tidy(message: string): string {
  const first = message.split('\n')[0] ?? '';
  return first
    .replace(/-?\d+\.\d{6,}(?:e[+-]?\d+)?/g, (n) => formatNumber(Number(n)))
    .replace(/\b1 (slot|byte)s\b/g, '1 $1');
}

/** Command-line names of the solver's request fields (dotted paths or JSON pointers). */
function optionOf(path: string | undefined): string {
  const p = (path ?? '').replace(/^\//, '').replace(/\//g, '.');
  if (p.startsWith('memory')) return '--memory: ';
  if (p === 'steps') return '--steps: ';
  if (p === 'costModel.alpha') return '--alpha: ';
  if (p === 'costModel.backwardCost') return '--backward-cost: ';
  return '';
}

/** The line and exit code of an error that reached `main`. */
export function describeFailure(e: unknown): { code: string; message: string; exit: number } {
  if (e instanceof CliError) return { code: e.code, message: tidy(e.message), exit: e.exit };
  if (e instanceof SolverError) {
    const exit =
      e.code === 'E_BUDGET_TOO_SMALL'
        ? EXIT.infeasible
        : e.code === 'E_INVALID_ARGUMENT' || e.code === 'E_TOO_LARGE'
          ? EXIT.usage
          : EXIT.failure;
    // The command line cannot raise the solver's size limits: drop that advice.
    const message = tidy(e.message)
      .replace(/ \(max\w+\)/, '')
      .replace(/,? or raise max\w+/, '');
    return { code: e.code, message: `${optionOf(e.path)}${message}`, exit };
  }
  if (e instanceof PolicyError)
    return { code: e.code, message: tidy(e.message.replace(/^E_[A-Z_]+:? /, '')), exit: EXIT.invalid };
  if (e instanceof RunnerError) return { code: e.code, message: tidy(e.message), exit: EXIT.failure };
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) {
      return { code, message: tidy(e.message.replace(new RegExp(`^${code}:? `), '')), exit: EXIT.failure };
    }
    return { code: 'E_INTERNAL', message: tidy(`${e.name}: ${e.message}`), exit: EXIT.failure };
  }
  return { code: 'E_INTERNAL', message: tidy(String(e)), exit: EXIT.failure };
}

/** Run the command line; returns the exit code. Errors are printed as one line, without stack traces. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = findCommand(rest[0]);
    io.stdout.write(`${topic === undefined ? mainHelp() : commandHelp(topic)}\n`);
    return EXIT.ok;
  }
  const command = findCommand(name);
  if (command === undefined) {
    io.stderr.write(
      `rewind: E_COMMAND: unknown command ${JSON.stringify(name)}: the commands are ${COMMANDS.map((c) => c.name).join(', ')} (see rewind --help)\n`,
    );
    return EXIT.usage;
  }
  try {
    const { values, positionals } = parseOptions(command, rest);
    if (values['help'] === true) {
      io.stdout.write(`${commandHelp(command)}\n`);
      return EXIT.ok;
    }
    return await command.run({ io, values, positionals });
  } catch (e) {
    const f = describeFailure(e);
    const hint = f.exit === EXIT.usage ? ` (see rewind ${command.name} --help)` : '';
    io.stderr.write(`rewind ${command.name}: ${f.code}: ${f.message}${hint}\n`);
    return f.exit;
  }
}
