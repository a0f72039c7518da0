import { isExecutorError, type LossHead, runPolicy } from '@rewind/executor';
import { createReferenceModel, randomBatch, standardBptt } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { createOnnxBackend, type OnnxBackend, type OnnxBackendOptions } from './backend.js';
import { isOnnxBackendError } from './errors.js';
import { relativeError, smallCase } from './testing.test-util.js';

type Cell = 'rnn' | 'lstm' | 'gru';
const CELLS: readonly Cell[] = ['rnn', 'lstm', 'gru'];

async function run(backend: OnnxBackend, strategy: 'store-all' | 'msm' | 'hsm', slots?: number) {
  const sb = backend.stateBytes();
  const T = backend.steps;
  const bytes = slots === undefined ? sb.hidden + T * sb.internal : Math.floor(slots * sb.hidden);
  const policy = plan({ steps: T, memory: { bytes, stateBytes: sb }, strategy });
  const result = await runPolicy(backend, policy);
  return { result, gradients: await backend.readGradients() };
}

describe('against the float64 reference backend, float32 on identical weights', () => {
  // Float32 arithmetic on O(1) values over <= 10 steps: observed errors are ~3e-7 relative to the largest
  // entry of each gradient array; 2e-5 leaves room for other CPUs' kernels while still catching any
  // wrong term (those show up at 1e-2 and above).
  const TOL = 2e-5;
  const heads: Record<string, LossHead> = {
    softmax: { kind: 'softmax', classes: 5 },
    mse: { kind: 'mse', outputs: 3 },
  };
  const variants: [string, OnnxBackendOptions][] = [
    ['saved, fused in runs of at most 4, chunks of 3', { weightGradientSteps: 3, fusedSteps: 4 }],
    [
      'recomputed, not fused, every step',
      { internalState: 'recomputed', fuseForward: false, weightGradientSteps: 1 },
    ],
    [
      'saved, not fused, whole sequence',
      { fuseForward: false, weightGradientSteps: Number.POSITIVE_INFINITY },
    ],
  ];
  for (const cell of CELLS) {
    for (const [headName, head] of Object.entries(heads)) {
      for (const [label, options] of variants) {
        it(`${cell}, ${headName} head, ${label}`, async () => {
          const model = createReferenceModel({ cell, inputSize: 4, hiddenSize: 5, head, seed: 7 });
          for (const lossSteps of ['all', 'last'] as const) {
            const batch = randomBatch(model, {
              steps: 10,
              batchSize: 3,
              seed: 3,
              randomInitialState: true,
              lossSteps,
            });
            const expected = standardBptt(model, batch);
            const backend = await createOnnxBackend(model, batch, options);
            for (const strategy of ['store-all', 'msm'] as const) {
              const { result, gradients } = await run(backend, strategy, strategy === 'msm' ? 4 : undefined);
              expect(Math.abs(result.loss - expected.loss) / Math.abs(expected.loss)).toBeLessThan(TOL);
              for (const [name, g] of Object.entries(expected.parameters)) {
                expect(
                  relativeError(gradients.parameters[name]!, g),
                  `${strategy} ${lossSteps} ${name}`,
                ).toBeLessThan(TOL);
              }
              expect(relativeError(gradients.inputs!, expected.inputs)).toBeLessThan(TOL);
              expect(relativeError(gradients.initialState!, expected.initialState)).toBeLessThan(TOL);
            }
            expect(backend.liveHandles()).toBe(0);
          }
        });
      }
    }
  }

  it('float64 backends agree with the reference to rounding', async () => {
    for (const cell of CELLS) {
      for (const internalState of ['saved', 'recomputed'] as const) {
        const model = createReferenceModel({
          cell,
          inputSize: 3,
          hiddenSize: 4,
          head: { kind: 'softmax', classes: 3 },
          seed: 2,
        });
        const batch = randomBatch(model, { steps: 6, batchSize: 2, seed: 5, randomInitialState: true });
        const expected = standardBptt(model, batch);
        const backend = await createOnnxBackend(model, batch, { dtype: 'float64', internalState });
        const { result, gradients } = await run(backend, 'hsm', 3);
        expect(Math.abs(result.loss - expected.loss)).toBeLessThan(1e-13);
        for (const [name, g] of Object.entries(expected.parameters)) {
          expect(
            relativeError(gradients.parameters[name]!, g),
            `${cell} ${internalState} ${name}`,
          ).toBeLessThan(1e-12);
        }
      }
    }
  });
});

