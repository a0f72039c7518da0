import type { Instruction, Policy } from '@rewind/policy';
import { plan, STRATEGIES } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import type { CellBackendV1, GradientReadout, MaybePromise } from './backend.js';
import { ExecutorError, isExecutorError } from './errors.js';
import type { CellKind, LossHead } from './model.js';
import { hiddenAll, makePolicy, randomPolicy, recomputeAll, storeAll } from './policies.test-util.js';
import {
  createReferenceBackend,
  createReferenceModel,
  type ReferenceBackend,
  type ReferenceGradients,
  type ReferenceHidden,
  type ReferenceInternal,
  randomBatch,
  standardBptt,
} from './reference/index.js';
import { checkRunnable, type ProgressEvent, runPolicy } from './run-policy.js';
import { trackHandles } from './testing/index.js';

const CELLS: readonly CellKind[] = ['rnn', 'lstm', 'gru'];

interface Setup {
  readonly cell?: CellKind;
  readonly steps: number;
  readonly seed?: number;
  readonly head?: LossHead;
  readonly lossSteps?: 'all' | 'last';
  readonly oneHot?: boolean;
}

function setup(s: Setup): ReferenceBackend {
  const cell = s.cell ?? 'lstm';
  const seed = s.seed ?? 7;
  const model = createReferenceModel({
    cell,
    inputSize: 4,
    hiddenSize: 3,
    head: s.head ?? { kind: 'softmax', classes: 4 },
    seed,
  });
  const batch = randomBatch(model, {
    steps: s.steps,
    batchSize: 2,
    seed: seed + 1,
    randomInitialState: true,
    ...(s.lossSteps === undefined ? {} : { lossSteps: s.lossSteps }),
    ...(s.oneHot === undefined ? {} : { oneHot: s.oneHot }),
  });
  return createReferenceBackend(model, batch);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The largest difference between the backend's gradients and the oracle's. */
function gradientGap(read: GradientReadout, loss: number, oracle: ReferenceGradients): number {
  let gap = Math.abs(loss - oracle.loss);
  expect(Object.keys(read.parameters).sort()).toEqual(Object.keys(oracle.parameters).sort());
  for (const [name, g] of Object.entries(oracle.parameters))
    gap = Math.max(gap, maxAbsDiff(read.parameters[name]!, g));
  gap = Math.max(gap, maxAbsDiff(read.inputs!, oracle.inputs));
  gap = Math.max(gap, maxAbsDiff(read.initialState!, oracle.initialState));
  return gap;
}

async function runAndCompare(backend: ReferenceBackend, policy: Policy): Promise<void> {
  const tracker = trackHandles(backend);
  const result = await runPolicy(tracker.backend, policy);
  const oracle = standardBptt(backend.model, backend.batch);
  const read = await backend.readGradients();
  expect(gradientGap(read, result.loss, oracle)).toBe(0);
  expect(result.forwards).toBe(policy.totals.forwards);
  expect(result.backwards).toBe(policy.steps);
  if (policy.totals.peakBytes !== undefined) expect(result.peakBytes).toBe(policy.totals.peakBytes);
  expect(result.peakBytes).toBeLessThanOrEqual(result.budgetBytes);
  expect(tracker.live).toBe(0);
  expect(tracker.violations).toEqual([]);
  expect(backend.liveHandles()).toBe(0);
  expect(result.handles.acquired).toBe(result.handles.released);
}

describe('runPolicy against standard BPTT', () => {
  for (const cell of CELLS) {
    for (const head of [
      { kind: 'softmax', classes: 4 },
      { kind: 'mse', outputs: 2 },
    ] as const) {
      for (const lossSteps of ['all', 'last'] as const) {
        it(`${cell}, ${head.kind} loss at ${lossSteps} steps: store-all and recompute-all give identical gradients`, async () => {
          for (const steps of [1, 2, 5]) {
            const backend = setup({ cell, steps, head, lossSteps, oneHot: head.kind === 'softmax' });
            const sb = backend.stateBytes();
            await runAndCompare(backend, storeAll(steps, { stateBytes: sb }));
            await runAndCompare(backend, recomputeAll(steps, { stateBytes: sb }));
            await runAndCompare(backend, recomputeAll(steps));
            await runAndCompare(backend, hiddenAll(steps, { stateBytes: sb }));
          }
        });
      }
    }
  }

  it('random valid policies (every instruction form) give identical gradients, counts and peaks', async () => {
    for (let seed = 1; seed <= 60; seed++) {
      const cell = CELLS[seed % 3]!;
      const steps = 1 + (seed % 9);
      const backend = setup({ cell, steps, seed });
      const policy = randomPolicy(steps, seed * 7919, { stateBytes: backend.stateBytes() });
      await runAndCompare(backend, policy);
    }
  });

  it('random valid policies without stateBytes are held to slots * hidden bytes', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const backend = setup({ cell: 'gru', steps: 6, seed });
      const policy = randomPolicy(6, seed, { alpha: backend.alpha });
      const result = await runPolicy(backend, policy);
      expect(result.budgetBytes).toBeCloseTo(policy.budget.slots * backend.stateBytes().hidden, 6);
      expect(result.peakBytes / backend.stateBytes().hidden).toBeCloseTo(policy.totals.peakSlots, 9);
      expect(backend.liveHandles()).toBe(0);
    }
  });
});

