import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPolicy } from '@rewind/executor';
import { describeBackendConformance } from '@rewind/executor/conformance';
import { createReferenceModel, randomBatch, standardBptt } from '@rewind/executor/reference';
import { plan, solverPlanner } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import type { OnnxBackend } from './backend.js';
import { isOnnxBackendError, type OnnxBackendError } from './errors.js';
import { GraphBuilder } from './onnx/builder.js';
import { externalDataLocations } from './onnx/external.js';
import { type ElemType, encodeModelWithExternalData } from './onnx/model.js';
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
  const failure = async (promise: Promise<unknown>): Promise<OnnxBackendError> => {
    const e = await promise.then(
      () => undefined,
      (error: unknown) => error,
    );
    if (!isOnnxBackendError(e)) throw new Error(`expected an OnnxBackendError, got ${String(e)}`);
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

/** A small RNN user cell with knobs for the declared shapes and what the graphs compute. */
interface ShapeKnobs {
  /** The batch dimension of every tensor (default 'B'). */
  readonly batch?: number | string;
  /** The declared shape of grad_param_b (default [H]). */
  readonly gradBShape?: readonly (number | string)[];
  /** grad_param_b tiled B times (B*H entries, a size ONNX Runtime cannot infer). */
  readonly gradBTiled?: boolean;
  /** The declared shape of param_W in both models (default [H, I]). */
  readonly wShape?: readonly (number | string)[];
  /** The batch dimension of grad_x only. */
  readonly gradXBatch?: string;
  /** The forward reshapes h_prev to [2, -1] and back (an error at run time when 2 does not divide B*H). */
  readonly reshapeThrough2?: boolean;
  /** Output names of the forward model. */
  readonly forwardOutputs?: readonly string[];
}

function shapedCell(k: ShapeKnobs, I = 2, H = 3): { forward: Uint8Array; backward: Uint8Array } {
  const Bd = k.batch ?? 'B';
  const W = k.wShape ?? [H, I];
  const f = new GraphBuilder('f');
  const x = f.input('x', 'float64', [Bd, I]);
  let hp = f.input('h_prev', 'float64', [Bd, H]);
  if (k.reshapeThrough2 === true) hp = f.reshape(f.reshape(hp, [2, -1]), [-1, H]);
  const fW = f.input('param_W', 'float64', W);
  const fb = f.input('param_b', 'float64', [H]);
  const h = f.tanh(f.gemm(x, fW, fb, { transB: true }));
  f.output(f.add(h, f.mul(hp, f.scalar('float64', 0.5))), k.forwardOutputs?.[0] ?? 'h', 'float64', [Bd, H]);
  const g = new GraphBuilder('b');
  const gx = g.input('x', 'float64', [Bd, I]);
  const gW = g.input('param_W', 'float64', W);
  const gb = g.input('param_b', 'float64', [H]);
  const dh = g.input('grad_h', 'float64', [Bd, H]);
  const hh = g.tanh(g.gemm(gx, gW, gb, { transB: true }));
  const da = g.mul(dh, g.sub(g.scalar('float64', 1), g.mul(hh, hh)));
  g.output(g.mul(dh, g.scalar('float64', 0.5)), 'grad_h_prev', 'float64', [Bd, H]);
  g.output(g.matmul(da, gW), 'grad_x', 'float64', [k.gradXBatch ?? Bd, I]);
  g.output(g.gemm(da, gx, undefined, { transA: true }), 'grad_param_W', 'float64', W);
  let db = g.reduceSum(da, [0], false);
  if (k.gradBTiled === true)
    db = g.op('Tile', [db, g.op('Slice', [g.op('Shape', [dh]), g.int64s([0]), g.int64s([1])])]);
  g.output(db, 'grad_param_b', 'float64', k.gradBShape ?? [H]);
  return { forward: f.toModel(), backward: g.toModel() };
}

/** The store-all policy of a backend for `T` steps. */
function storeAll(backend: OnnxBackend, T: number) {
  const sb = backend.stateBytes();
  return plan({
    steps: T,
    memory: { bytes: sb.hidden + T * sb.internal, stateBytes: sb },
    strategy: 'store-all',
  });
}

async function failureOf(promise: Promise<unknown>): Promise<OnnxBackendError> {
  const e = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!isOnnxBackendError(e)) throw new Error(`expected an OnnxBackendError, got ${String(e)}`);
  return e;
}

