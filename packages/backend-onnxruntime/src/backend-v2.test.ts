import { type LossHead, rangeCalls, runPolicy } from '@rewind/executor';
import { createReferenceModel, randomBatch, standardBptt } from '@rewind/executor/reference';
import { type Instruction, type Policy, verify } from '@rewind/policy';
import { plan, type StrategyName } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { createOnnxBackend } from './backend.js';
import { createOnnxBackendV2, type OnnxBackendV2 } from './backend-v2.js';
import { isOnnxBackendError } from './errors.js';
import type { OnnxInternal } from './runtime/engine.js';
import { applyTf32 } from './runtime/session.js';
import { relativeError, runPolicyV2 } from './testing.test-util.js';

type Cell = 'rnn' | 'lstm' | 'gru';
const CELLS: readonly Cell[] = ['rnn', 'lstm', 'gru'];
const HEADS: Record<string, LossHead> = {
  softmax: { kind: 'softmax', classes: 5 },
  mse: { kind: 'mse', outputs: 3 },
};

function policyFor(backend: OnnxBackendV2, strategy: Exclude<StrategyName, 'auto'>, slots?: number): Policy {
  const sb = backend.stateBytes();
  const T = backend.steps;
  const bytes = slots === undefined ? sb.hidden + T * sb.internal : Math.floor(slots * sb.hidden);
  return plan({ steps: T, memory: { bytes, stateBytes: sb }, strategy });
}

/** A policy written by hand: strided stores of both kinds, a working state, recomputation, a free. */
function handPolicy(T: number): Policy {
  if (T !== 12) throw new Error('written for T = 12');
  return {
    instructions: [
      { op: 'forward', from: 0, to: 8, store: 'hidden', stride: 4 }, // h_4, h_8: one run per kept state
      { op: 'free', kind: 'hidden', at: 4 },
      { op: 'free', kind: 'hidden', at: 8 },
      { op: 'forward', from: 0, to: 12, store: 'hidden', stride: 3 }, // h_3, h_6, h_9, h_12
      { op: 'free', kind: 'hidden', at: 12 },
      { op: 'forward', from: 9, to: 12, store: 'internal', stride: 2 }, // s_11
      { op: 'forward', from: 11, to: 12 }, // working s_12
      { op: 'backward', from: 12, to: 10 }, // s_12 working, s_11 kept, s_10 recomputed from h_9
      { op: 'forward', from: 6, to: 9, store: 'internal', stride: 1 }, // s_7, s_8, s_9
      { op: 'backward', from: 9, to: 7 },
      { op: 'forward', from: 3, to: 6, store: 'hidden', stride: 1 }, // h_4, h_5, h_6
      { op: 'backward', from: 6, to: 4 }, // all three recomputed, in one run
      { op: 'forward', from: 0, to: 3, store: 'internal', stride: 1 },
      { op: 'backward', from: 3, to: 1 },
    ],
  } as unknown as Policy;
}

describe('the range-level backend against the float64 reference', () => {
  for (const cell of CELLS) {
    for (const [headName, head] of Object.entries(HEADS)) {
      it(`${cell}, ${headName} head: every strategy within 1e-9 of standard BPTT`, async () => {
        const model = createReferenceModel({ cell, inputSize: 4, hiddenSize: 5, head, seed: 7 });
        for (const lossSteps of ['all', 'last'] as const) {
          const batch = randomBatch(model, {
            steps: 11,
            batchSize: 3,
            seed: 3,
            randomInitialState: true,
            lossSteps,
          });
          const expected = standardBptt(model, batch);
          const backend = await createOnnxBackendV2(model, batch, {
            dtype: 'float64',
            weightGradientSteps: 4,
          });
          for (const [strategy, slots] of [
            ['store-all', undefined],
            ['msm', 4],
            ['hsm', 3],
            ['ism', 30],
            ['recompute-all', 1],
          ] as const) {
            const run = await runPolicyV2(backend, policyFor(backend, strategy, slots));
            const g = await backend.readGradients();
            expect(Math.abs(run.loss - expected.loss) / Math.abs(expected.loss)).toBeLessThan(1e-12);
            for (const [name, e] of Object.entries(expected.parameters)) {
              expect(relativeError(g.parameters[name]!, e), `${strategy} ${lossSteps} ${name}`).toBeLessThan(
                1e-9,
              );
            }
            expect(relativeError(g.inputs!, expected.inputs)).toBeLessThan(1e-9);
            expect(relativeError(g.initialState!, expected.initialState)).toBeLessThan(1e-9);
          }
          expect(backend.liveHandles()).toBe(0);
        }
      });
    }
  }
});

