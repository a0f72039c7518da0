import { afterAll, describe, expect, it } from 'vitest';
import { describeTfjsConformance } from './conformance.test-util.js';
import { createTfjsEngine, type TfjsEngine } from './engine.js';
import { trainingLoss } from './engine.test-util.js';
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
  it.runIf(engine !== undefined)(
    'shares its device with engines created at once with the same options; each outlives the others',
    async () => {
      const first = engine as TfjsEngine;
      const adapter = first.adapter;
      const options = {
        backend: 'webgpu',
        webgpu: { dawnOptions: adapter?.dawnOptions ?? [], featureLevel: adapter?.featureLevel ?? 'core' },
      } as const;
      const expected = await trainingLoss(first);
      for (const order of [
        [0, 1],
        [1, 0],
      ] as const) {
        const more = await Promise.all([createTfjsEngine(options), createTfjsEngine(options)]);
        for (const other of more) {
          expect(other.isActive()).toBe(true);
          expect(await trainingLoss(other)).toBe(expected);
        }
        await more[order[0]].dispose();
        expect(await trainingLoss(more[order[1]])).toBe(expected);
        await more[order[1]].dispose();
        expect(await trainingLoss(first)).toBe(expected);
      }
      // Another WebGPU device cannot be registered while this one is in use.
      const conflict = await createTfjsEngine({
        ...options,
        webgpu: { ...options.webgpu, powerPreference: 'low-power' },
      }).then(
        (other) => other,
        (e: unknown) => e,
      );
      expect(isTfjsBackendError(conflict, 'E_BACKEND_INIT')).toBe(true);
      expect(String((conflict as Error).message)).toMatch(/other options .* in use/);
      expect(await trainingLoss(first)).toBe(expected);
    },
  );
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
      // The message names what to install on a Linux NVIDIA host and the Vulkan driver variable.
      const message = (error as Error).message;
      expect(message).toContain('Dawn options ["backend=metal"]');
      for (const name of [
        'libvulkan1',
        'libglvnd0',
        'libegl1',
        'libgl1',
        'libglx0',
        'libopengl0',
        'libgles2',
        'VK_DRIVER_FILES',
        'EGL_PLATFORM=surfaceless',
      ]) {
        expect(message).toContain(name);
      }
    },
  );
});

if (engine !== undefined) {
  describeTfjsConformance(engine, { steps: [1, 2, 5, 8], budgets: 1, leakIterations: 8 });
}
