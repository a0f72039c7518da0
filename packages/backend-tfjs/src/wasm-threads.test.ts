import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTfjsEngine } from './engine.js';
import { isTfjsBackendError } from './errors.js';

const run = promisify(execFile);
const tsx = createRequire(import.meta.url).resolve('tsx');
const script = fileURLToPath(new URL('./wasm-threads.test-util.ts', import.meta.url));

/** One training pass in a fresh process with `threads` wasm threads (tfjs holds one wasm backend per process). */
async function passIn(
  threads: number,
  mode: 'pass' | 'start' = 'pass',
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['--import', tsx, script, String(threads), mode], {
    timeout: 120_000,
    maxBuffer: 1 << 20,
    env,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

describe('multi-threaded wasm', () => {
  it('refuses a thread count that is not 1 to 8 or auto, before starting anything', async () => {
    for (const threads of [0, 9, 1.5, -1, Number.NaN, '2' as unknown as number]) {
      const error = await createTfjsEngine({ backend: 'wasm', threads }).catch((e: unknown) => e);
      expect(isTfjsBackendError(error) && error.code).toBe('E_CONFIG');
      expect(String((error as Error).message)).toContain('expected an integer from 1 to 8');
    }
  });

  it('gives bitwise the same losses and gradients with 2 threads as with 1, and lets the process end', async () => {
    const [one, two] = await Promise.all([passIn(1), passIn(2)]);
    expect(one['threads']).toBe(1);
    expect(two['threads']).toBe(2);
    // Both run the native step kernels (the threaded build on a shared memory, one thread on a plain one).
    expect(one['description']).toBe('wasm (SIMD, 1 thread, native step kernels)');
    expect(two['description']).toBe('wasm (SIMD, 2 threads, native step kernels)');
    expect(one['lstm']).toEqual(two['lstm']);
    expect(one['gru']).toEqual(two['gru']);
    expect((one['lstm'] as { loss: number }).loss).toBeGreaterThan(0);
  }, 240_000);

  it('says what to do when the worker script cannot be written (TMPDIR not a directory)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rewind-threads-test-'));
    try {
      const file = join(dir, 'not-a-directory');
      writeFileSync(file, '');
      const r = await passIn(2, 'start', { ...process.env, TMPDIR: file, TSX_DISABLE_CACHE: '1' });
      expect(r['code']).toBe('E_BACKEND_INIT');
      expect(String(r['message'])).toContain('set TMPDIR to a writable directory, or use threads: 1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('holds one thread count per process: another explicit count is refused, auto accepts it', async () => {
    const first = await createTfjsEngine({ backend: 'wasm', threads: 2 });
    try {
      expect(first.threads).toBe(2);
      const error = await createTfjsEngine({ backend: 'wasm', threads: 1 }).catch((e: unknown) => e);
      expect(isTfjsBackendError(error) && error.code).toBe('E_BACKEND_INIT');
      expect(String((error as Error).message)).toContain('already runs with 2 thread(s), not 1');
      const auto = await createTfjsEngine({ backend: 'wasm' });
      expect(auto.threads).toBe(2);
      await auto.dispose();
    } finally {
      await first.dispose();
    }
  });
});
