import type { Policy } from '@rewind/policy';
import { plan, STRATEGIES } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { adaptV1 } from './adapt-v1.js';
import type { CellBackendV1 } from './backend.js';
import type { BackwardSource, CellBackendV2, ForwardRangeRequest } from './backend-v2.js';
import { isExecutorError } from './errors.js';
import type { CellKind } from './model.js';
import { makePolicy, randomPolicy, storeAll } from './policies.test-util.js';
import {
  createReferenceBackend,
  createReferenceBackendV2,
  createReferenceModel,
  type ReferenceBackend,
  type ReferenceBackendV2,
  type ReferenceGradient,
  type ReferenceHidden,
  type ReferenceInternal,
  randomBatch,
  standardBptt,
} from './reference/index.js';
import { type RunResult, rangeCalls, runPolicy } from './run-policy.js';
import { trackHandles, trackHandlesV2 } from './testing/index.js';

type H = ReferenceHidden;
type S = ReferenceInternal;
type G = ReferenceGradient;

function pair(cell: CellKind, steps: number, seed = 5): { v1: ReferenceBackend; v2: ReferenceBackendV2 } {
  const make = () => {
    const model = createReferenceModel({
      cell,
      inputSize: 3,
      hiddenSize: 3,
      head: { kind: 'softmax', classes: 3 },
      seed,
    });
    return {
      model,
      batch: randomBatch(model, { steps, batchSize: 2, seed: seed + 1, randomInitialState: true }),
    };
  };
  const a = make();
  const b = make();
  return { v1: createReferenceBackend(a.model, a.batch), v2: createReferenceBackendV2(b.model, b.batch) };
}

/** Every number of a run that must not depend on the interface version (timings and handle counts aside). */
/** `v1` with every step it is asked for logged in `seen` (`f3`, `f3s` when it keeps the internal state, `b3`). */
function recordingSteps(v1: CellBackendV1<H, S, G>, seen: string[]): CellBackendV1<H, S, G> {
  return {
    ...v1,
    forward: (h, t, keep) => {
      seen.push(`f${t}${keep ? 's' : ''}`);
      return v1.forward(h, t, keep);
    },
    backward: (s, dh, t) => {
      seen.push(`b${t}`);
      return v1.backward(s, dh, t);
    },
  };
}

function countsOf(r: RunResult): unknown {
  return [
    r.loss,
    r.forwards,
    r.recomputes,
    r.backwards,
    r.peakBytes,
    r.peakHidden,
    r.peakInternal,
    r.budgetBytes,
  ];
}

async function expectSameGradients(a: { readGradients(): unknown }, b: { readGradients(): unknown }) {
  // Bitwise: toEqual on Float64Arrays compares every element with Object.is semantics for numbers.
  expect(await b.readGradients()).toEqual(await a.readGradients());
}