const shapedParams = (I = 2, H = 3) => ({
  parameters: {
    W: { dims: [H, I], values: Array.from({ length: H * I }, (_, k) => 0.1 * (k - 2)) },
    b: { dims: [H], values: [0.1, -0.2, 0.05] },
  },
  head: { kind: 'mse', outputs: 1 } as const,
  headParameters: { Wy: [0.3, -0.1, 0.2], by: [0] },
});
const shapedBatch = (B: number, T = 3) => ({
  steps: T,
  batchSize: B,
  inputs: Array.from({ length: T * B * 2 }, (_, k) => Math.sin(k)),
  targets: Array.from({ length: T * B }, (_, k) => Math.cos(k)),
});

describe('user-cell load-time checks report everything at once', () => {
  const load64 = (models: { forward: Uint8Array; backward: Uint8Array }, state?: string[]) =>
    loadUserCell(
      { ...models, inputSize: 2, hiddenSize: 3, ...(state === undefined ? {} : { state }) },
      { dtype: 'float64' },
    );

  it('accepts the plain cell', async () => {
    const cell = await load64(shapedCell({}));
    expect(cell.parameters.map((p) => p.name)).toEqual(['W', 'b']);
  });

  it('lists every violation and what both models have', async () => {
    const e = await failureOf(
      load64(
        shapedCell({ forwardOutputs: ['mul_57'], gradBShape: ['32*B'], gradBTiled: true, wShape: [3, 'I'] }),
      ),
    );
    const found = e.violations.map((v) => `${v.code} ${v.model} ${v.tensor}`);
    expect(found).toEqual([
      'E_USER_CELL_SHAPE forward param_W',
      'E_USER_CELL_MISSING_OUTPUT forward h',
      'E_USER_CELL_UNKNOWN_OUTPUT forward mul_57',
      'E_USER_CELL_SHAPE backward param_W',
      'E_USER_CELL_SHAPE backward grad_param_b',
    ]);
    // The error itself is the first violation; its message holds all of them.
    expect(e.code).toBe('E_USER_CELL_SHAPE');
    expect(e.model).toBe('forward');
    expect(e.tensor).toBe('param_W');
    expect(e.message).toContain('5 contract violations');
    for (const v of e.violations) expect(e.message).toContain(v.message);
    expect(e.message).toContain(
      "missing output h (its outputs: mul_57; name them when exporting, e.g. output_names=['h'",
    );
    expect(e.message).toContain("symbolic size '32*B' on axis 0");
    expect(e.message).toContain("symbolic size 'I' on axis 1");
    // What the models actually have.
    expect(e.message).toContain(
      'the forward model has inputs x: float64 [B, 2], h_prev: float64 [B, 3], param_W: float64 [3, I], param_b: float64 [3]; outputs mul_57: float64 [B, 3]',
    );
    expect(e.message).toContain('the backward model has inputs x: float64 [B, 2]');
    expect(e.message).toContain('grad_param_b: float64 [32*B]');
  });

  it('refuses a batch axis named otherwise than the batch symbol', async () => {
    const e = await failureOf(load64(shapedCell({ gradXBatch: 'N' })));
    expect(e.violations.map((v) => `${v.code} ${v.model} ${v.tensor}`)).toEqual([
      'E_USER_CELL_SHAPE backward grad_x',
    ]);
    expect(e.message).toContain("expected the batch symbol 'B'");
  });

  it('hints at the state option when a model carries a state the declaration lacks', async () => {
    const lstm = lstmUserCell(3, 3, 'float64');
    const e = await failureOf(loadUserCell({ ...lstm, inputSize: 3, hiddenSize: 3 }, { dtype: 'float64' }));
    expect(e.code).toBe('E_USER_CELL_UNKNOWN_INPUT');
    expect(e.tensor).toBe('c_prev');
    expect(e.message).toContain(
      "input c_prev is not part of the contract (x, h_prev, param_*); if the cell carries c, declare it: state: ['h', 'c']",
    );
    // The forward output c, the backward inputs c_prev, c, grad_c and its output grad_c_prev too.
    expect(e.violations.map((v) => v.tensor)).toEqual([
      'c_prev',
      'c',
      'c_prev',
      'c',
      'grad_c',
      'grad_c_prev',
    ]);
    for (const v of e.violations.slice(0, 5)) expect(v.message).toContain("declare it: state: ['h', 'c']");
  });

  it('checks a fixed batch dimension against the batch before running', async () => {
    const cell = await load64(shapedCell({ batch: 4 }));
    expect(cell.fixedBatch?.size).toBe(4);
    const e = await failureOf(createUserCellBackend(cell, shapedParams(), shapedBatch(2)));
    expect(e.code).toBe('E_USER_CELL_SHAPE');
    expect(e.model).toBe('forward');
    expect(e.tensor).toBe('x');
    expect(e.message).toContain('exported with a fixed batch of 4');
    expect(e.message).toContain('the batch has 2 sequences');
    const ok = await createUserCellBackend(cell, shapedParams(), shapedBatch(4));
    const policy = storeAll(ok, 3);
    expect(Number.isFinite((await runPolicy(ok, policy)).loss)).toBe(true);
  });

  it('wraps ONNX Runtime failures at run time with a code and the model named', async () => {
    // Declared with a symbolic batch, but the graph only works for even batches (the backend runs a
    // first forward step when it is created, to measure the state sizes).
    const cell = await load64(shapedCell({ reshapeThrough2: true }));
    await createUserCellBackend(cell, shapedParams(), shapedBatch(2));
    const e = await failureOf(createUserCellBackend(cell, shapedParams(), shapedBatch(3)));
    expect(e.code).toBe('E_USER_CELL_RUN');
    expect(e.cause).toBeInstanceOf(Error);
    expect(e.model).toBe('forward');
    expect(e.message).toContain(
      "ONNX Runtime failed running the user cell's forward model (given as bytes) at forward step 1",
    );
  });

  it('checks the element count of every output at run time (never writes past an accumulator)', async () => {
    // grad_param_b declared with an unknown size, computed with 2H entries.
    const cell = await load64(shapedCell({ gradBShape: [''], gradBTiled: true }));
    const backend = await createUserCellBackend(cell, shapedParams(), shapedBatch(2));
    const policy = storeAll(backend, 3);
    const e = await failureOf(runPolicy(backend, policy));
    expect(e.code).toBe('E_USER_CELL_SHAPE');
    expect(e.model).toBe('backward');
    expect(e.tensor).toBe('grad_param_b');
    expect(e.message).toContain(
      'returned grad_param_b with dimensions [6] (6 elements) at backward step 3, expected [3] (3 elements)',
    );
    // Declared as '32*B' (a size that is not the batch symbol): refused at load already.
    const refused = await failureOf(load64(shapedCell({ gradBShape: ['32*B'], gradBTiled: true })));
    expect(refused.code).toBe('E_USER_CELL_SHAPE');
    expect(refused.tensor).toBe('grad_param_b');
  });
});