describe('bitwise identical gradients across strategies (float32)', () => {
  for (const cell of CELLS) {
    it(`${cell}: every strategy and budget, strided stores and pieces equal store-all`, async () => {
      const model = createReferenceModel({
        cell,
        inputSize: 6,
        hiddenSize: 8,
        head: { kind: 'softmax', classes: 7 },
        seed: 5,
      });
      const batch = randomBatch(model, { steps: 12, batchSize: 4, seed: 9, randomInitialState: true });
      const backend = await createOnnxBackendV2(model, batch, { weightGradientSteps: 5, rangeRows: 4 });
      const base = await runPolicyV2(backend, policyFor(backend, 'store-all'));
      const reference = await backend.readGradients();
      const runs: [string, Policy][] = [
        ['hand-written', handPolicy(12)],
        ['msm 3', policyFor(backend, 'msm', 3)],
        ['msm 6', policyFor(backend, 'msm', 6)],
        ['hsm 2', policyFor(backend, 'hsm', 2)],
        ['chen-sqrt', policyFor(backend, 'chen-sqrt', 40)],
        ['recompute-all', policyFor(backend, 'recompute-all', 1)],
      ];
      for (const [label, policy] of runs) {
        const run = await runPolicyV2(backend, policy);
        expect(run.loss, label).toBe(base.loss);
        expect(await backend.readGradients(), label).toEqual(reference);
      }
      expect(backend.liveHandles()).toBe(0);
    });
  }

  it('equals the per-step backend bit for bit, both run by the executor', async () => {
    for (const cell of CELLS) {
      const model = createReferenceModel({
        cell,
        inputSize: 5,
        hiddenSize: 6,
        head: { kind: 'softmax', classes: 4 },
        seed: 2,
      });
      const batch = randomBatch(model, { steps: 9, batchSize: 3, seed: 4 });
      const v2 = await createOnnxBackendV2(model, batch);
      const v1 = await createOnnxBackend(model, batch);
      const a = await runPolicy(v2, policyFor(v2, 'msm', 4));
      const b = await runPolicy(v1, policyFor(v2, 'store-all'));
      expect(a.loss, cell).toBe(b.loss);
      expect(await v2.readGradients(), cell).toEqual(await v1.readGradients());
    }
  });
});