describe('backward graphs against central finite differences (float64)', () => {
  // Float64 throughout: with epsilon 1e-5 the truncation error is ~1e-10 and rounding ~1e-11, so 1e-7
  // relative (to max(1, |g|)) is a strict check.
  const EPS = 1e-5;
  const TOL = 1e-7;
  for (const cell of CELLS) {
    for (const internalState of ['saved', 'recomputed'] as const) {
      if (cell === 'rnn' && internalState === 'recomputed') continue;
      it(`${cell}, ${internalState} internal state`, async () => {
        const head: LossHead = cell === 'gru' ? { kind: 'mse', outputs: 2 } : { kind: 'softmax', classes: 3 };
        const lossAt = async (perturb?: {
          group: 'parameters' | 'inputs' | 'initialState';
          name?: string;
          index: number;
          delta: number;
        }) => {
          const c =
            perturb === undefined
              ? { steps: 4, seed: 9, float64: true }
              : { steps: 4, seed: 9, float64: true, perturb };
          const { model, batch } = smallCase(cell, head, c, { input: 3, hidden: 4, batch: 2 });
          const backend = await createOnnxBackend(model, batch, { dtype: 'float64', internalState });
          const { result, gradients } = await run(backend, 'msm', 2.5 + (internalState === 'saved' ? 0 : 1));
          return { loss: result.loss, gradients };
        };
        const base = await lossAt();
        const targets: {
          group: 'parameters' | 'inputs' | 'initialState';
          name?: string;
          values: ArrayLike<number>;
        }[] = [
          ...Object.entries(base.gradients.parameters).map(([name, values]) => ({
            group: 'parameters' as const,
            name,
            values,
          })),
          { group: 'inputs', values: base.gradients.inputs! },
          { group: 'initialState', values: base.gradients.initialState! },
        ];
        for (const target of targets) {
          const n = target.values.length;
          for (const index of new Set([0, Math.floor(n / 2), n - 1])) {
            const at = (delta: number) =>
              target.name === undefined
                ? { group: target.group, index, delta }
                : { group: target.group, name: target.name, index, delta };
            const numeric = ((await lossAt(at(EPS))).loss - (await lossAt(at(-EPS))).loss) / (2 * EPS);
            const analytic = target.values[index]!;
            expect(
              Math.abs(numeric - analytic) / Math.max(1, Math.abs(analytic)),
              `${target.group} ${target.name ?? ''}[${index}]: ${analytic} vs ${numeric}`,
            ).toBeLessThan(TOL);
          }
        }
      });
    }
  }
});

