/** Running the command line in-process on an in-memory file system, for tests. */
import { checkOutputPath, type Io, readBounded } from './io.js';
import { main } from './main.js';

export interface Captured {
  code: number;
  stdout: Uint8Array;
  text: string;
  stderr: string;
}

async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536);
}

/**
 * An Io over a map of files. Absolute output paths are checked on the real file system (so that tests can
 * name directories that do not exist); relative ones always pass.
 */
export function memoryIo(
  stdin: Uint8Array | (() => AsyncIterable<Uint8Array>),
  files: Map<string, Uint8Array>,
  out: Uint8Array[],
  err: { text: string },
  signal?: AbortSignal,
): Io {
  const enc = new TextEncoder();
  return {
    stdout: { write: (c: string | Uint8Array) => out.push(typeof c === 'string' ? enc.encode(c) : c) },
    stderr: {
      write: (c: string) => {
        err.text += c;
      },
    },
    readStdin: (max) =>
      readBounded(typeof stdin === 'function' ? stdin() : chunks(stdin), max, 'standard input'),
    readFile: async (p, max) => {
      const f = files.get(p);
      if (f === undefined)
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
      return readBounded(chunks(f), max, p);
    },
    writeFile: async (p, d) => {
      files.set(p, typeof d === 'string' ? enc.encode(d) : d);
    },
    makeDir: async () => {},
    checkOutput: async (p, kind) => {
      if (p.startsWith('/')) await checkOutputPath(p, kind);
    },
    now: () => performance.now(),
    ...(signal === undefined ? {} : { signal }),
  };
}

/** Run `rewind argv` in-process. */
export async function run(
  argv: string[],
  stdin: Uint8Array | (() => AsyncIterable<Uint8Array>) = new Uint8Array(),
  files = new Map<string, Uint8Array>(),
  signal?: AbortSignal,
): Promise<Captured> {
  const out: Uint8Array[] = [];
  const err = { text: '' };
  const code = await main(argv, memoryIo(stdin, files, out, err, signal));
  const stdout = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of out) {
    stdout.set(c, at);
    at += c.length;
  }
  return { code, stdout, text: new TextDecoder().decode(stdout), stderr: err.text };
}