describe('token-id batches', () => {
  for (const cell of CELLS) {
    it(`${cell}: ids give bitwise the loss and gradients of their one-hot rows, every strategy, recomputation included`, async () => {
      const V = 6;
      const model = createReferenceModel({
        cell,
        inputSize: V,
        hiddenSize: 8,
        head: { kind: 'softmax', classes: 7 },
        seed: 5,
      });
      const dense = randomBatch(model, {
        steps: 12,
        batchSize: 4,
        seed: 9,
        randomInitialState: true,
        oneHot: true,
      });
      const ids = new Int32Array(12 * 4);
      for (let r = 0; r < ids.length; r++)
        for (let k = 0; k < V; k++) if (dense.inputs[r * V + k] === 1) ids[r] = k;
      const idBatch = { ...dense, inputs: ids, inputKind: 'ids' as const };
      const options = { weightGradientSteps: 5, rangeRows: 4 };
      const a = await createOnnxBackendV2(model, dense, options);
      const b = await createOnnxBackendV2(model, idBatch, options);
      const runs: [string, Policy][] = [
        ['store-all', policyFor(a, 'store-all')],
        ['hand-written', handPolicy(12)],
        ['msm 3', policyFor(a, 'msm', 3)],
        ['hsm 2', policyFor(a, 'hsm', 2)],
      ];
      for (const [label, policy] of runs) {
        const x = await runPolicyV2(a, policy);
        const y = await runPolicyV2(b, policy);
        expect(y.loss, label).toBe(x.loss);
        expect(await b.readGradients(), label).toEqual(await a.readGradients());
      }
      // The ids reach ONNX Runtime as int64 rows, not as one-hot rows.
      expect(b.stats().forwardBytesIn).toBeLessThan(a.stats().forwardBytesIn);
      expect(b.liveHandles()).toBe(0);
    });
  }

  it('holds no one-hot rows or input gradient of the whole batch: memory that grows with T stays the ids', async () => {
    const V = 89;
    const T = 4000;
    const B = 16;
    const model = createReferenceModel({
      cell: 'lstm',
      inputSize: V,
      hiddenSize: 8,
      head: { kind: 'softmax', classes: V },
      seed: 1,
    });
    const dense = randomBatch(model, { steps: 2, batchSize: B, seed: 1 });
    const ids = Int32Array.from({ length: T * B }, (_, r) => (r * 7) % V);
    const targets = Int32Array.from({ length: T * B }, (_, r) => (r * 5) % V);
    const idBatch = { ...dense, steps: T, inputs: ids, targets, inputKind: 'ids' as const };
    const oneHotBytes = T * B * V * 4; // 22.8 MB, and twice that for a float64 input gradient
    const before = process.memoryUsage().arrayBuffers;
    const backend = await createOnnxBackendV2(model, idBatch, { inputGradients: false });
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeLessThan(oneHotBytes / 4);
    // It still runs a pass (store-all), and keeps no gradient for the inputs.
    const run = await runPolicyV2(backend, policyFor(backend, 'store-all'));
    expect(Number.isFinite(run.loss)).toBe(true);
    expect((await backend.readGradients()).inputs).toBeUndefined();
  });

  it('refuses ids outside the inputs, naming the entry', async () => {
    const model = createReferenceModel({
      cell: 'lstm',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'mse', outputs: 2 },
      seed: 1,
    });
    const dense = randomBatch(model, { steps: 2, batchSize: 2, seed: 1 });
    const bad = { ...dense, inputs: Int32Array.of(0, 1, 3, 2), inputKind: 'ids' as const };
    const error = await createOnnxBackendV2(model, bad).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('E_BATCH');
  });
});

