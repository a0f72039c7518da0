import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { TfjsEngine } from './engine.js';
import { trainingLoss } from './engine.test-util.js';
import * as api from './index.js';

const { createTfjsEngine, createRecurrentModel, isTfjsBackendError } = api;

async function code(f: () => unknown): Promise<string | undefined> {
  try {
    await f();
  } catch (error) {
    return isTfjsBackendError(error) ? error.code : String(error);
  }
  return undefined;
}

describe('concurrent engines', () => {
  it.each([2, 3])('%i created at once on wasm all start, compute, and outlive each other', async (n) => {
    const engines = await Promise.all(Array.from({ length: n }, () => createTfjsEngine()));
    const expected = await trainingLoss(engines[0] as TfjsEngine);
    expect(Number.isFinite(expected)).toBe(true);
    for (const engine of engines) {
      expect(engine.isActive()).toBe(true);
      expect(await trainingLoss(engine)).toBe(expected);
    }
    // Dispose the first: the others keep computing; then the last: the remaining one still does.
    await engines[0]?.dispose();
    for (const engine of engines.slice(1)) expect(await trainingLoss(engine)).toBe(expected);
    await engines[n - 1]?.dispose();
    if (n > 2) expect(await trainingLoss(engines[1] as TfjsEngine)).toBe(expected);
    expect(await code(() => trainingLoss(engines[0] as TfjsEngine))).toBe('E_ENGINE_DISPOSED');
    await Promise.all(engines.map((engine) => engine.dispose()));
  });

  it('created at once on cpu and wasm, in either dispose order, both start and compute', async () => {
    for (const order of [
      [0, 1],
      [1, 0],
    ] as const) {
      const engines = await Promise.all([
        createTfjsEngine({ backend: 'cpu' }),
        createTfjsEngine({ backend: 'wasm' }),
        createTfjsEngine({ backend: 'cpu' }),
      ]);
      // The engine created last made its backend the active one.
      expect(tf.getBackend()).toBe('cpu');
      const cpu = await trainingLoss(engines[0]);
      const wasm = await trainingLoss(engines[1]);
      expect(Math.abs(cpu - wasm)).toBeLessThan(1e-5 * Math.max(1, Math.abs(cpu)));
      expect(await trainingLoss(engines[2])).toBe(cpu);
      const [first, second] = order;
      await engines[first].dispose();
      expect(await trainingLoss(engines[second])).toBe(second === 0 ? cpu : wasm);
      expect(await trainingLoss(engines[2])).toBe(cpu);
      await engines[second].dispose();
      expect(await trainingLoss(engines[2])).toBe(cpu);
      await engines[2].dispose();
    }
  });

  it('activations racing with creations all succeed, and the last call decides the active backend', async () => {
    const wasm = await createTfjsEngine();
    const cpu = await createTfjsEngine({ backend: 'cpu' });
    const created = await Promise.all([
      wasm.activate(),
      createTfjsEngine({ backend: 'wasm' }),
      cpu.activate(),
      createTfjsEngine({ backend: 'cpu' }),
      wasm.activate(),
    ]);
    expect(wasm.isActive()).toBe(true);
    expect(cpu.isActive()).toBe(false);
    await Promise.all([wasm, cpu, created[1], created[3]].map((engine) => engine?.dispose()));
  });
});

describe('engines', () => {
  it('load neither WebGPU package when the package is imported or a CPU engine starts', async () => {
    await createTfjsEngine({ backend: 'cpu' });
    await createTfjsEngine();
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.some((path) => path.includes('tfjs-backend-wasm'))).toBe(true);
    expect(
      loaded.filter((path) => path.includes('tfjs-backend-webgpu') || path.endsWith('dawn.node')),
    ).toEqual([]);
    // tfjs' WebGPU backend registers its kernels when it is imported.
    expect(tf.getKernelsForBackend('webgpu')).toEqual([]);
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
  });

  it('start wasm by default (SIMD, one thread under Node) and cpu on request', async () => {
    const wasm = await createTfjsEngine();
    expect(wasm.backend).toBe('wasm');
    expect(wasm.description).toMatch(/^wasm \(SIMD/);
    expect(wasm.isActive()).toBe(true);
    expect(tf.getBackend()).toBe('wasm');
    const cpu = await createTfjsEngine({ backend: 'cpu' });
    expect(cpu.isActive()).toBe(true);
    expect(wasm.isActive()).toBe(false);
    expect(cpu.tf).toBe(wasm.tf);
  });

  it('refuse work on an engine whose backend is not the active one, until it is activated again', async () => {
    const wasm = await createTfjsEngine({ backend: 'wasm' });
    const cpu = await createTfjsEngine({ backend: 'cpu' });
    const config = { cell: 'rnn', inputSize: 2, hiddenSize: 2, head: { kind: 'mse', outputs: 1 } } as const;
    expect(await code(() => createRecurrentModel(wasm, config))).toBe('E_ENGINE_INACTIVE');
    await wasm.activate();
    const model = createRecurrentModel(wasm, config);
    expect(model.engine).toBe(wasm);
    model.dispose();
    await cpu.dispose();
    expect(await code(() => cpu.activate())).toBe('E_ENGINE_DISPOSED');
    expect(await code(() => cpu.assertActive())).toBe('E_ENGINE_DISPOSED');
  });

  it('refuse an unknown backend with a typed error', async () => {
    expect(await code(() => createTfjsEngine({ backend: 'webgl' as 'cpu' }))).toBe('E_UNKNOWN_BACKEND');
  });

  it('export the documented API', () => {
    for (const name of [
      'createTfjsEngine',
      'createRecurrentModel',
      'createCustomModel',
      'createCellBackend',
      'createTrainer',
      'adam',
      'sgd',
      'createTfjsTrainable',
      'registerGradients',
      'TfjsBackendError',
    ]) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