describe('user cells with external data', () => {
  const sizes = { inputSize: 3, hiddenSize: 4 } as const;
  const external = (dtype: 'float32' | 'float64') => {
    // The RNN user cell's backward with its constant as an initializer, written with external data.
    const g = new GraphBuilder('rnn_backward_external');
    const gx = g.input('x', dtype, ['B', 3]);
    const ghp = g.input('h_prev', dtype, ['B', 4]);
    const gh = g.input('h', dtype, ['B', 4]);
    const dh = g.input('grad_h', dtype, ['B', 4]);
    const gW = g.input('param_W', dtype, [4, 3]);
    const gU = g.input('param_U', dtype, [4, 4]);
    // Two initializers (1 = 2 * 0.5), so that the second sits at an aligned offset of the data file.
    const one = g.mul(
      g.initializer(dtype, [4], [2, 2, 2, 2], 'twos'),
      g.initializer(dtype, [], [0.5], 'half'),
    );
    const da = g.mul(dh, g.sub(one, g.mul(gh, gh)));
    g.output(g.matmul(da, gU), 'grad_h_prev', dtype, ['B', 4]);
    g.output(g.matmul(da, gW), 'grad_x', dtype, ['B', 3]);
    g.output(g.gemm(da, gx, undefined, { transA: true }), 'grad_param_W', dtype, [4, 3]);
    g.output(g.gemm(da, ghp, undefined, { transA: true }), 'grad_param_U', dtype, [4, 4]);
    g.output(g.reduceSum(da, [0], false), 'grad_param_b', dtype, [4]);
    return encodeModelWithExternalData(
      { graph: g.build(), opsets: [{ domain: '', version: 17 }] },
      'backward.onnx.data',
    );
  };

  it('writes external data the reader finds, and inline models have none', () => {
    const { model, data } = external('float64');
    expect(externalDataLocations(model)).toEqual(['backward.onnx.data']);
    // twos at offset 0 (32 bytes), half at the next multiple of 64.
    expect(data.length).toBe(64 + 8);
    expect(new Float64Array(data.buffer, data.byteOffset, 4)).toEqual(Float64Array.of(2, 2, 2, 2));
    expect(new Float64Array(data.buffer, data.byteOffset + 64, 1)).toEqual(Float64Array.of(0.5));
    expect(externalDataLocations(rnnUserCell(3, 4).backward)).toEqual([]);
  });

  it('loads a model with external data from its path, with the same gradients as inline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rewind-ort-ext-'));
    const { model, data } = external('float64');
    const inline = rnnUserCell(3, 4, 'float64');
    await writeFile(join(dir, 'forward.onnx'), inline.forward);
    await writeFile(join(dir, 'backward.onnx'), model);
    await writeFile(join(dir, 'backward.onnx.data'), data);
    const fromPath = await loadUserCell(
      { forward: join(dir, 'forward.onnx'), backward: join(dir, 'backward.onnx'), ...sizes },
      { dtype: 'float64' },
    );
    const fromBytes = await loadUserCell({ ...inline, ...sizes }, { dtype: 'float64' });
    const refModel = createReferenceModel({
      cell: 'rnn',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'softmax', classes: 2 },
      seed: 3,
    });
    const batch = randomBatch(refModel, { steps: 5, batchSize: 2, seed: 4 });
    const grads = [];
    for (const cell of [fromPath, fromBytes]) {
      const backend = await createUserCellBackend(cell, userParameters(refModel), batch);
      await runPolicy(backend, storeAll(backend, 5));
      grads.push(await backend.readGradients());
    }
    expect(grads[0]).toEqual(grads[1]);
    expect(
      relativeError(grads[0]!.parameters['W']!, standardBptt(refModel, batch).parameters['W']!),
    ).toBeLessThan(1e-12);
  });

  it('refuses external data given as bytes, or missing beside the model, saying how to export without it', async () => {
    const { model } = external('float32');
    const inline = rnnUserCell(3, 4);
    let e = await failureOf(loadUserCell({ forward: inline.forward, backward: model, ...sizes }));
    expect(e.code).toBe('E_USER_CELL_EXTERNAL_DATA');
    expect(e.model).toBe('backward');
    expect(e.tensor).toBe('backward.onnx.data');
    expect(e.message).toContain("pass the model's file path instead");
    expect(e.message).toContain('external_data=False');
    const dir = await mkdtemp(join(tmpdir(), 'rewind-ort-ext-'));
    await writeFile(join(dir, 'b.onnx'), model);
    e = await failureOf(loadUserCell({ forward: inline.forward, backward: join(dir, 'b.onnx'), ...sizes }));
    expect(e.code).toBe('E_USER_CELL_EXTERNAL_DATA');
    expect(e.message).toContain(`refers to external data backward.onnx.data, not found in ${dir}`);
    expect(e.message).toContain('save_as_external_data=False');
  });
});