describe('runs and transfers per iteration (counts, not times)', () => {
  it('a range from an internal checkpoint computes its step again in front: the backward over both copies nothing', async () => {
    const model = createReferenceModel({
      cell: 'lstm',
      inputSize: 4,
      hiddenSize: 5,
      head: { kind: 'softmax', classes: 5 },
      seed: 7,
    });
    const batch = randomBatch(model, { steps: 12, batchSize: 3, seed: 3 });
    const backend = await createOnnxBackendV2(model, batch);
    const instructions: Instruction[] = [
      { op: 'forward', from: 0, to: 6, store: 'internal', stride: 6 }, // s_6
      { op: 'forward', from: 6, to: 11, store: 'internal', stride: 1 }, // from s_6: step 6 again in front
      { op: 'forward', from: 11, to: 12 }, // joined with the range above by the executor
      { op: 'backward', from: 12, to: 6 },
      { op: 'forward', from: 0, to: 4, store: 'internal', stride: 1 },
      { op: 'forward', from: 4, to: 5 },
      { op: 'backward', from: 5, to: 1 },
    ];
    const draft = {
      ...policyFor(backend, 'store-all'),
      strategy: 'hand',
      instructions,
    } as Policy;
    const replay = verify(draft, { skipTotals: true, profile: false });
    if (!replay.ok) throw new Error(replay.issue.message);
    const peak = replay.counted.peakBytes ?? 0;
    const policy: Policy = {
      ...draft,
      budget: { slots: replay.counted.peakSlots, bytes: peak },
      totals: {
        forwards: replay.counted.forwards,
        backwards: replay.counted.backwards,
        peakSlots: replay.counted.peakSlots,
        peakBytes: peak,
      },
    };
    const base = await runPolicy(backend, policyFor(backend, 'store-all'));
    const expected = await backend.readGradients();
    backend.resetStats();
    const run = await runPolicy(backend, policy);
    const got = await backend.readGradients();
    const s = backend.stats();
    expect([s.forwardRuns, s.backwardRuns, s.forwardSteps - s.forwardCalls, s.gatherBytes]).toEqual([
      3, 2, 1, 0,
    ]);
    expect(run.loss).toBe(base.loss);
    for (const [name, e] of Object.entries(expected.parameters))
      expect(got.parameters[name], name).toEqual(e);
    expect(got.initialState).toEqual(expected.initialState);
    expect(backend.liveHandles()).toBe(0);
  });

  it('store-all and msm: runs, parameter bytes and total bytes within their bounds', async () => {
    // Proportions of a character model (I and O about H/3, a batch of 16): the traffic beyond the states
    // (inputs, gate gradients, per-chunk weight-gradient outputs) is then a fraction of the state traffic.
    const H = 32;
    const I = 10;
    const O = 10;
    const T = 64;
    const B = 16;
    const K = 16;
    const model = createReferenceModel({
      cell: 'lstm',
      inputSize: I,
      hiddenSize: H,
      head: { kind: 'softmax', classes: O },
      seed: 1,
    });
    const batch = randomBatch(model, { steps: T, batchSize: B, seed: 2 });
    const backend = await createOnnxBackendV2(model, batch, { weightGradientSteps: K });
    const parameterBytes = 4 * (4 * H * I + 4 * H * H + 4 * H + O * H + O);
    for (const [strategy, slots] of [
      ['store-all', undefined],
      ['msm', 0.05 * (1 + T * backend.alpha)],
      ['hsm', 6],
    ] as const) {
      const policy = policyFor(backend, strategy, slots);
      backend.resetStats();
      const run = await runPolicyV2(backend, policy);
      await backend.readGradients();
      const s = backend.stats();
      const label = `${strategy}: ${JSON.stringify(s)}`;
      // One run per forward instruction and per backward one (steps recomputed from held states inside it),
      // and one run at the end for the chunks the last backward range completed: the weight-gradient
      // products of the other chunks ride in the backward ranges' runs. At most the instructions plus one.
      const forwards = policy.instructions.filter((i) => i.op === 'forward').length;
      const backwards = policy.instructions.filter((i) => i.op === 'backward').length;
      expect(s.forwardRuns, label).toBe(forwards);
      expect(s.backwardRuns, label).toBe(backwards);
      expect(s.weightGradientRuns, label).toBe(1);
      expect(s.runs, label).toBe(forwards + backwards + 1);
      expect(s.runs, label).toBeLessThanOrEqual(run.instructions + 1);
      if (strategy === 'store-all') expect(s.runs, label).toBe(3);
      // The parameters cross once per pass on the CPU.
      expect(s.parameterBytesIn, label).toBe(parameterBytes);
      const total = s.forwardBytesIn + s.forwardBytesOut + s.backwardBytesIn + s.backwardBytesOut;
      expect(total, label).toBeLessThanOrEqual(2 * run.checkpointBytes);
      expect(s.forwardCalls, label).toBe(policy.totals.forwards);
      expect(s.backwardSteps, label).toBe(T);
      // Ranges of internal states that start from an internal checkpoint compute its step again in front
      // (at most one step per range), so that a backward range over both stacks nothing.
      const front = s.forwardSteps - s.forwardCalls;
      expect(front, label).toBeLessThanOrEqual(forwards);
      if (strategy === 'store-all') expect([front, s.gatherBytes], label).toEqual([0, 0]);
      if (strategy === 'msm') expect(front, label).toBeGreaterThan(0);
    }
    // Through the executor, which runs a segment's internal states and the step after them that starts
    // its backward as one range: MSM's backward ranges find all their states side by side, copying nothing.
    const msm = policyFor(backend, 'msm', 0.05 * (1 + T * backend.alpha));
    const calls = rangeCalls(msm);
    expect(calls.forward).toBeLessThan(msm.instructions.filter((i) => i.op === 'forward').length);
    backend.resetStats();
    await runPolicy(backend, msm);
    await backend.readGradients();
    const s = backend.stats();
    expect([s.forwardRuns, s.backwardRuns, s.runs], JSON.stringify(s)).toEqual([
      calls.forward,
      calls.backward,
      calls.forward + calls.backward + 1,
    ]);
    expect(s.forwardCalls).toBe(msm.totals.forwards);
    // Only the states that backward ranges recompute from are stacked (here in 7 of 21 ranges).
    const byInstruction = await (async () => {
      backend.resetStats();
      await runPolicyV2(backend, msm);
      return backend.stats().gatherBytes;
    })();
    expect(s.gatherBytes).toBeLessThan(byInstruction);
  });

  it('a forward that stores nothing outputs only its final state; store-all feeds its checkpoints without copies', async () => {
    const model = createReferenceModel({
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'mse', outputs: 2 },
      seed: 1,
    });
    const batch = randomBatch(model, { steps: 20, batchSize: 2, seed: 1 });
    const backend = await createOnnxBackendV2(model, batch);
    const h0 = await backend.initialState();
    backend.resetStats();
    const r = await backend.forwardRange({ start: h0, from: 0, to: 20, keepWorking: false });
    expect(r.kept).toEqual([]);
    expect(backend.stats().forwardBytesOut).toBe(2 * 4 * 4); // h_20 only
    backend.dispose(h0);
    backend.resetStats();
    await runPolicyV2(backend, policyFor(backend, 'store-all'));
    // Every internal state of the backward range lies in the forward range's stacked outputs.
    expect(backend.stats().gatherBytes).toBe(0);
    expect(backend.liveHandles()).toBe(0);
  });
});