describe('version 2: the native reference backend against version 1 through the adapter', () => {
  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    it(`${cell}: every solver strategy gives bitwise the same loss, gradients, counts and peaks`, async () => {
      for (const steps of [1, 5, 13]) {
        const { v1, v2 } = pair(cell, steps, steps);
        const sb = v1.stateBytes();
        expect(v2.stateBytes()).toEqual(sb);
        const oracle = standardBptt(v1.model, v1.batch);
        for (const strategy of STRATEGIES) {
          for (const fraction of [0.2, 0.5, 1]) {
            const slots = 1 + Math.ceil(fraction * steps * v1.alpha);
            let policy: Policy;
            try {
              policy = plan({
                steps,
                strategy,
                costModel: { alpha: v1.alpha },
                memory: { bytes: slots * sb.hidden, stateBytes: sb },
              });
            } catch (error) {
              expect((error as { code?: string }).code).toBe('E_BUDGET_TOO_SMALL');
              continue;
            }
            const t1 = trackHandles(v1);
            const t2 = trackHandlesV2(v2);
            const before = { ...v2.calls };
            const r1 = await runPolicy(t1.backend, policy);
            const r2 = await runPolicy(t2.backend, policy);
            expect(countsOf(r2)).toEqual(countsOf(r1));
            expect(r1.loss).toBe(oracle.loss);
            await expectSameGradients(v1, v2);
            expect([t1.live, t2.live, v1.liveHandles(), v2.liveHandles()]).toEqual([0, 0, 0, 0]);
            expect([...t1.violations, ...t2.violations]).toEqual([]);
            // The ranges of the instructions; the steps computed inside them are the verified ones.
            const calls = rangeCalls(policy);
            expect(t2.calls.forwardRange).toBe(calls.forward);
            expect(t2.calls.backwardRange).toBe(calls.backward);
            expect(v2.calls.forward - before.forward).toBe(policy.totals.forwards);
            expect(v2.calls.backward - before.backward).toBe(steps);
            expect(r2.forwards).toBe(policy.totals.forwards);
          }
        }
      }
    });
  }

  it('random policies of every instruction form (free included) agree bitwise', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const steps = 1 + (seed % 9);
      const { v1, v2 } = pair('gru', steps, seed);
      const policy = randomPolicy(steps, seed, { stateBytes: v1.stateBytes() });
      const r1 = await runPolicy(v1, policy);
      const r2 = await runPolicy(v2, policy);
      expect(countsOf(r2)).toEqual(countsOf(r1));
      await expectSameGradients(v1, v2);
      expect(r2.handles.acquired).toBe(r2.handles.released);
      expect([v1.liveHandles(), v2.liveHandles()]).toEqual([0, 0]);
    }
  });
});

/** A step of what a backend sees, in words. */
type Seen = string;

/**
 * Wrap a version 2 backend so that every call is logged with its arguments, handles named by what they
 * hold: `h<p>` a hidden state at p, `s<t>` an internal state of step t, `v<t>` the lent view of s<t>,
 * `g<t>` the gradient returned by the backward range that ended at step t.
 */
function recording(inner: CellBackendV2<H, S, G>): { backend: CellBackendV2<H, S, G>; log: Seen[] } {
  const names = new Map<unknown, string>();
  const log: Seen[] = [];
  const n = (handle: unknown): string => names.get(handle) ?? '?';
  const source = (s: BackwardSource<H, S>): string =>
    'internal' in s ? n(s.internal) : `recompute(${n(s.recomputeFrom)})`;
  const backend: CellBackendV2<H, S, G> = {
    ...inner,
    initialState() {
      const h = inner.initialState() as H;
      names.set(h, 'h0');
      log.push('initialState -> h0');
      return h;
    },
    forwardRange(request: ForwardRangeRequest<H>) {
      const out = inner.forwardRange(request) as { kept: (H | S)[]; working?: S };
      const stride = request.store?.stride ?? 0;
      out.kept.forEach((handle, i) => {
        const p = request.from + (i + 1) * stride;
        names.set(handle, `${request.store?.kind === 'internal' ? 's' : 'h'}${p}`);
      });
      if (out.working !== undefined) names.set(out.working, `s${request.to}`);
      const store = request.store === undefined ? 'none' : `${request.store.kind}/${request.store.stride}`;
      log.push(
        `forwardRange ${n(request.start)} ${request.from}..${request.to} store ${store} keepWorking ${request.keepWorking}` +
          ` -> [${out.kept.map(n).join(' ')}]${out.working === undefined ? '' : ` working ${n(out.working)}`}`,
      );
      return out;
    },
    hiddenOf(internal) {
      const h = inner.hiddenOf(internal);
      names.set(h, n(internal).replace('s', 'v'));
      return h;
    },
    backwardRange(request) {
      const g = inner.backwardRange(request) as G;
      names.set(g, `g${request.to}`);
      log.push(
        `backwardRange ${request.from}..${request.to} [${request.sources.map(source).join(' ')}] dh ${request.dh === null ? 'null' : n(request.dh)} -> ${n(g)}`,
      );
      return g;
    },
    dispose(handle) {
      log.push(`dispose ${n(handle)}`);
      inner.dispose(handle);
    },
  };
  return { backend, log };
}