describe('runPolicy against standard BPTT, with @rewind/solver plans', () => {
  for (const cell of CELLS) {
    it(`${cell}: every strategy, budgets in bytes and in slots`, async () => {
      for (const steps of [4, 9, 16]) {
        const backend = setup({ cell, steps, seed: steps });
        const sb = backend.stateBytes();
        for (const strategy of STRATEGIES) {
          for (const fraction of [0.15, 0.4, 1]) {
            const slots = 1 + Math.ceil(fraction * steps * backend.alpha);
            const request = { steps, strategy, costModel: { alpha: backend.alpha } } as const;
            for (const memory of [{ bytes: slots * sb.hidden, stateBytes: sb }, { slots }]) {
              let policy: Policy;
              try {
                policy = plan({ ...request, memory });
              } catch (error) {
                expect((error as { code?: string }).code).toBe('E_BUDGET_TOO_SMALL');
                continue;
              }
              await runAndCompare(backend, policy);
            }
          }
        }
      }
    });
  }
});

describe('runPolicy: memory ledger', () => {
  it('reports the peak bytes of held checkpoints, the initial state included', async () => {
    const backend = setup({ cell: 'lstm', steps: 4 });
    const { hidden, internal } = backend.stateBytes();
    const result = await runPolicy(backend, storeAll(4, { stateBytes: backend.stateBytes() }));
    expect(result.peakBytes).toBe(hidden + 4 * internal);
    expect(result.peakHidden).toBe(1);
    expect(result.peakInternal).toBe(4);
    const result2 = await runPolicy(backend, recomputeAll(4, { stateBytes: backend.stateBytes() }));
    expect(result2.peakBytes).toBe(hidden);
    expect(result2.recomputes).toBe(0);
    expect(result2.forwards).toBe(4 + 3 + 2 + 1);
    const result3 = await runPolicy(backend, hiddenAll(4, { stateBytes: backend.stateBytes() }));
    expect(result3.peakBytes).toBe(4 * hidden);
    expect(result3.recomputes).toBe(4);
    expect(result3.forwards).toBe(3 + 4);
  });

  it('refuses before any work a policy whose checkpoints would outgrow the budget on this backend', async () => {
    // Planned with alpha = 1 but no stateBytes: the LSTM's internal states are 4.5 times larger.
    const backend = setup({ cell: 'lstm', steps: 5 });
    const { hidden, internal } = backend.stateBytes();
    expect(internal / hidden).toBe(4.5);
    const tracker = trackHandles(backend);
    const policy = storeAll(5, { alpha: 1 });
    expect(policy.budget).toEqual({ slots: 6 });
    const error = await runPolicy(tracker.backend, policy).catch((e: unknown) => e);
    expect(isExecutorError(error, 'E_BUDGET_EXCEEDED')).toBe(true);
    const { calls } = tracker;
    expect(calls.forward + calls.backward + calls.initialState + calls.zeroGradients + calls.loss).toBe(0);
    expect(tracker.live).toBe(0);
    // The peak is 1 hidden + 5 internal states, in the backend's bytes, against 6 slots of `hidden` bytes.
    const peak = hidden + 5 * internal;
    expect((error as Error).message).toBe(
      `E_BUDGET_EXCEEDED: the policy was planned with alpha 1 and no stateBytes; backend ${backend.name} has alpha 4.5 ` +
        `(stateBytes ${hidden}:${internal}), so its checkpoints would peak at ${peak} bytes (1 hidden of ${hidden} ` +
        `bytes and 5 internal of ${internal} bytes), over the budget of 6 slots x ${hidden} bytes = ${6 * hidden} ` +
        `bytes. Plan it for this backend: with its stateBytes { hidden: ${hidden}, internal: ${internal} } (the ` +
        `CLI's --state-bytes ${hidden}:${internal}) or with alpha 4.5 (--alpha 4.5)`,
    );
    expect(() => checkRunnable(backend, policy)).toThrow(/E_BUDGET_EXCEEDED/);
    // The same schedule planned with the backend's alpha, or its stateBytes, runs and peaks where it said.
    for (const fitted of [storeAll(5, { alpha: 4.5 }), storeAll(5, { stateBytes: { hidden, internal } })]) {
      const result = await runPolicy(backend, fitted);
      expect(result.peakBytes).toBe(peak);
      expect(result.peakBytes).toBeLessThanOrEqual(result.budgetBytes);
    }
  });

  it('refuses exactly the policies whose ledger would overrun on this backend, and runs the others', async () => {
    // Schedules mixing both kinds on a GRU (alpha 6): planned with alpha 1, 3 and the true 6.
    const backend = setup({ cell: 'gru', steps: 6 });
    const { hidden, internal } = backend.stateBytes();
    const schedules: Array<readonly Instruction[]> = [
      [
        { op: 'forward', from: 0, to: 3, store: 'hidden' },
        { op: 'forward', from: 3, to: 6, store: 'internal', stride: 1 },
        { op: 'backward', from: 6, to: 4 },
        { op: 'forward', from: 0, to: 3, store: 'internal', stride: 1 },
        { op: 'backward', from: 3, to: 1 },
      ],
      [
        { op: 'forward', from: 0, to: 2, store: 'internal', stride: 1 },
        { op: 'forward', from: 2, to: 5, store: 'hidden', stride: 1 },
        { op: 'backward', from: 6, to: 1 },
      ],
    ];
    let ran = 0;
    let refused = 0;
    for (const instructions of schedules) {
      const fitted = makePolicy(6, instructions, { stateBytes: { hidden, internal } });
      const peak = fitted.totals.peakBytes ?? 0;
      expect(internal / hidden).toBe(6);
      for (const alpha of [1, 3, 6]) {
        // Slots budget exactly at the peak as measured with this alpha; no stateBytes.
        const policy = makePolicy(6, instructions, { alpha });
        const budgetBytes = policy.budget.slots * hidden;
        const tracker = trackHandles(backend);
        const outcome = await runPolicy(tracker.backend, policy).then(
          (r) => r.peakBytes,
          (e: unknown) => e,
        );
        if (peak <= budgetBytes * (1 + 1e-9)) {
          expect(outcome).toBe(peak);
          ran++;
        } else {
          refused++;
          expect(isExecutorError(outcome, 'E_BUDGET_EXCEEDED')).toBe(true);
          expect(tracker.calls.forward).toBe(0);
        }
      }
      // In bytes (which need stateBytes, hence the backend's): exactly the peak runs.
      expect((await runPolicy(backend, fitted)).peakBytes).toBe(peak);
    }
    expect(ran).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
});

describe('runPolicy: refusals before any work', () => {
  const refuse = async (policy: Policy, backend: CellBackendV1, code: string) => {
    const tracker = trackHandles(backend);
    const error = await runPolicy(tracker.backend, policy).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorError);
    expect((error as ExecutorError).code).toBe(code);
    const { calls } = tracker;
    expect(calls.forward + calls.backward + calls.initialState + calls.zeroGradients + calls.loss).toBe(0);
    return error as ExecutorError;
  };

  it('refuses a policy for another sequence length', async () => {
    const backend = setup({ steps: 4 });
    await refuse(storeAll(5, { stateBytes: backend.stateBytes() }), backend, 'E_STEPS_MISMATCH');
    await refuse(storeAll(3), backend, 'E_STEPS_MISMATCH');
  });

  it('refuses a policy planned for other state sizes', async () => {
    const backend = setup({ steps: 4 });
    const { hidden, internal } = backend.stateBytes();
    await refuse(
      storeAll(4, { stateBytes: { hidden, internal: internal + 8 } }),
      backend,
      'E_STATE_BYTES_MISMATCH',
    );
    await refuse(
      storeAll(4, { stateBytes: { hidden: hidden * 2, internal } }),
      backend,
      'E_STATE_BYTES_MISMATCH',
    );
  });

  it('refuses a policy that fails verify, with the issue attached', async () => {
    const backend = setup({ steps: 4 });
    const good = storeAll(4, { stateBytes: backend.stateBytes() });
    const wrongTotals = { ...good, totals: { ...good.totals, forwards: good.totals.forwards + 1 } };
    const e1 = await refuse(wrongTotals, backend, 'E_POLICY_INVALID');
    expect(e1.issues[0]?.code).toBe('E_VERIFY_TOTALS');
    const incomplete = { ...good, instructions: good.instructions.slice(0, 1) };
    const e2 = await refuse(incomplete, backend, 'E_POLICY_INVALID');
    expect(e2.issues[0]?.code).toBe('E_VERIFY_INCOMPLETE');
    const outOfOrder: Policy = {
      ...good,
      instructions: [
        { op: 'forward', from: 0, to: 4, store: 'internal', stride: 1 },
        { op: 'backward', from: 3, to: 1 },
      ],
    };
    expect((await refuse(outOfOrder, backend, 'E_POLICY_INVALID')).issues[0]?.code).toBe('E_VERIFY_ORDER');
    const overBudget = { ...good, budget: { slots: good.budget.slots, bytes: (good.budget.bytes ?? 0) - 1 } };
    expect((await refuse(overBudget, backend, 'E_POLICY_INVALID')).issues[0]?.code).toBe('E_VERIFY_BUDGET');
  });

  it('refuses a malformed policy', async () => {
    const backend = setup({ steps: 2 });
    const good = storeAll(2);
    const bad = { ...good, instructions: [{ op: 'jump', from: 0, to: 2 }] } as unknown as Policy;
    await refuse(bad, backend, 'E_POLICY_INVALID');
    await refuse({ ...good, format: 'other' } as unknown as Policy, backend, 'E_POLICY_INVALID');
  });

  it('refuses a backend of another interface version, or one with bad state sizes', async () => {
    const backend = setup({ steps: 2 });
    const v3 = { ...backend, specificationVersion: 'rewind-backend-v3' } as unknown as CellBackendV1;
    await refuse(storeAll(2), v3, 'E_BACKEND_VERSION');
    // A version 2 backend without ranges (a version 1 backend mislabelled) is refused before any work.
    const v2 = { ...backend, specificationVersion: 'rewind-backend-v2' } as unknown as CellBackendV1;
    await refuse(storeAll(2), v2, 'E_BACKEND_CONTRACT');
    const zero = { ...backend, stateBytes: () => ({ hidden: 0, internal: 8 }) };
    await refuse(storeAll(2), zero, 'E_BACKEND_CONTRACT');
    const fractional = { ...backend, steps: 2.5 };
    await refuse(storeAll(2), fractional, 'E_BACKEND_CONTRACT');
  });
});

describe('runPolicy: progress, timings, abort', () => {
  it('reports every range, in order, with the step computations done up to the verified total', async () => {
    const backend = setup({ steps: 6 });
    for (const seed of [3, 4, 5, 6]) {
      const policy = randomPolicy(6, seed, { stateBytes: backend.stateBytes() });
      const events: ProgressEvent[] = [];
      const result = await runPolicy(backend, policy, { onProgress: (e) => events.push(e) });
      const ranges = policy.instructions.filter((i) => i.op !== 'free');
      expect(events.length).toBe(ranges.length);
      let forwards = 0;
      let backwards = 0;
      events.forEach((e, i) => {
        const ins = ranges[i]!;
        expect([e.kind, e.from, e.step]).toEqual([ins.op, ins.from, ins.to]);
        if (ins.op === 'forward') {
          expect(e.forwards - forwards).toBe(ins.to - ins.from);
          expect(e.backwards).toBe(backwards);
        } else {
          expect(e.backwards - backwards).toBe(ins.from - ins.to + 1);
        }
        forwards = e.forwards;
        backwards = e.backwards;
        expect(e.done).toBe(e.forwards + e.backwards);
        expect(e.recomputes).toBeLessThanOrEqual(e.forwards);
        expect(e.total).toBe(policy.totals.forwards + 6);
        expect(e.steps).toBe(6);
      });
      expect(events.filter((e) => e.kind === 'backward').at(-1)?.step).toBe(1);
      expect(events.at(-1)?.recomputes).toBe(result.recomputes);
      expect(events.at(-1)?.done).toBe(events.at(-1)?.total);
    }
  });

  it('times every kind of operation; the kinds add up to the total; recomputations count as backward', async () => {
    const backend = setup({ steps: 8 });
    const result = await runPolicy(backend, hiddenAll(8, { stateBytes: backend.stateBytes() }));
    const { forward, recompute, backward, store, other, total } = result.timings;
    for (const v of [forward, recompute, backward, store, other]) expect(v).toBeGreaterThanOrEqual(0);
    expect(forward + recompute + backward + store + other).toBeCloseTo(total, 6);
    expect(result.recomputes).toBeGreaterThan(0);
    expect(recompute).toBe(0);
    expect(backward).toBeGreaterThan(0);
  });

  it('an abort at any point stops between operations and disposes every handle', async () => {
    const backend = setup({ cell: 'gru', steps: 7 });
    const policy = randomPolicy(7, 11, { stateBytes: backend.stateBytes() });
    const total = policy.instructions.filter((i) => i.op !== 'free').length;
    expect(total).toBeGreaterThan(3);
    for (let k = 1; k < total; k++) {
      const tracker = trackHandles(backend);
      const controller = new AbortController();
      let seen = 0;
      const error = await runPolicy(tracker.backend, policy, {
        signal: controller.signal,
        onProgress: () => {
          if (++seen === k) controller.abort(new Error(`stop at ${k}`));
        },
      }).catch((e: unknown) => e);
      expect(isExecutorError(error, 'E_ABORTED')).toBe(true);
      expect(((error as ExecutorError).cause as Error).message).toBe(`stop at ${k}`);
      expect(seen).toBe(k);
      expect(tracker.live).toBe(0);
      expect(tracker.violations).toEqual([]);
      expect(backend.liveHandles()).toBe(0);
    }
  });

  it('an already aborted signal stops the run before any work', async () => {
    const backend = setup({ steps: 3 });
    const tracker = trackHandles(backend);
    const controller = new AbortController();
    controller.abort();
    await expect(
      runPolicy(tracker.backend, storeAll(3, { stateBytes: backend.stateBytes() }), {
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
    expect(tracker.calls.forward + tracker.calls.initialState + tracker.calls.zeroGradients).toBe(0);
  });

  it('an exception from onProgress or the backend passes through after disposing everything', async () => {
    const backend = setup({ steps: 5 });
    const policy = randomPolicy(5, 5, { stateBytes: backend.stateBytes() });
    const boom = new Error('boom');
    await expect(
      runPolicy(backend, policy, {
        onProgress: (e) => {
          if (e.kind === 'backward') throw boom;
        },
      }),
    ).rejects.toBe(boom);
    expect(backend.liveHandles()).toBe(0);
    const failing: CellBackendV1 = {
      ...backend,
      backward: (s, dh, t) => {
        if (t === 3) throw boom;
        return backend.backward(s as never, dh as never, t);
      },
    };
    await expect(runPolicy(failing, policy)).rejects.toBe(boom);
    expect(backend.liveHandles()).toBe(0);
  });
});

describe('runPolicy: backend variants', () => {
  it('runs an asynchronous backend with the same results', async () => {
    const backend = setup({ cell: 'lstm', steps: 6 });
    const policy = randomPolicy(6, 21, { stateBytes: backend.stateBytes() });
    const later = async <T>(f: () => MaybePromise<T>): Promise<T> => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      return f();
    };
    const asyncBackend: CellBackendV1 = {
      ...backend,
      initialState: () => later(() => backend.initialState()),
      forward: (h, t, keep) => later(() => backend.forward(h as never, t, keep)),
      backward: (s, dh, t) => later(() => backend.backward(s as never, dh as never, t)),
      zeroGradients: () => later(() => backend.zeroGradients()),
      loss: () => later(() => backend.loss()),
      readGradients: () => later(() => backend.readGradients()),
    };
    const result = await runPolicy(asyncBackend, policy);
    const oracle = standardBptt(backend.model, backend.batch);
    expect(gradientGap(await asyncBackend.readGradients(), result.loss, oracle)).toBeLessThanOrEqual(1e-12);
    expect(backend.liveHandles()).toBe(0);
  });

  it('hands the initial-state gradient to the caller on request', async () => {
    const backend = setup({ cell: 'lstm', steps: 3 });
    const result = await runPolicy(backend, storeAll(3, { alpha: backend.alpha }), {
      keepInitialGradient: true,
    });
    expect(result.initialGradient?.kind).toBe('gradient');
    expect(result.handles.acquired).toBe(result.handles.released + 1);
    const oracle = standardBptt(backend.model, backend.batch);
    const g = result.initialGradient!.state;
    expect(maxAbsDiff([...g.h, ...g.c!], oracle.initialState)).toBe(0);
    expect(backend.liveHandles()).toBe(1);
    backend.dispose(result.initialGradient!);
    expect(backend.liveHandles()).toBe(0);
  });

  it('accumulates over passes with zeroGradients: false', async () => {
    const backend = setup({ cell: 'rnn', steps: 4 });
    const first = await runPolicy(backend, storeAll(4, { stateBytes: backend.stateBytes() }));
    const once = await backend.readGradients();
    const second = await runPolicy(backend, recomputeAll(4), { zeroGradients: false });
    const twice = await backend.readGradients();
    expect(second.loss).toBeCloseTo(2 * first.loss, 12);
    for (const [name, g] of Object.entries(once.parameters)) {
      expect(
        maxAbsDiff(
          twice.parameters[name]!,
          Array.from(g, (v) => 2 * v),
        ),
      ).toBeLessThan(1e-12);
    }
  });

  it('refuses a backend that returns no internal state when asked, without leaking', async () => {
    const backend = setup({ steps: 3 });
    const forgetful: CellBackendV1 = {
      ...backend,
      forward: (h, t, keep) => {
        const out = backend.forward(h as never, t, keep) as {
          h: ReferenceHidden;
          internal?: ReferenceInternal;
        };
        if (out.internal !== undefined) backend.dispose(out.internal);
        return { h: out.h };
      },
    };
    await expect(
      runPolicy(forgetful, storeAll(3, { stateBytes: backend.stateBytes() })),
    ).rejects.toMatchObject({ code: 'E_BACKEND_CONTRACT' });
    expect(backend.liveHandles()).toBe(0);
  });

  it('uses the working state of a forward that ends where the next backward starts', async () => {
    const backend = setup({ cell: 'gru', steps: 3 });
    const tracker = trackHandles(backend);
    const policy = makePolicy(3, [
      { op: 'forward', from: 0, to: 2, store: 'hidden', stride: 1 },
      { op: 'forward', from: 2, to: 3 },
      { op: 'backward', from: 3, to: 1 },
    ]);
    const result = await runPolicy(tracker.backend, policy);
    // Step 3 from the working state, steps 2 and 1 recomputed from hidden checkpoints 1 and 0.
    expect(result.forwards).toBe(5);
    expect(result.recomputes).toBe(2);
    expect(tracker.live).toBe(0);
  });
});