describe('a range keeping only its last internal state', () => {
  type Data = { prev: { data: unknown }[]; next: { data: unknown }[]; extra: { data: unknown }[] };
  const bits = (x: OnnxInternal): number[][] => {
    const d = (x as unknown as { data: Data }).data;
    return [...d.prev, ...d.next, ...d.extra].map((t) => Array.from(t.data as Float32Array));
  };
  for (const cell of CELLS) {
    it(`${cell}: its last step apart from the Scan equals the range keeping every state, bit for bit`, async () => {
      const model = createReferenceModel({
        cell,
        inputSize: 5,
        hiddenSize: 6,
        head: { kind: 'softmax', classes: 4 },
        seed: 3,
      });
      const batch = randomBatch(model, { steps: 8, batchSize: 3, seed: 5, randomInitialState: true });
      const backend = await createOnnxBackendV2(model, batch);
      const h0 = await backend.initialState();
      const all = await backend.forwardRange({
        start: h0,
        from: 0,
        to: 7,
        store: { kind: 'internal', stride: 1 },
        keepWorking: false,
      });
      const every = all.kept as OnnxInternal[];
      const expected = bits(every[6]!);
      backend.resetStats();
      // Steps 1..7 in one run, the state of step 7 kept: the Scan runs 6 steps, step 7 outside it.
      const last = await backend.forwardRange({
        start: h0,
        from: 0,
        to: 7,
        store: { kind: 'internal', stride: 7 },
        keepWorking: false,
      });
      expect(bits(last.kept[0] as OnnxInternal)).toEqual(expected);
      // Only the last step's internal state leaves ONNX Runtime: h, c (LSTM), the state before, activations.
      const widths = { rnn: 2, lstm: 4 + 4, gru: 2 + 4 }[cell];
      expect(backend.stats().forwardBytesOut).toBe(widths * 3 * 6 * 4);
      expect(backend.stats().runs).toBe(1);
      // A working state of one step, from h_6 (a range of one step keeping its internal state).
      const h6 = backend.hiddenOf(every[5]!);
      const working = await backend.forwardRange({ start: h6, from: 6, to: 7, keepWorking: true });
      expect(bits(working.working as OnnxInternal)).toEqual(expected);
      // And a longer one, from h_3.
      const h3 = backend.hiddenOf(every[2]!);
      const longer = await backend.forwardRange({ start: h3, from: 3, to: 7, keepWorking: true });
      expect(bits(longer.working as OnnxInternal)).toEqual(expected);
      for (const x of [...every, ...last.kept, working.working!, longer.working!, h0]) backend.dispose(x);
      expect(backend.liveHandles()).toBe(0);
    });
  }
});

