import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPolicy } from '@rewind/executor';
import { describeBackendConformance } from '@rewind/executor/conformance';
import { createReferenceModel, randomBatch, standardBptt } from '@rewind/executor/reference';
import { plan, solverPlanner } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { isOrtBackendError, type OrtBackendError } from './errors.js';
import { GraphBuilder } from './onnx/builder.js';
import type { ElemType } from './onnx/model.js';
import { lstmUserCell, relativeError, rnnUserCell, smallCase, userParameters } from './testing.test-util.js';
import { createUserCellBackend, loadUserCell, type UserCell } from './user-cell.js';

describe('user cells give the results of the built-in cells', () => {
  for (const [cell, build, state] of [
    ['rnn', rnnUserCell, ['h']],
    ['lstm', lstmUserCell, ['h', 'c']],
  ] as const) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${cell} as a user cell (${dtype})`, async () => {
        const model = createReferenceModel({
          cell,
          inputSize: 3,
          hiddenSize: 4,
          head: { kind: 'softmax', classes: 3 },
          seed: 6,
        });
        const batch = randomBatch(model, { steps: 8, batchSize: 2, seed: 2, randomInitialState: true });
        const expected = standardBptt(model, batch);
        const loaded = await loadUserCell(
          { ...build(3, 4, dtype), inputSize: 3, hiddenSize: 4, state },
          { dtype },
        );
        expect(loaded.parameters.map((p) => p.name).sort()).toEqual(['U', 'W', 'b']);
        const backend = await createUserCellBackend(loaded, userParameters(model), batch);
        const sb = backend.stateBytes();
        const bytes = dtype === 'float32' ? 4 : 8;
        expect(sb.hidden).toBe(state.length * 2 * 4 * bytes);
        // Internal: the states before and after, and the saved tensor ([B,H] for the RNN, [B,4H] for the LSTM).
        expect(sb.internal).toBe((2 * state.length + (cell === 'rnn' ? 1 : 4)) * 2 * 4 * bytes);
        const tol = dtype === 'float32' ? 2e-5 : 1e-12;
        for (const strategy of ['store-all', 'msm'] as const) {
          const budget = strategy === 'store-all' ? sb.hidden + 8 * sb.internal : 3 * sb.internal;
          const policy = plan({ steps: 8, memory: { bytes: budget, stateBytes: sb }, strategy });
          const result = await runPolicy(backend, policy);
          const g = await backend.readGradients();
          expect(Math.abs(result.loss - expected.loss) / expected.loss).toBeLessThan(tol);
          for (const [name, e] of Object.entries(expected.parameters)) {
            expect(relativeError(g.parameters[name]!, e), `${strategy} ${name}`).toBeLessThan(tol);
          }
          expect(relativeError(g.inputs!, expected.inputs)).toBeLessThan(tol);
          expect(relativeError(g.initialState!, expected.initialState)).toBeLessThan(tol);
        }
        expect(backend.liveHandles()).toBe(0);
      });
    }
  }

  it('loads models from files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rewind-ort-'));
    const { forward, backward } = rnnUserCell(2, 3);
    await writeFile(join(dir, 'f.onnx'), forward);
    await writeFile(join(dir, 'b.onnx'), backward);
    const cell = await loadUserCell({
      forward: join(dir, 'f.onnx'),
      backward: join(dir, 'b.onnx'),
      inputSize: 2,
      hiddenSize: 3,
    });
    expect(cell.saved).toEqual(['saved_a']);
  });
});

const loadedLstm = new Map<string, Promise<UserCell>>();
describeBackendConformance(
  'onnxruntime-cpu/user-cell (LSTM with two carried states)',
  async (c) => {
    const { model, batch } = smallCase('lstm', { kind: 'softmax', classes: 3 }, c);
    const dtype = c.float64 ? 'float64' : 'float32';
    let loaded = loadedLstm.get(dtype);
    if (loaded === undefined) {
      loaded = loadUserCell(
        { ...lstmUserCell(3, 3, dtype), inputSize: 3, hiddenSize: 3, state: ['h', 'c'] },
        { dtype },
      );
      loadedLstm.set(dtype, loaded);
    }
    return createUserCellBackend(await loaded, userParameters(model), batch);
  },
  {
    tolerance: 1e-4,
    strategies: ['store-all', 'recompute-all', 'chen-sqrt', 'hsm', 'ism', 'msm'],
    planner: solverPlanner,
  },
);

/** Knobs to break a small RNN user cell in one place. */
interface Breakage {
  readonly renameForwardInput?: Readonly<Record<string, string>>;
  readonly renameForwardOutput?: Readonly<Record<string, string>>;
  readonly renameBackwardInput?: Readonly<Record<string, string>>;
  readonly renameBackwardOutput?: Readonly<Record<string, string>>;
  readonly extraForwardInput?: string;
  readonly extraForwardOutput?: string;
  readonly extraBackwardInput?: string;
  readonly xType?: ElemType;
  readonly hPrevRank3?: boolean;
  readonly wideX?: boolean;
}

function brokenCell(k: Breakage): { forward: Uint8Array; backward: Uint8Array } {
  const I = 2;
  const H = 3;
  const XI = k.wideX === true ? I + 1 : I;
  const fin = (n: string): string => k.renameForwardInput?.[n] ?? n;
  const fout = (n: string): string => k.renameForwardOutput?.[n] ?? n;
  const f = new GraphBuilder('f');
  let x = f.input(fin('x'), k.xType ?? 'float32', ['B', XI]);
  if (k.xType !== undefined) x = f.cast(x, 'float32');
  let hp = f.input(fin('h_prev'), 'float32', k.hPrevRank3 === true ? ['B', H, 1] : ['B', H]);
  if (k.hPrevRank3 === true) hp = f.reshape(hp, [-1, H]);
  const W = f.input('param_W', 'float32', [H, XI]);
  const U = f.input('param_U', 'float32', [H, H]);
  if (k.extraForwardInput !== undefined) f.input(k.extraForwardInput, 'float32', ['B', H]);
  const h = f.tanh(
    f.add(f.gemm(x, W, undefined, { transB: true }), f.gemm(hp, U, undefined, { transB: true })),
  );
  f.output(h, fout('h'), 'float32', ['B', H]);
  if (k.extraForwardOutput !== undefined) f.output(f.identity(h), k.extraForwardOutput, 'float32', ['B', H]);

  const bin = (n: string): string => k.renameBackwardInput?.[n] ?? n;
  const bout = (n: string): string => k.renameBackwardOutput?.[n] ?? n;
  const g = new GraphBuilder('b');
  const gx = g.input(bin('x'), 'float32', ['B', XI]);
  const ghp = g.input(bin('h_prev'), 'float32', ['B', H]);
  const gh = g.input(bin('h'), 'float32', ['B', H]);
  const dh = g.input(bin('grad_h'), 'float32', ['B', H]);
  const gW = g.input('param_W', 'float32', [H, XI]);
  const gU = g.input('param_U', 'float32', [H, H]);
  if (k.extraBackwardInput !== undefined) g.input(k.extraBackwardInput, 'float32', ['B', H]);
  const da = g.mul(dh, g.sub(g.scalar('float32', 1), g.mul(gh, gh)));
  g.output(g.matmul(da, gU), bout('grad_h_prev'), 'float32', ['B', H]);
  g.output(g.matmul(da, gW), bout('grad_x'), 'float32', ['B', XI]);
  g.output(g.gemm(da, gx, undefined, { transA: true }), bout('grad_param_W'), 'float32', [H, XI]);
  g.output(g.gemm(da, ghp, undefined, { transA: true }), bout('grad_param_U'), 'float32', [H, H]);
  return { forward: f.toModel(), backward: g.toModel() };
}

describe('user-cell validation', () => {
  const load = (k: Breakage) => loadUserCell({ ...brokenCell(k), inputSize: 2, hiddenSize: 3 });
  const failure = async (promise: Promise<unknown>): Promise<OrtBackendError> => {
    const e = await promise.then(
      () => undefined,
      (error: unknown) => error,
    );
    if (!isOrtBackendError(e)) throw new Error(`expected an OrtBackendError, got ${String(e)}`);
    return e;
  };

  it('accepts the unbroken cell', async () => {
    const cell = await load({});
    expect(cell.parameters.map((p) => p.name)).toEqual(['W', 'U']);
    expect(cell.saved).toEqual([]);
  });

  const cases: [string, Breakage, string, 'forward' | 'backward', string][] = [
    [
      'a missing forward input',
      { renameForwardInput: { h_prev: 'state' } },
      'E_USER_CELL_MISSING_INPUT',
      'forward',
      'h_prev',
    ],
    [
      'a missing backward input',
      { renameBackwardInput: { grad_h: 'dh' } },
      'E_USER_CELL_MISSING_INPUT',
      'backward',
      'grad_h',
    ],
    [
      'a missing forward output',
      { renameForwardOutput: { h: 'h_next' } },
      'E_USER_CELL_MISSING_OUTPUT',
      'forward',
      'h',
    ],
    [
      'a missing grad_x',
      { renameBackwardOutput: { grad_x: 'dx' } },
      'E_USER_CELL_MISSING_OUTPUT',
      'backward',
      'grad_x',
    ],
    [
      'a missing parameter gradient',
      { renameBackwardOutput: { grad_param_U: 'dU' } },
      'E_USER_CELL_MISSING_OUTPUT',
      'backward',
      'grad_param_U',
    ],
    [
      'an unknown forward input',
      { extraForwardInput: 'mask' },
      'E_USER_CELL_UNKNOWN_INPUT',
      'forward',
      'mask',
    ],
    [
      'a saved tensor forward does not produce',
      { extraBackwardInput: 'saved_gates' },
      'E_USER_CELL_UNKNOWN_INPUT',
      'backward',
      'saved_gates',
    ],
    [
      'a misspelt saved output',
      { extraForwardOutput: 'save_gates' },
      'E_USER_CELL_UNKNOWN_OUTPUT',
      'forward',
      'save_gates',
    ],
    ['an input of the wrong type', { xType: 'float64' }, 'E_USER_CELL_TYPE', 'forward', 'x'],
    ['an input of the wrong rank', { hPrevRank3: true }, 'E_USER_CELL_RANK', 'forward', 'h_prev'],
    ['a fixed dimension that contradicts inputSize', { wideX: true }, 'E_USER_CELL_SHAPE', 'forward', 'x'],
  ];
  for (const [what, breakage, code, model, tensor] of cases) {
    it(`refuses ${what} with ${code}`, async () => {
      const e = await failure(load(breakage));
      expect(e.code).toBe(code);
      expect(e.model).toBe(model);
      expect(e.tensor).toBe(tensor);
      expect(e.message).toContain(tensor);
      expect(e.message).toContain(`${model} model`);
    });
  }

  it('refuses models ONNX Runtime cannot load, naming which (E_USER_CELL_LOAD)', async () => {
    const good = brokenCell({});
    let e = await failure(
      loadUserCell({ ...good, backward: Uint8Array.of(1, 2, 3), inputSize: 2, hiddenSize: 3 }),
    );
    expect(e.code).toBe('E_USER_CELL_LOAD');
    expect(e.model).toBe('backward');
    e = await failure(
      loadUserCell({ ...good, forward: '/nonexistent/forward.onnx', inputSize: 2, hiddenSize: 3 }),
    );
    expect(e.code).toBe('E_USER_CELL_LOAD');
    expect(e.model).toBe('forward');
  });

  it('refuses bad declarations and parameter values', async () => {
    const good = brokenCell({});
    expect(
      (await failure(loadUserCell({ ...good, inputSize: 2, hiddenSize: 3, state: ['c', 'h'] }))).code,
    ).toBe('E_OPTIONS');
    expect((await failure(loadUserCell({ ...good, inputSize: 0, hiddenSize: 3 }))).code).toBe('E_OPTIONS');
    // The unbroken cell declared in float64: every tensor has the wrong type.
    expect(
      (await failure(loadUserCell({ ...good, inputSize: 2, hiddenSize: 3 }, { dtype: 'float64' }))).code,
    ).toBe('E_USER_CELL_TYPE');

    const cell = await load({});
    const model = createReferenceModel({
      cell: 'rnn',
      inputSize: 2,
      hiddenSize: 3,
      head: { kind: 'softmax', classes: 2 },
      seed: 1,
    });
    const batch = randomBatch(model, { steps: 3, batchSize: 2 });
    const params = userParameters(model);
    const W = params.parameters['W']!;
    const U = params.parameters['U']!;
    const create = (parameters: Record<string, { dims: number[]; values: ArrayLike<number> }>) =>
      failure(createUserCellBackend(cell, { ...params, parameters }, batch));
    expect((await create({ W: { dims: [3, 2], values: W.values } })).code).toBe('E_BATCH');
    expect(
      (await create({ W: { dims: [2, 3], values: W.values }, U: { dims: [3, 3], values: U.values } })).code,
    ).toBe('E_USER_CELL_SHAPE');
    expect(
      (
        await create({
          W: { dims: [3, 2], values: W.values },
          U: { dims: [3, 3], values: U.values },
          V: { dims: [1], values: [0] },
        })
      ).code,
    ).toBe('E_BATCH');
    const ok = await createUserCellBackend(
      cell,
      {
        ...params,
        parameters: { W: { dims: [3, 2], values: W.values }, U: { dims: [3, 3], values: U.values } },
      },
      batch,
    );
    expect(ok.alpha).toBe(2);
  });
});
