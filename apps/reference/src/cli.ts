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

// Ctrl-C: commands that keep what finished (train, bench, demo) stop after the iteration or round in
// progress, then print and write what finished, and exit 130; a second Ctrl-C stops at once. The other
// commands are ended by the signal at once, as without a handler (their outputs are written atomically, so
// nothing half-written is left).
const interrupt = new AbortController();
if (command?.keepsPartialResults === true) {
  process.on('SIGINT', () => {
    if (interrupt.signal.aborted) {
      process.stderr.write(`\n${label}: interrupted again; stopping now\n`);
      process.exit(EXIT.interrupted);
    }
    interrupt.abort();
    process.stderr.write(
      `\n${label}: interrupted: finishing the work in progress to keep what finished (Ctrl-C again to stop now)\n`,
    );
  });
}

const code = await main(process.argv.slice(2), processIo(interrupt.signal));
process.exitCode = code;