/** Six steps with every source kind: checkpoints of both kinds, working state, recomputation from a view. */
const MIXED: Policy['instructions'] = [
  { op: 'forward', from: 0, to: 4, store: 'hidden', stride: 2 },
  { op: 'forward', from: 4, to: 6, store: 'internal', stride: 2 },
  { op: 'backward', from: 6, to: 5 },
  { op: 'forward', from: 2, to: 4 },
  { op: 'backward', from: 4, to: 3 },
  { op: 'forward', from: 0, to: 1, store: 'internal', stride: 1 },
  { op: 'backward', from: 2, to: 1 },
];

describe('what a version 2 backend sees', () => {
  it('one call per instruction, with its sources, then the disposals of what died', async () => {
    const { v1, v2 } = pair('lstm', 6);
    const policy = makePolicy(6, MIXED, { stateBytes: v2.stateBytes() });
    const { backend, log } = recording(v2);
    const result = await runPolicy(backend, policy);
    expect(log).toEqual([
      'initialState -> h0',
      'forwardRange h0 0..4 store hidden/2 keepWorking false -> [h2 h4]',
      // An internal checkpoint at `to` is the working state too: no separate handle.
      'forwardRange h4 4..6 store internal/2 keepWorking true -> [s6]',
      'backwardRange 6..5 [s6 recompute(h4)] dh null -> g5',
      // Rule 2.2.3 after the range: s6 (t = 6), then h4 (t = 5).
      'dispose s6',
      'dispose h4',
      'forwardRange h2 2..4 store none keepWorking true -> [] working s4',
      'backwardRange 4..3 [s4 recompute(h2)] dh g5 -> g3',
      'dispose g5',
      'dispose s4',
      'dispose h2',
      'forwardRange h0 0..1 store internal/1 keepWorking false -> [s1]',
      'backwardRange 2..1 [recompute(v1) s1] dh g3 -> g1',
      'dispose g3',
      'dispose h0',
      'dispose s1',
      'dispose g1',
    ]);
    expect([result.forwards, result.recomputes, result.backwards]).toEqual([12, 3, 6]);
    expect(v2.calls).toEqual({ forwardRange: 4, backwardRange: 3, forward: 12, backward: 6 });
    expect(v2.liveHandles()).toBe(0);
    // The same policy through the adapter: version 1 sees exactly the steps of the ranges above.
    const seen: string[] = [];
    const spy = recordingSteps(v1, seen);
    const r1 = await runPolicy(spy, policy);
    expect(seen.join(' ')).toBe('f1 f2 f3 f4 f5 f6s b6 f5s b5 f3 f4s b4 f3s b3 f1s f2s b2 b1');
    expect(countsOf(r1)).toEqual(countsOf(result));
    await expectSameGradients(v1, v2);
  });

  it('a segment of internal states and the step that starts its backward run as one range, frees between', async () => {
    const { v1, v2 } = pair('lstm', 5);
    const policy = makePolicy(
      5,
      [
        { op: 'forward', from: 0, to: 2, store: 'hidden', stride: 2 },
        { op: 'forward', from: 2, to: 4, store: 'internal', stride: 1 },
        // A `free` between them applies after the range's checkpoints are held, as it would have.
        { op: 'free', kind: 'hidden', at: 2 },
        { op: 'forward', from: 4, to: 5 },
        { op: 'backward', from: 5, to: 3 },
        // Not the pattern: hidden states before the step.
        { op: 'forward', from: 0, to: 1, store: 'hidden', stride: 1 },
        { op: 'forward', from: 1, to: 2 },
        { op: 'backward', from: 2, to: 1 },
      ],
      { stateBytes: v2.stateBytes() },
    );
    expect(rangeCalls(policy)).toEqual({ forward: 4, backward: 2 });
    const events: string[] = [];
    const { backend, log } = recording(v2);
    const result = await runPolicy(backend, policy, {
      onProgress: (e) => events.push(`${e.kind} ${e.from}..${e.step}`),
    });
    expect(log).toEqual([
      'initialState -> h0',
      'forwardRange h0 0..2 store hidden/2 keepWorking false -> [h2]',
      // Instructions 2 and 3 as one range: s5 is the working state, not a checkpoint.
      'forwardRange h2 2..5 store internal/1 keepWorking true -> [s3 s4 s5]',
      'dispose h2',
      'backwardRange 5..3 [s5 s4 s3] dh null -> g3',
      'dispose s5',
      'dispose s4',
      'dispose s3',
      'forwardRange h0 0..1 store hidden/1 keepWorking false -> [h1]',
      'forwardRange h1 1..2 store none keepWorking true -> [] working s2',
      'backwardRange 2..1 [s2 recompute(h0)] dh g3 -> g1',
      'dispose g3',
      'dispose s2',
      'dispose h1',
      'dispose h0',
      'dispose g1',
    ]);
    expect(events).toEqual([
      'forward 0..2',
      'forward 2..5',
      'backward 5..3',
      'forward 0..1',
      'forward 1..2',
      'backward 2..1',
    ]);
    // The ledger holds the checkpoints only (the working state is not one): the peak is the verified one.
    expect(result.peakBytes).toBe(policy.totals.peakBytes);
    expect([result.forwards, result.recomputes, result.backwards]).toEqual([8, 1, 5]);
    await runPolicy(v1, policy);
    await expectSameGradients(v1, v2);
  });

  it('a backward range of one step, and a forward range with hidden checkpoints and a working state', async () => {
    const { v1, v2 } = pair('rnn', 3);
    const policy = makePolicy(
      3,
      [
        { op: 'forward', from: 0, to: 3, store: 'hidden', stride: 2 },
        { op: 'backward', from: 3, to: 3 },
        { op: 'forward', from: 0, to: 1, store: 'hidden', stride: 1 },
        { op: 'backward', from: 2, to: 2 },
        { op: 'backward', from: 1, to: 1 },
      ],
      { stateBytes: v2.stateBytes() },
    );
    const { backend, log } = recording(v2);
    const result = await runPolicy(backend, policy);
    expect(log).toEqual([
      'initialState -> h0',
      'forwardRange h0 0..3 store hidden/2 keepWorking true -> [h2] working s3',
      'backwardRange 3..3 [s3] dh null -> g3',
      'dispose s3',
      'dispose h2',
      'forwardRange h0 0..1 store hidden/1 keepWorking false -> [h1]',
      'backwardRange 2..2 [recompute(h1)] dh g3 -> g2',
      'dispose g3',
      'dispose h1',
      'backwardRange 1..1 [recompute(h0)] dh g2 -> g1',
      'dispose g2',
      'dispose h0',
      'dispose g1',
    ]);
    expect([result.forwards, result.recomputes]).toEqual([6, 2]);
    await runPolicy(v1, policy);
    await expectSameGradients(v1, v2);
  });
});

