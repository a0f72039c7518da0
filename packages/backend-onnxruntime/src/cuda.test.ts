import { existsSync } from 'node:fs';
import { runPolicy } from '@rewind/executor';
import { describeBackendConformance } from '@rewind/executor/conformance';
import { createReferenceModel, randomBatch, standardBptt } from '@rewind/executor/reference';
import { plan, solverPlanner } from '@rewind/solver';
import { env } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createOnnxBackend } from './backend.js';
import { isOnnxBackendError } from './errors.js';
import {
  bindingDirectory,
  CUDA_PROVIDER_LIBRARIES,
  CUDA_RUNTIME_LIBRARIES,
  cudaUnavailable,
  defaultLibrarySearch,
  diagnoseCudaLibraries,
} from './runtime/session.js';
import { onnxFactory, relativeError, rnnUserCell } from './testing.test-util.js';
import { loadUserCell } from './user-cell.js';

// ONNX Runtime logs its own error for every provider library it cannot load; the tests check the typed
// error instead. The level is read once, when ONNX Runtime initialises (this file runs in its own process).
env.logLevel = 'fatal';

/** CUDA tests run where a GPU and every provider and runtime library are present; they skip otherwise. */
const cudaReady = existsSync('/dev/nvidia0') && diagnoseCudaLibraries().length === 0;

describe('CUDA unavailable: a typed error, never a CPU run', () => {
  it.skipIf(cudaReady)(
    'createOnnxBackend fails with E_CUDA_UNAVAILABLE naming the missing libraries',
    async () => {
      const model = createReferenceModel({
        cell: 'lstm',
        inputSize: 2,
        hiddenSize: 3,
        head: { kind: 'softmax', classes: 2 },
      });
      const batch = randomBatch(model, { steps: 2, batchSize: 1 });
      const error = await createOnnxBackend(model, batch, { executionProvider: 'cuda' }).catch(
        (e: unknown) => e,
      );
      expect(isOnnxBackendError(error, 'E_CUDA_UNAVAILABLE')).toBe(true);
      if (!isOnnxBackendError(error)) return;
      expect(error.missingLibraries.length).toBeGreaterThan(0);
      for (const lib of error.missingLibraries) expect(error.message).toContain(lib);
      const binding = bindingDirectory();
      if (binding !== undefined && !existsSync(`${binding}/libonnxruntime_providers_shared.so`)) {
        expect(error.missingLibraries).toContain('libonnxruntime_providers_shared.so');
      }
      expect(error.message).toContain('com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9');
      expect(error.message).toContain('LD_LIBRARY_PATH');
      if (binding !== undefined) expect(error.message).toContain(binding);
      // The CPU still works afterwards.
      const cpu = await createOnnxBackend(model, batch);
      expect(cpu.options.executionProvider).toBe('cpu');
    },
  );

  it.skipIf(cudaReady)('loadUserCell fails with E_CUDA_UNAVAILABLE too', async () => {
    const error = await loadUserCell(
      { ...rnnUserCell(2, 3), inputSize: 2, hiddenSize: 3 },
      { executionProvider: 'cuda' },
    ).catch((e: unknown) => e);
    expect(isOnnxBackendError(error, 'E_CUDA_UNAVAILABLE')).toBe(true);
  });

  it('diagnoses exactly the libraries that cannot be found', () => {
    const all = [...CUDA_PROVIDER_LIBRARIES, ...CUDA_RUNTIME_LIBRARIES];
    const present = new Set(['/ort/libonnxruntime_providers_shared.so', '/cuda/libcudart.so.13']);
    const search = {
      providerDirs: ['/ort'],
      runtimeDirs: ['/ort', '/cuda'],
      exists: (p: string) => present.has(p),
    };
    expect(diagnoseCudaLibraries(search)).toEqual([
      'libonnxruntime_providers_cuda.so',
      'libcublas.so.13',
      'libcurand.so.10',
    ]);
    expect(diagnoseCudaLibraries({ ...search, exists: () => true })).toEqual([]);
    expect(diagnoseCudaLibraries({ ...search, exists: () => false })).toEqual(all);
    const e = cudaUnavailable(new Error('boom'), { ...search, exists: () => true });
    expect(e.code).toBe('E_CUDA_UNAVAILABLE');
    expect(e.missingLibraries).toEqual([]);
    expect(e.message).toContain('boom');
  });
});

describe.skipIf(!cudaReady)('CUDA execution provider', () => {
  it('gives the CPU results (float32) for every cell', async () => {
    for (const cell of ['rnn', 'lstm', 'gru'] as const) {
      const model = createReferenceModel({
        cell,
        inputSize: 8,
        hiddenSize: 16,
        head: { kind: 'softmax', classes: 5 },
        seed: 3,
      });
      const batch = randomBatch(model, { steps: 12, batchSize: 4, seed: 2 });
      const expected = standardBptt(model, batch);
      const backend = await createOnnxBackend(model, batch, { executionProvider: 'cuda' });
      const sb = backend.stateBytes();
      const policy = plan({ steps: 12, memory: { bytes: 4 * sb.internal, stateBytes: sb }, strategy: 'msm' });
      const result = await runPolicy(backend, policy);
      const g = await backend.readGradients();
      expect(Math.abs(result.loss - expected.loss) / expected.loss).toBeLessThan(1e-4);
      for (const [name, e] of Object.entries(expected.parameters)) {
        expect(relativeError(g.parameters[name]!, e), `${cell} ${name}`).toBeLessThan(1e-4);
      }
    }
  });
});

if (cudaReady) {
  describeBackendConformance(
    'onnxruntime-cuda/lstm',
    onnxFactory('lstm', { kind: 'softmax', classes: 4 }, { executionProvider: 'cuda' }),
    { tolerance: 1e-4, finiteDifferences: { tolerance: 1e-5 }, planner: solverPlanner },
  );
}

describe('where the CUDA libraries are looked for', () => {
  it('provider libraries next to the binding only, runtime libraries also on LD_LIBRARY_PATH', () => {
    const search = defaultLibrarySearch({ LD_LIBRARY_PATH: '/opt/a:/opt/b' });
    const binding = bindingDirectory();
    expect(search.providerDirs).toEqual(binding === undefined ? ['/opt/a', '/opt/b'] : [binding]);
    expect(search.runtimeDirs).toEqual(expect.arrayContaining(['/opt/a', '/opt/b', '/usr/local/cuda/lib64']));
    if (binding !== undefined) expect(search.runtimeDirs[0]).toBe(binding);
  });
});