describe('design options give the same results', () => {
  it('fused and unfused forward, every weight-gradient chunk size, saved and recomputed', async () => {
    const model = createReferenceModel({
      cell: 'lstm',
      inputSize: 4,
      hiddenSize: 6,
      head: { kind: 'softmax', classes: 4 },
      seed: 11,
    });
    const batch = randomBatch(model, { steps: 13, batchSize: 3, seed: 4 });
    const base = await run(await createOnnxBackend(model, batch, { dtype: 'float64' }), 'store-all');
    for (const options of [
      { fuseForward: false },
      { weightGradientSteps: 1 },
      { weightGradientSteps: 5 },
      { weightGradientSteps: Number.POSITIVE_INFINITY },
      { internalState: 'recomputed' as const },
    ]) {
      const backend = await createOnnxBackend(model, batch, { dtype: 'float64', ...options });
      for (const strategy of ['store-all', 'msm', 'hsm'] as const) {
        const other = await run(backend, strategy, strategy === 'store-all' ? undefined : 5);
        expect(Math.abs(other.result.loss - base.result.loss)).toBeLessThan(1e-13);
        for (const [name, g] of Object.entries(base.gradients.parameters)) {
          expect(
            relativeError(other.gradients.parameters[name]!, g),
            `${JSON.stringify(options)} ${strategy} ${name}`,
          ).toBeLessThan(1e-12);
        }
      }
    }
  });

  it('fusion computes a forward range in one run and skips steps nobody uses', async () => {
    const model = createReferenceModel({
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'mse', outputs: 2 },
      seed: 1,
    });
    const batch = randomBatch(model, { steps: 20, batchSize: 2, seed: 1 });
    const fused = await createOnnxBackend(model, batch, { fusedSteps: Number.POSITIVE_INFINITY });
    const bounded = await createOnnxBackend(model, batch);
    const short = await createOnnxBackend(model, batch, { fusedSteps: 6 });
    const plain = await createOnnxBackend(model, batch, { fuseForward: false });
    for (const backend of [fused, bounded, short, plain]) await run(backend, 'store-all');
    // Store-all: one forward instruction keeping every internal state: stacked Scan runs of at most
    // `fusedSteps` steps (unbounded: one run; default 16: 16 + 4; 6: 6 + 6 + 6 + 2).
    expect(fused.stats().forwardRuns).toBe(1);
    expect(bounded.stats().forwardRuns).toBe(2);
    expect(short.stats().forwardRuns).toBe(4);
    expect(plain.stats().forwardRuns).toBe(20);
    for (const backend of [fused, bounded, short]) expect(backend.stats().forwardSteps).toBe(20);
    // The same Scan body on the same rows, however the range is cut: identical gradients.
    const [reference, ...others] = await Promise.all([fused, bounded, short].map((b) => b.readGradients()));
    for (const g of others) expect(g).toEqual(reference);

    // A forward whose result is disposed unused is never computed.
    fused.resetStats();
    const h0 = await fused.initialState();
    const a = await fused.forward(h0, 1, false);
    const b = await fused.forward(a.h, 2, false);
    fused.dispose(a.h);
    fused.dispose(b.h);
    fused.dispose(h0);
    expect(fused.stats()).toMatchObject({ forwardCalls: 2, forwardSteps: 0, runs: 0 });
    expect(fused.liveHandles()).toBe(0);
  });

  it('reads the model parameters again at zeroGradients()', async () => {
    const model = createReferenceModel({
      cell: 'rnn',
      inputSize: 2,
      hiddenSize: 3,
      head: { kind: 'softmax', classes: 2 },
      seed: 1,
    });
    const batch = randomBatch(model, { steps: 4, batchSize: 2, seed: 1 });
    const backend = await createOnnxBackend(model, batch, { dtype: 'float64' });
    const first = (await run(backend, 'store-all')).result.loss;
    model.params['U']![0]! += 0.5;
    const second = (await run(backend, 'store-all')).result.loss;
    expect(second).not.toBe(first);
    expect(Math.abs(second - standardBptt(model, batch).loss)).toBeLessThan(1e-13);
  });
});

describe('state sizes', () => {
  it('are measured on the real tensors', async () => {
    const B = 3;
    const H = 5;
    const expectations: [Cell, OnnxBackendOptions, number, number][] = [
      ['rnn', {}, 1, 2],
      ['lstm', {}, 2, 8],
      ['lstm', { internalState: 'recomputed' }, 2, 4],
      ['gru', {}, 1, 6],
      ['gru', { internalState: 'recomputed' }, 1, 2],
      ['lstm', { dtype: 'float64' }, 2, 8],
    ];
    for (const [cell, options, hidden, internal] of expectations) {
      const model = createReferenceModel({
        cell,
        inputSize: 2,
        hiddenSize: H,
        head: { kind: 'softmax', classes: 2 },
        seed: 1,
      });
      const backend = await createOnnxBackend(model, randomBatch(model, { steps: 2, batchSize: B }), options);
      const bytes = options.dtype === 'float64' ? 8 : 4;
      expect(backend.stateBytes()).toEqual({
        hidden: hidden * B * H * bytes,
        internal: internal * B * H * bytes,
      });
      expect(backend.alpha).toBe(internal / hidden);
    }
  });
});

