import { describe, expect, it } from 'vitest';
import { type CpuProbe, foreignMs, parseProcStat, processCpu } from './cpu.js';
import { interleave, pairedRatio } from './interleave.js';

/** A fake machine: a clock, and CPU readings that the cases advance. */
function fakeMachine() {
  const state = { t: 0, machine: 0, own: 0 };
  const cpu: CpuProbe = { read: () => ({ machineMs: state.machine, ownMs: state.own }) };
  /** Work of `ms` milliseconds of our own CPU while other processes use `foreign` ms. */
  const work = (ms: number, foreign = 0) => {
    state.t += ms;
    state.own += ms;
    state.machine += ms + foreign;
  };
  return { state, cpu, now: () => state.t, work };
}

describe('/proc/stat', () => {
  it('reads the busy time of the aggregate cpu line in ms', () => {
    const text = 'cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1 2 3\n';
    expect(parseProcStat(text)).toBe((100 + 5 + 50 + 3 + 2 + 1) * 10);
    expect(parseProcStat('intr 1 2\n')).toBeUndefined();
    expect(parseProcStat('cpu a b c d\n')).toBeUndefined();
  });

  it('subtracts the process own CPU time, never going below zero', () => {
    expect(foreignMs({ machineMs: 1000, ownMs: 10 }, { machineMs: 1500, ownMs: 310 })).toBe(200);
    expect(foreignMs({ machineMs: 1000, ownMs: 10 }, { machineMs: 1010, ownMs: 40 })).toBe(0);
  });

  it('reads this machine where /proc/stat exists', () => {
    const r = processCpu.read();
    if (r !== undefined) {
      expect(r.machineMs).toBeGreaterThan(0);
      expect(r.ownMs).toBeGreaterThan(0);
    }
  });
});

describe('interleaved rounds', () => {
  it('runs every case once per round in a rotated order, after the warm-up rounds', async () => {
    const m = fakeMachine();
    const order: string[] = [];
    const cases = ['a', 'b', 'c'].map((name, i) => ({
      name,
      run: () => {
        order.push(name);
        m.work(10 * (i + 1));
        return name.toUpperCase();
      },
    }));
    const progress: number[] = [];
    const out = await interleave(cases, {
      rounds: 3,
      warmup: 1,
      now: m.now,
      cpu: m.cpu,
      onSample: (done, total) => progress.push(done / total),
    });
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']);
    expect(progress.at(-1)).toBe(1);
    expect(progress).toHaveLength(9);
    expect(out.map((r) => r.ms.median)).toEqual([10, 20, 30]);
    expect(out[0]!.samples.map((s) => s.round)).toEqual([0, 1, 2]);
    expect(out[1]!.samples[0]!.result).toBe('B');
    expect(out.every((r) => r.contaminated === 0 && r.cleanOnly)).toBe(true);
  });

  it('flags runs during which other processes took more than the threshold, and leaves them out', async () => {
    const m = fakeMachine();
    let k = 0;
    // Round 2's run is slow because another process took a whole core meanwhile.
    const slow = { name: 'x', run: () => (k++ === 2 ? m.work(30, 30) : m.work(10, 1)) };
    const out = await interleave([slow], { rounds: 5, warmup: 0, now: m.now, cpu: m.cpu });
    const r = out[0]!;
    expect(r.samples.map((s) => s.contaminated)).toEqual([false, false, true, false, false]);
    expect(r.samples[2]!.foreignMs).toBe(30);
    expect(r.contaminated).toBe(1);
    expect(r.cleanOnly).toBe(true);
    expect(r.ms).toMatchObject({ n: 4, median: 10, max: 10 });
  });

  it('keeps every run when too few are clean, and says so', async () => {
    const m = fakeMachine();
    const busy = { name: 'x', run: () => m.work(10, 10) };
    const [r] = await interleave([busy], { rounds: 5, warmup: 0, now: m.now, cpu: m.cpu });
    expect(r!.contaminated).toBe(5);
    expect(r!.cleanOnly).toBe(false);
    expect(r!.ms.n).toBe(5);
  });

  it('times without CPU readings where the machine offers none', async () => {
    const m = fakeMachine();
    const [r] = await interleave([{ name: 'x', run: () => m.work(4) }], {
      warmup: 0,
      now: m.now,
      cpu: { read: () => undefined },
    });
    expect(r!.samples).toHaveLength(5);
    expect(r!.samples[0]!.foreignMs).toBeUndefined();
    expect(r!.ms.median).toBe(4);
  });

  it('takes ratios round by round', async () => {
    const m = fakeMachine();
    let round = 0;
    const a = { name: 'a', run: () => m.work(20 + round) };
    const b = {
      name: 'b',
      run: () => {
        m.work(10);
        round++;
      },
    };
    const out = await interleave([a, b], { rounds: 4, warmup: 0, now: m.now, cpu: m.cpu });
    const ratio = pairedRatio(out[0]!, out[1]!);
    expect(ratio.n).toBe(4);
    expect(ratio.min).toBeGreaterThanOrEqual(2);
    expect(ratio.max).toBeLessThanOrEqual(2.4);
  });

  it('takes a duration the case measures itself', async () => {
    const m = fakeMachine();
    const run = () => {
      m.work(50);
      return 7;
    };
    const [r] = await interleave([{ name: 'x', run, ms: (own: number) => own }], {
      rounds: 3,
      warmup: 0,
      now: m.now,
      cpu: m.cpu,
    });
    expect(r!.ms.median).toBe(7);
    expect(r!.samples[0]!.result).toBe(7);
  });

  it('stops when asked, keeping only the rounds every case completed', async () => {
    const m = fakeMachine();
    let runs = 0;
    const cases = ['a', 'b'].map((name) => ({ name, run: () => m.work(10 + runs++) }));
    const out = await interleave(cases, {
      rounds: 5,
      warmup: 0,
      now: m.now,
      cpu: m.cpu,
      shouldStop: () => runs >= 5,
    });
    expect(out.map((r) => r.completedRounds)).toEqual([2, 2]);
    expect(out.map((r) => r.samples.length)).toEqual([2, 2]);
    await expect(
      interleave(cases, { rounds: 5, warmup: 0, now: m.now, cpu: m.cpu, shouldStop: () => true }),
    ).rejects.toThrow(/before the first round/);
  });

  it('refuses no cases and a bad round count', async () => {
    await expect(interleave([])).rejects.toThrow(/no cases/);
    await expect(interleave([{ name: 'x', run: () => 0 }], { rounds: 0 })).rejects.toThrow(/rounds 0/);
  });
});
