import { mkdir, readFile, writeFile } from 'node:fs/promises';

/** What a command may touch: injected so that tests run commands in-process. */
export interface Io {
  readonly stdout: { write(chunk: string | Uint8Array): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readStdin(): Promise<Uint8Array>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  makeDir(path: string): Promise<void>;
  /** Milliseconds, for progress throttling. */
  now(): number;
}

/** The process's real streams and files. */
export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return new Uint8Array(Buffer.concat(chunks));
    },
    async readFile(path) {
      return new Uint8Array(await readFile(path));
    },
    async writeFile(path, data) {
      await writeFile(path, data);
    },
    async makeDir(path) {
      await mkdir(path, { recursive: true });
    },
    now: () => performance.now(),
  };
}

/**
 * A progress line on stderr for work that may take more than a moment: redrawn in place on a terminal,
 * printed every few seconds otherwise.
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
    const filled = Math.round((width * done) / Math.max(1, total));
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const pct = ((100 * done) / Math.max(1, total)).toFixed(0).padStart(3);
    const line = `${this.label} [${bar}] ${pct}% ${detail}`;
    this.io.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  done(): void {
    if (this.shown && this.io.stderr.isTTY === true) this.io.stderr.write('\r\x1b[K');
  }
}