describe('typed errors', () => {
  it('refuses bad requests and options before any work', async () => {
    const model = createReferenceModel({
      cell: 'rnn',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'mse', outputs: 2 },
      seed: 1,
    });
    const batch = randomBatch(model, { steps: 6, batchSize: 2, seed: 1 });
    const expectCode = async (p: Promise<unknown> | (() => unknown), code: string): Promise<void> => {
      try {
        await (typeof p === 'function' ? p() : p);
      } catch (e) {
        expect(isOnnxBackendError(e) && e.code, String(e)).toBe(code);
        return;
      }
      throw new Error(`expected ${code}`);
    };
    await expectCode(createOnnxBackendV2(model, batch, { sparsity: { threshold: 0.1 } }), 'E_OPTIONS');
    await expectCode(createOnnxBackendV2(model, batch, { rangeRows: 0 }), 'E_OPTIONS');
    await expectCode(createOnnxBackendV2(model, batch, { tf32: 'yes' as unknown as boolean }), 'E_OPTIONS');
    await expectCode(
      createOnnxBackendV2(model, batch, { intraOpSpinning: 1 as unknown as boolean }),
      'E_OPTIONS',
    );
    await expectCode(
      createOnnxBackendV2(model, batch, { inputGradients: 'no' as unknown as boolean }),
      'E_OPTIONS',
    );
    const backend = await createOnnxBackendV2(model, batch);
    const h0 = await backend.initialState();
    backend.resetStats();
    await expectCode(backend.forwardRange({ start: h0, from: 1, to: 3, keepWorking: false }), 'E_STEP');
    await expectCode(backend.forwardRange({ start: h0, from: 0, to: 7, keepWorking: false }), 'E_STEP');
    await expectCode(
      backend.forwardRange({
        start: h0,
        from: 0,
        to: 3,
        store: { kind: 'hidden', stride: 4 },
        keepWorking: false,
      }),
      'E_STEP',
    );
    const { kept: handles } = await backend.forwardRange({
      start: h0,
      from: 0,
      to: 6,
      store: { kind: 'internal', stride: 1 },
      keepWorking: false,
    });
    const kept = handles as OnnxInternal[];
    await expectCode(
      backend.backwardRange({ from: 5, to: 5, sources: [{ internal: kept[4]! }], dh: null }),
      'E_STEP',
    );
    await expectCode(
      backend.backwardRange({ from: 6, to: 6, sources: [{ internal: kept[4]! }], dh: null }),
      'E_STEP',
    );
    await expectCode(
      backend.backwardRange({ from: 6, to: 5, sources: [{ internal: kept[5]! }], dh: null }),
      'E_STEP',
    );
    backend.dispose(kept[5]!);
    await expectCode(
      backend.backwardRange({ from: 6, to: 6, sources: [{ internal: kept[5]! }], dh: null }),
      'E_HANDLE',
    );
    await expectCode(() => backend.dispose(kept[5]!), 'E_HANDLE');
    // Nothing ran for the refused requests.
    expect(backend.stats().runs).toBe(1);
    for (const k of kept.slice(0, 5)) backend.dispose(k);
    backend.dispose(h0);
    expect(backend.liveHandles()).toBe(0);
  });

  it('TF32: off by default through NVIDIA_TF32_OVERRIDE=0, one setting per process', () => {
    const env: Record<string, string | undefined> = {};
    applyTf32(false, env);
    expect(env['NVIDIA_TF32_OVERRIDE']).toBe('0');
    applyTf32(false, env);
    expect(() => applyTf32(true, env)).toThrow(/process-wide/);
    const other: Record<string, string | undefined> = { NVIDIA_TF32_OVERRIDE: '1' };
    expect(() => applyTf32(false, other)).toThrow(/NVIDIA_TF32_OVERRIDE=1/);
    applyTf32(true, other);
    expect(other['NVIDIA_TF32_OVERRIDE']).toBe('1');
    const fresh: Record<string, string | undefined> = {};
    applyTf32(true, fresh);
    expect(fresh['NVIDIA_TF32_OVERRIDE']).toBeUndefined();
  });
});
