/**
 * What a command is: a name, a one-line summary, an option table, and the work. `rewind --help` and
 * `rewind <command> --help` are generated from these tables, and options are parsed from them.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../args.js';
import type { Io } from '../io.js';

/** One option of a command. */
export interface OptionSpec {
  readonly name: string;
  /** `string`: one value; `strings`: the option may repeat; `boolean`: a flag. */
  readonly type: 'string' | 'strings' | 'boolean';
  /** The value's placeholder in the help, e.g. `T`. */
  readonly value?: string;
  /** What it means, with its default and range. */
  readonly help: string;
}

/** The parsed values of a command's options. */
export type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** What a command receives. */
export interface CommandContext {
  readonly io: Io;
  readonly values: Values;
  readonly positionals: readonly string[];
}

/** A `rewind` command. */
export interface Command {
  readonly name: string;
  /** One line for `rewind --help`. */
  readonly summary: string;
  /** The usage line, e.g. `rewind plan --steps T --memory M [options]`. */
  readonly usage: string;
  /** Paragraphs printed between the usage line and the options. */
  readonly description?: string;
  readonly options: readonly OptionSpec[];
  /** Paragraphs printed after the options (limits, examples). */
  readonly notes?: string;
  /** Whether the command keeps what finished when interrupted (otherwise SIGINT ends it at once). */
  readonly keepsPartialResults?: boolean;
  /** Whether the command takes positional arguments (otherwise they are refused). */
  readonly positionals?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

const HELP_OPTION: OptionSpec = { name: 'help', type: 'boolean', help: 'print this help' };

/**
 * Parse a command's arguments against its option table. A negative number given as an option's value
 * (`--steps -5`) is read as that value, so that it is refused for its range rather than as a stray option.
 */
export function parseOptions(
  command: Command,
  args: readonly string[],
): { values: Values; positionals: string[] } {
  const table = [...command.options, HELP_OPTION];
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const o of table) {
    config[o.name] = o.type === 'strings' ? { type: 'string', multiple: true } : { type: o.type };
  }
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const next = args[i + 1];
    const spec = a.startsWith('--') ? table.find((o) => `--${o.name}` === a) : undefined;
    if (spec !== undefined && spec.type !== 'boolean' && next !== undefined && /^-[0-9.]/.test(next)) {
      joined.push(`${a}=${next}`);
      i++;
    } else joined.push(a);
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: joined, options: config, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError('E_OPTION', optionMessage(command, (e as Error).message));
  }
  if (command.positionals !== true && parsed.positionals.length > 0) {
    throw new UsageError(
      'E_OPTION',
      `unexpected argument ${JSON.stringify(parsed.positionals[0])}: rewind ${command.name} takes options only`,
    );
  }
  return { values: parsed.values as Values, positionals: parsed.positionals };
}

/** Node's parseArgs messages, made to name the allowed options. */
function optionMessage(command: Command, message: string): string {
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown !== null) {
    return `unknown option ${unknown[1]}: rewind ${command.name} takes ${command.options.map((o) => `--${o.name}`).join(', ')}`;
  }
  const missing = /Option '(--[^ ]+)[^']*' argument missing/.exec(message);
  if (missing !== null) return `${missing[1]} needs a value`;
  const ambiguous = /Option '(--[^ ]+)[^']*' argument is ambiguous/.exec(message);
  if (ambiguous !== null)
    return `${ambiguous[1]} needs a value (to give one that starts with '-', write ${ambiguous[1]}=-VALUE)`;
  const flag = /Option '(--[^ ]+)' does not take an argument/.exec(message);
  if (flag !== null) return `${flag[1]} is a flag and takes no value`;
  return message.split('\n')[0] ?? message;
}

/** A string option's value, if given. */
export function str(values: Values, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

/** The help of one command, generated from its table. */
export function commandHelp(command: Command): string {
  const rows = command.options.map((o) => ({
    left: `--${o.name}${o.value === undefined ? '' : ` ${o.value}`}`,
    help: o.help,
  }));
  const width = Math.max(...rows.map((r) => r.left.length), 8) + 2;
  const lines = [`Usage: ${command.usage}`, '', command.summary];
  if (command.description !== undefined) lines.push('', command.description);
  if (rows.length > 0) {
    lines.push('', 'Options:');
    for (const r of rows) {
      const [first, ...rest] = wrap(r.help, 100 - width - 2);
      lines.push(`  ${r.left.padEnd(width)}${first ?? ''}`);
      for (const more of rest) lines.push(`  ${''.padEnd(width)}${more}`);
    }
  }
  if (command.notes !== undefined) lines.push('', command.notes);
  return lines.join('\n');
}

/** The program's help: every command with its summary, generated from the command list. */
export function programHelp(commands: readonly Command[], exitCodes: string): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 3;
  return [
    'rewind: memory-efficient backpropagation through time',
    '',
    'Usage: rewind <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'rewind <command> --help' for a command's options.",
    '',
    exitCodes,
  ].join('\n');
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(line);
  return out;
}
