import { constants, createReadStream } from 'node:fs';
import { access, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CliError, EXIT, formatBytes, formatDuration, UsageError } from './args.js';

/** What a command may touch: injected so that tests run commands in-process. */
export interface Io {
  readonly stdout: { write(chunk: string | Uint8Array): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown; readonly isTTY?: boolean };
  /** Standard input, cut off with `E_LIMIT` once it exceeds `maxBytes` (memory stays bounded). */
  readStdin(maxBytes: number): Promise<Uint8Array>;
  /** A file, cut off with `E_LIMIT` once it exceeds `maxBytes`. */
  readFile(path: string, maxBytes: number): Promise<Uint8Array>;
  /** Write a file atomically: a temporary file beside it, then a rename. */
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  makeDir(path: string): Promise<void>;
  /**
   * Check, before any work, that an output can be written: a file in an existing, writable directory and
   * not a directory itself; a directory that exists and is writable, or can be created. Throws `E_OUTPUT`.
   */
  checkOutput(path: string, kind: 'file' | 'dir'): Promise<void>;
  /** Milliseconds, for progress throttling. */
  now(): number;
  /** Aborted when the user interrupts (SIGINT); commands that keep partial results watch it. */
  readonly signal?: AbortSignal;
}

/** An input over its size limit, cut off while reading. */
export class InputTooLargeError extends CliError {
  readonly path: string;
  readonly limit: number;
  constructor(path: string, limit: number) {
    super(
      'E_LIMIT',
      `${path} is larger than the limit of ${formatBytes(limit)} (${limit} bytes); reading stopped there`,
      EXIT.usage,
    );
    this.name = 'InputTooLargeError';
    this.path = path;
    this.limit = limit;
  }
}

/** Read a stream, stopping with `InputTooLargeError` as soon as it passes `maxBytes`. */
export async function readBounded(
  stream: AsyncIterable<unknown>,
  maxBytes: number,
  name: string,
  stop?: () => void,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : (chunk as Uint8Array);
    total += bytes.length;
    if (total > maxBytes) {
      stop?.();
      throw new InputTooLargeError(name, maxBytes);
    }
    chunks.push(bytes);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function outputError(path: string, why: string): UsageError {
  return new UsageError('E_OUTPUT', `cannot write ${JSON.stringify(path)}: ${why}`);
}

async function exists(path: string) {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

async function writable(path: string): Promise<boolean> {
  try {
    await access(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The output check of `Io.checkOutput`, on the real file system. */
export async function checkOutputPath(path: string, kind: 'file' | 'dir'): Promise<void> {
  if (path.trim() === '') throw outputError(path, 'the path is empty');
  const full = resolve(path);
  const here = await exists(full);
  if (kind === 'file') {
    if (here?.isDirectory() === true) throw outputError(path, 'it is a directory; give a file name');
    if (here !== undefined && !(await writable(full))) throw outputError(path, 'the file is not writable');
    const parent = await exists(dirname(full));
    if (parent === undefined) throw outputError(path, `the directory ${dirname(path)} does not exist`);
    if (!parent.isDirectory()) throw outputError(path, `${dirname(path)} is not a directory`);
    if (!(await writable(dirname(full))))
      throw outputError(path, `the directory ${dirname(path)} is not writable`);
    return;
  }
  if (here !== undefined) {
    if (!here.isDirectory()) throw outputError(path, 'it exists and is not a directory');
    if (!(await writable(full))) throw outputError(path, 'the directory is not writable');
    return;
  }
  // The nearest existing ancestor must be a writable directory (the rest is created).
  let up = dirname(full);
  for (;;) {
    const s = await exists(up);
    if (s !== undefined) {
      if (!s.isDirectory()) throw outputError(path, `${up} is not a directory`);
      if (!(await writable(up))) throw outputError(path, `the directory ${up} is not writable`);
      return;
    }
    const next = dirname(up);
    if (next === up) throw outputError(path, 'no existing parent directory');
    up = next;
  }
}

/** Write `data` to `path` atomically: a temporary file in the same directory, then a rename. */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** The process's real streams and files. */
export function processIo(signal?: AbortSignal): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    async readStdin(maxBytes) {
      if (process.stdin.isTTY === true) {
        throw new UsageError(
          'E_TTY',
          'standard input is a terminal: pipe a policy in (... | rewind verify -) or give a FILE',
        );
      }
      return readBounded(process.stdin, maxBytes, 'standard input', () => process.stdin.destroy());
    },
    async readFile(path, maxBytes) {
      const s = await stat(path);
      if (s.isDirectory())
        throw new UsageError('E_INPUT', `${JSON.stringify(path)} is a directory, not a file`);
      const stream = createReadStream(path);
      return readBounded(stream, maxBytes, path, () => stream.destroy());
    },
    writeFile: writeAtomic,
    async makeDir(path) {
      await mkdir(path, { recursive: true });
    },
    checkOutput: checkOutputPath,
    now: () => performance.now(),
    ...(signal === undefined ? {} : { signal }),
  };
}

/**
 * A progress line on stderr for work that may take more than a moment: redrawn in place on a terminal,
 * printed every few seconds otherwise, with the time left estimated from the pace so far.
 */
export class Progress {
  private last = Number.NEGATIVE_INFINITY;
  private readonly start: number;
  private shown = false;

  constructor(
    private readonly io: Io,
    private readonly label: string,
  ) {
    this.start = io.now();
  }

  update(done: number, total: number, detail = ''): void {
    const now = this.io.now();
    const tty = this.io.stderr.isTTY === true;
    if (now - this.start < 1000 || now - this.last < (tty ? 100 : 5000)) return;
    this.last = now;
    this.shown = true;
    const width = 24;
    const share = Math.min(1, Math.max(0, done / Math.max(1, total)));
    const filled = Math.round(width * share);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const pct = (100 * share).toFixed(0).padStart(3);
    const elapsed = (now - this.start) / 1000;
    // A time left extrapolated from under 1% of the work says nothing (e.g. hundreds of hours at 0%).
    const left = share >= 0.01 ? `, ~${formatDuration((elapsed * (1 - share)) / share)} left` : '';
    const line = `${this.label} [${bar}] ${pct}% (${formatDuration(elapsed)}${left}) ${detail}`;
    this.io.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  done(): void {
    if (this.shown && this.io.stderr.isTTY === true) this.io.stderr.write('\r\x1b[K');
  }
}
