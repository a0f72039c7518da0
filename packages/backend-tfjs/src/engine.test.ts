import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
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
