#!/usr/bin/env node
import { EXIT } from './args.js';
import { processIo } from './io.js';
import { describeFailure, findCommand, main } from './main.js';

const command = findCommand(process.argv[2]);
const label = command === undefined ? 'rewind' : `rewind ${command.name}`;

// Whatever escapes the command (an error thrown from a callback of a backend, a rejected promise nobody
// awaited) ends the process with one line and a documented exit code. These handlers are registered first,
// so they run before any a backend adds later (tfjs-wasm's re-throws, which would print a stack trace).
const fatal = (e: unknown): void => {
  const f = describeFailure(e);
  process.stderr.write(`${label}: ${f.code}: ${f.message}\n`);
  process.exit(f.exit === EXIT.ok ? EXIT.failure : f.exit);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
});

// Ctrl-C: commands that keep what finished (train, bench, demo) stop after the work in progress; the
// others stop at once (their outputs are written atomically, so nothing half-written is left). A second
// Ctrl-C stops at once.
const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (command?.keepsPartialResults === true && !interrupt.signal.aborted) {
    interrupt.abort();
    process.stderr.write(
      `\n${label}: interrupted: finishing the work in progress to keep what finished (Ctrl-C again to stop now)\n`,
    );
    return;
  }
  process.stderr.write(`\n${label}: interrupted; nothing more was written\n`);
  process.exit(EXIT.interrupted);
});

const code = await main(process.argv.slice(2), processIo(interrupt.signal));
process.exitCode = code;