describe('errors', () => {
  const model = createReferenceModel({
    cell: 'lstm',
    inputSize: 2,
    hiddenSize: 3,
    head: { kind: 'softmax', classes: 2 },
    seed: 1,
  });
  const batch = randomBatch(model, { steps: 3, batchSize: 2 });

  it('refuses invalid options with E_OPTIONS', async () => {
    const bad: Record<string, unknown>[] = [
      { executionProvider: 'tpu' },
      { deviceId: -1 },
      { dtype: 'float16' },
      { internalState: 'none' },
      { weightGradientSteps: 0 },
      { weightGradientSteps: 1.5 },
      { fusedSteps: 0 },
      { fusedSteps: 2.5 },
      { intraOpNumThreads: 0 },
      { sparsity: {} },
      { sparsity: { threshold: 0.1, targetSparsity: 0.5 } },
      { sparsity: { threshold: -1 } },
      { sparsity: { targetSparsity: 1 } },
      { sparsity: { targetSparsity: 0.5, sampleRows: 0 } },
    ];
    for (const options of bad) {
      const error = await createOnnxBackend(model, batch, options as OnnxBackendOptions).catch(
        (e: unknown) => e,
      );
      expect(isOnnxBackendError(error, 'E_OPTIONS'), JSON.stringify(options)).toBe(true);
    }
  });

  it("refuses a batch that does not fit with the executor's E_BATCH, a model with E_MODEL", async () => {
    const cases = [
      { ...batch, inputs: batch.inputs.subarray(1) },
      { ...batch, targets: Int32Array.of(0, 1) },
      { ...batch, targets: Int32Array.from({ length: 6 }, () => 7) },
      { ...batch, initialState: new Float64Array(5) },
      { ...batch, steps: 0 },
    ];
    for (const b of cases) {
      const error = await createOnnxBackend(model, b).catch((e: unknown) => e);
      expect(isExecutorError(error, 'E_BATCH')).toBe(true);
    }
    const noU = { ...model, params: { ...model.params, U: new Float64Array(2) } };
    const error = await createOnnxBackend(noU, batch).catch((e: unknown) => e);
    expect(isExecutorError(error, 'E_MODEL')).toBe(true);
    expect((error as Error).message).toMatch(/\/params\/U must hold \d+ numbers, found 2/);
  });

  it('checks handles and step order (E_HANDLE, E_STEP)', async () => {
    const backend = await createOnnxBackend(model, batch);
    const other = await createOnnxBackend(model, batch);
    const h0 = await backend.initialState();
    const code = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        return isOnnxBackendError(e) ? e.code : String(e);
      }
      return 'no error';
    };
    expect(await code(() => other.forward(h0, 1, false))).toBe('E_HANDLE');
    expect(await code(() => backend.forward(h0, 2, false))).toBe('E_STEP');
    expect(await code(() => backend.forward(h0, 0, false))).toBe('E_STEP');
    const s1 = await backend.forward(h0, 1, true);
    if (s1.internal === undefined) throw new Error('no internal state');
    expect(await code(() => backend.backward(s1.internal!, null, 1))).toBe('E_STEP');
    const view = backend.hiddenOf(s1.internal);
    expect(await code(() => backend.dispose(view))).toBe('E_HANDLE');
    backend.dispose(s1.internal);
    expect(await code(() => backend.forward(view, 2, false))).toBe('E_HANDLE');
    expect(await code(() => backend.dispose(s1.internal!))).toBe('E_HANDLE');
    backend.dispose(s1.h);
    backend.dispose(h0);
    expect(backend.liveHandles()).toBe(0);
  });
});