describe('version 2: contract checks', () => {
  it('the reference backend refuses a malformed range before any work', () => {
    const { v2 } = pair('gru', 4);
    const h0 = v2.initialState();
    const bad: ForwardRangeRequest<H>[] = [
      { start: h0, from: 1, to: 3, keepWorking: false },
      { start: h0, from: 0, to: 0, keepWorking: false },
      { start: h0, from: 0, to: 5, keepWorking: false },
      { start: h0, from: 0, to: 2, store: { kind: 'hidden', stride: 3 }, keepWorking: false },
      { start: h0, from: 0, to: 2, store: { kind: 'internal', stride: 0 }, keepWorking: false },
    ];
    for (const request of bad) {
      expect(() => v2.forwardRange(request)).toThrow(expect.objectContaining({ code: 'E_STEP' }));
    }
    expect(v2.calls.forward).toBe(0);
    const out = v2.forwardRange({
      start: h0,
      from: 0,
      to: 4,
      store: { kind: 'internal', stride: 2 },
      keepWorking: true,
    }) as {
      kept: S[];
      working?: S;
    };
    expect(out.kept.map((s) => s.step)).toEqual([2, 4]);
    expect(out.working).toBeUndefined();
    const [s2, s4] = out.kept as [S, S];
    const refused = [
      { from: 4, to: 3, sources: [{ internal: s4 }], dh: null },
      { from: 3, to: 3, sources: [{ internal: s2 }], dh: null },
      { from: 4, to: 4, sources: [{ recomputeFrom: h0 }], dh: null },
      { from: 4, to: 0, sources: [], dh: null },
    ];
    for (const request of refused) {
      expect(() => v2.backwardRange(request as never)).toThrow(expect.objectContaining({ code: 'E_STEP' }));
    }
    expect(v2.calls.backward).toBe(0);
    v2.dispose(s2);
    expect(() =>
      v2.backwardRange({ from: 4, to: 3, sources: [{ internal: s4 }, { internal: s2 }], dh: null }),
    ).toThrow(expect.objectContaining({ code: 'E_HANDLE' }));
    expect(v2.calls.backward).toBe(0);
    for (const handle of [s4, h0]) v2.dispose(handle);
    expect(v2.liveHandles()).toBe(0);
  });

  it('runPolicy refuses a v2 backend that returns the wrong checkpoints, without leaking', async () => {
    const { v2 } = pair('lstm', 4);
    const policy = storeAll(4, { stateBytes: v2.stateBytes() });
    const short: CellBackendV2<H, S, G> = {
      ...v2,
      forwardRange: (request) => {
        const out = v2.forwardRange(request) as { kept: (H | S)[]; working?: S };
        return { kept: out.kept.slice(1), ...(out.working === undefined ? {} : { working: out.working }) };
      },
    };
    const error = await runPolicy(short, policy).catch((e: unknown) => e);
    expect(isExecutorError(error, 'E_BACKEND_CONTRACT')).toBe(true);
    // The checkpoint left out of `kept` was never handed over: only it stays live.
    expect(v2.liveHandles()).toBe(1);
    const { v2: fresh } = pair('lstm', 4);
    const noWorking: CellBackendV2<H, S, G> = {
      ...fresh,
      forwardRange: (request) => {
        const out = fresh.forwardRange(request) as { kept: (H | S)[]; working?: S };
        if (out.working !== undefined) fresh.dispose(out.working);
        return { kept: out.kept };
      },
    };
    const withWorking = makePolicy(
      4,
      [
        { op: 'forward', from: 0, to: 3, store: 'hidden', stride: 1 },
        { op: 'forward', from: 3, to: 4 },
        { op: 'backward', from: 4, to: 1 },
      ],
      { stateBytes: fresh.stateBytes() },
    );
    const missing = await runPolicy(noWorking, withWorking).catch((e: unknown) => e);
    expect(isExecutorError(missing, 'E_BACKEND_CONTRACT')).toBe(true);
    expect(fresh.liveHandles()).toBe(0);
    // A version 2 label on a backend without ranges is refused before any work.
    const mislabelled = { ...pair('rnn', 4).v1, specificationVersion: 'rewind-backend-v2' };
    const refusal = await runPolicy(mislabelled as unknown as CellBackendV2, policy).catch((e: unknown) => e);
    expect(isExecutorError(refusal, 'E_BACKEND_CONTRACT')).toBe(true);
  });

  it('the adapter disposes what a failing range made, and runs every step in order', async () => {
    const { v1 } = pair('gru', 5);
    const boom = new Error('boom');
    const failing: CellBackendV1<H, S, G> = {
      ...v1,
      forward: (h, t, keep) => {
        if (t === 4) throw boom;
        return v1.forward(h, t, keep);
      },
    };
    const adapted = adaptV1(failing);
    expect(adapted.specificationVersion).toBe('rewind-backend-v2');
    expect(adapted.liveHandles?.()).toBe(0);
    const h0 = await adapted.initialState();
    await expect(
      adapted.forwardRange({
        start: h0,
        from: 0,
        to: 5,
        store: { kind: 'internal', stride: 1 },
        keepWorking: true,
      }),
    ).rejects.toBe(boom);
    expect(v1.liveHandles()).toBe(1);
    const out = await adapted.forwardRange({
      start: h0,
      from: 0,
      to: 3,
      store: { kind: 'hidden', stride: 2 },
      keepWorking: true,
    });
    expect(out.kept.length).toBe(1);
    expect(out.working?.step).toBe(3);
    expect(v1.liveHandles()).toBe(3);
    const g = await Promise.resolve(
      adapted.backwardRange({
        from: 5,
        to: 5,
        sources: [{ recomputeFrom: h0 }],
        dh: null,
      }),
    ).catch((e: unknown) => e);
    // Step 5 from h_0 is refused by the reference backend's book: nothing is left behind.
    expect(isExecutorError(g, 'E_STEP')).toBe(true);
    expect(v1.liveHandles()).toBe(3);
    for (const handle of [...out.kept, out.working as S, h0]) adapted.dispose(handle);
    expect(v1.liveHandles()).toBe(0);
  });
});

