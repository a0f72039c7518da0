import { afterAll, describe, expect, it } from 'vitest';
import { describeTfjsConformance } from './conformance.test-util.js';
import { createTfjsEngine } from './engine.js';
import { isTfjsBackendError } from './errors.js';
import { tryWebGpu } from './webgpu.test-util.js';

// Runs where a WebGPU adapter exists (a GPU through Dawn's default backend, or Mesa's llvmpipe through
// OpenGL ES when Debian's Mesa EGL library is installed); skipped otherwise.
const attempt = await tryWebGpu();
const engine = attempt.engine;
console.info(`webgpu: ${attempt.log.join('; ')}`);

afterAll(async () => {
  await engine?.dispose();
});

describe('webgpu', () => {
  it.skipIf(engine !== undefined)(`no WebGPU adapter: ${attempt.log.join('; ')}`, () => {
    expect(engine).toBeUndefined();
  });
  it.runIf(engine !== undefined)('reports its adapter', () => {
    expect(engine?.backend).toBe('webgpu');
    expect(engine?.adapter).toBeDefined();
  });
  // Metal exists on macOS only: elsewhere Dawn finds no adapter for it, which must be a typed error.
  it.runIf(process.platform !== 'darwin')(
    'reports a missing adapter with E_WEBGPU_NO_ADAPTER, never falling back',
    async () => {
      const error = await createTfjsEngine({
        backend: 'webgpu',
        webgpu: { dawnOptions: ['backend=metal'] },
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isTfjsBackendError(error, 'E_WEBGPU_NO_ADAPTER')).toBe(true);
    },
  );
});

if (engine !== undefined) {
  describeTfjsConformance(engine, { steps: [1, 2, 5, 8], budgets: 1, leakIterations: 8 });
}
