import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { EXIT } from './args.js';
import { memoryIo, run } from './cli.test-util.js';
import { main } from './main.js';
import type { ModelSpec, Runner, StepOutcome } from './runners.js';
import { checkText, DivergedError, predictedTimeRatio, recomputedSteps, train, trainLoop } from './train.js';

/** A runner that returns the given losses, one per step, and aborts `controller` after `stopAfter` steps. */
function fakeRunner(
  losses: number[],
  hooks: { afterStep?: (n: number) => void } = {},
): Runner & { steps: number } {
  const r = {
    description: 'fake',
    stateBytes: { hidden: 100, internal: 450 },
    vocabulary: 5,
    steps: 0,
    async step(): Promise<StepOutcome> {
      const loss = losses[r.steps] ?? 1;
      r.steps++;
      hooks.afterStep?.(r.steps);
      return {
        loss,
        seconds: 0.01,
        bindSeconds: 0,
        tokensPerSecond: 1000,
        peakBytes: 500,
        forwards: 15,
        recomputes: 2,
        backwards: 10,
        cellMs: 5,
        overheadMs: 5,
        minorPageFaults: 0,
      };
    },
    async dispose() {},
  };
  return r;
}

const SPEC: ModelSpec = {
  backend: 'tfjs-cpu',
  cell: 'lstm',
  hidden: 4,
  batch: 2,
  steps: 10,
  seed: 1,
  learningRate: 0.5,
  clipNorm: 5,
};

function quietIo(signal?: AbortSignal) {
  return memoryIo(new Uint8Array(), new Map(), [], { text: '' }, signal);
}

describe('the training loop', () => {
  const policy = plan({ steps: 10, memory: { slots: 4 }, strategy: 'msm' });

  it('stops at the first loss that is not a finite number, naming the iteration', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const runner = fakeRunner([3, 2.5, bad, 1]);
      const e = await trainLoop(quietIo(), runner, policy, 10, 'train', 0.5).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DivergedError);
      expect((e as DivergedError).iteration).toBe(3);
      expect((e as DivergedError).code).toBe('E_DIVERGED');
      expect((e as DivergedError).exit).toBe(EXIT.failure);
      expect((e as Error).message).toContain('at iteration 3');
      expect(runner.steps).toBe(3);
    }
  });

  it('stops after the iteration in progress when interrupted, returning what finished', async () => {
    const controller = new AbortController();
    const runner = fakeRunner([3, 2.9, 2.8, 2.7], { afterStep: (n) => n === 2 && controller.abort() });
    const r = await trainLoop(quietIo(controller.signal), runner, policy, 10, 'train', 0.5);
    expect(r.interrupted).toBe(true);
    expect(r.steps.map((s) => s.loss)).toEqual([3, 2.9]);
    expect(runner.steps).toBe(2);
  });

  it('summarizes and returns the file of the iterations that finished when interrupted', async () => {
    const controller = new AbortController();
    const runner = fakeRunner([3, 2.9, 2.8], { afterStep: (n) => n === 2 && controller.abort() });
    const r = await train(
      quietIo(controller.signal),
      SPEC,
      { kind: 'percent', percent: 50 },
      'msm',
      10,
      'abcdefghijklmnop',
      async () => runner,
    );
    expect(r.summary).toMatchObject({ iterations: 2, interrupted: true, initialLoss: 3, loss: 2.9 });
    if (r.summary !== undefined) {
      expect(r.file.history).toEqual([
        { iteration: 1, loss: 3 },
        { iteration: 2, loss: 2.9 },
      ]);
      // Recomputed means forward steps beyond the first pass, as in the explorer.
      expect(r.summary.recomputedSteps).toBe(5);
      expect(r.summary.budgetBytes).toBe(Math.floor(0.5 * (100 + 10 * 450)));
      // The whole process's peak memory, in bytes, beside the checkpoints'.
      expect(r.summary.peakRssBytes).toBeGreaterThan(process.memoryUsage().heapUsed);
    }
  });

  it('says so and writes nothing when interrupted before the first iteration', async () => {
    const controller = new AbortController();
    controller.abort();
    const files = new Map<string, Uint8Array>();
    const r = await run(
      ['train', '--steps', '20', '--batch', '2', '--hidden', '4', '--json-out', 't.json'],
      undefined,
      files,
      controller.signal,
    );
    expect(r.code).toBe(EXIT.interrupted);
    expect(r.stderr).toContain('interrupted before the first iteration finished; nothing was written');
    expect(files.has('t.json')).toBe(false);
  });
});

describe('an interrupted bench', () => {
  it('keeps and writes the rounds every strategy completed, and exits 130', async () => {
    const controller = new AbortController();
    const files = new Map<string, Uint8Array>();
    const out: Uint8Array[] = [];
    const err = { text: '' };
    const io = memoryIo(new Uint8Array(), files, out, err, controller.signal);
    // The progress bar reads the clock once per timed run: stop after the first round of two strategies.
    let reads = 0;
    const timed = {
      ...io,
      now: () => {
        reads++;
        if (reads === 3) controller.abort();
        return performance.now();
      },
    };
    const args = [
      'bench',
      '--steps',
      '20',
      '--batch',
      '2',
      '--hidden',
      '4',
      '--strategies',
      'msm',
      '--budgets',
      '50',
    ];
    const code = await main([...args, '--rounds', '5', '--out', 'b.json'], timed);
    expect(code).toBe(EXIT.interrupted);
    expect(err.text).toContain('rewind bench: interrupted; kept 1 of 1 backend and length cases');
    const file = JSON.parse(new TextDecoder().decode(files.get('b.json'))) as {
      runs: { strategy: string; measured: { rounds: number } }[];
    };
    expect(file.runs.map((r) => [r.strategy, r.measured.rounds])).toEqual([
      ['store-all', 1],
      ['msm', 1],
    ]);
  });
});

describe('training helpers', () => {
  it('refuses a one-character vocabulary and a text shorter than one sequence', () => {
    expect(() => checkText('aaaa', 2, 'x')).toThrow(
      /1 distinct character; a character-level model needs at least 2/,
    );
    expect(() => checkText('', 2, 'x')).toThrow(/0 distinct characters/);
    expect(() => checkText('abab', 4, 'x')).toThrow(/4 characters, fewer than --steps \+ 1 = 5/);
    expect(() => checkText('ababa', 4, 'x')).not.toThrow();
  });

  it("predicts the time ratio with the policy's own cost model", () => {
    const p = plan({ steps: 100, memory: { slots: 10 }, strategy: 'msm', costModel: { backwardCost: 3 } });
    expect(predictedTimeRatio(p)).toBeCloseTo((p.totals.forwards + 300) / 400, 12);
    const q = plan({ steps: 100, memory: { slots: 10 }, strategy: 'msm' });
    expect(predictedTimeRatio(q)).toBeCloseTo((q.totals.forwards + 200) / 300, 12);
    expect(recomputedSteps(q.totals.forwards, 100)).toBe(q.totals.forwards - 100);
  });
});