/** The version 1 steps a policy implies, derived from the format's rules alone: `f<t>` (`s` when s_t is kept), `b<t>`. */
function impliedSteps(policy: Policy): string {
  const out: string[] = [];
  const internal = new Set<number>();
  let working = -1;
  const list = policy.instructions;
  list.forEach((ins, i) => {
    if (ins.op === 'forward') {
      const stride = ins.store === undefined ? 0 : (ins.stride ?? ins.to - ins.from);
      const following = list[i + 1];
      const feeds = following?.op === 'backward' && following.from === ins.to;
      for (let t = ins.from + 1; t <= ins.to; t++) {
        const stored = stride > 0 && (t - ins.from) % stride === 0;
        if (stored && ins.store === 'internal') internal.add(t);
        out.push(`f${t}${(stored && ins.store === 'internal') || (t === ins.to && feeds) ? 's' : ''}`);
      }
      working = ins.to;
    } else if (ins.op === 'backward') {
      for (let t = ins.from; t >= ins.to; t--) {
        if (!internal.has(t) && !(t === ins.from && working === t)) out.push(`f${t}s`);
        out.push(`b${t}`);
        internal.delete(t);
      }
      working = -1;
    } else {
      if (ins.kind === 'internal') internal.delete(ins.at);
      working = -1;
    }
  });
  return out.join(' ');
}

describe('version 1 through the adapter', () => {
  it('sees exactly the steps the format implies, for random policies of every form', async () => {
    for (let seed = 1; seed <= 60; seed++) {
      const steps = 1 + (seed % 11);
      const { v1 } = pair(seed % 2 === 0 ? 'lstm' : 'rnn', steps, seed);
      const policy = randomPolicy(steps, seed * 7, { stateBytes: v1.stateBytes() });
      const seen: string[] = [];
      const spy = recordingSteps(v1, seen);
      const result = await runPolicy(spy, policy);
      expect(seen.join(' '), `seed ${seed}`).toBe(impliedSteps(policy));
      expect(seen.filter((c) => c.startsWith('f')).length).toBe(result.forwards);
      expect(v1.liveHandles()).toBe(0);
    }
  });
});
