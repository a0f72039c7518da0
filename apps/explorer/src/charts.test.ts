import { verify } from '@rewind/policy';
import { frontier, plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { barsSvg, FRONTIER_Y_CAP, frontierSvg, memorySvg, timelineSvg } from './charts';
import { computeMain } from './compute';
import { timelineOf } from './timeline';

const count = (markup: string, needle: RegExp) => (markup.match(needle) ?? []).length;

/** The `data-from`/`data-to` pairs of the exact timeline's backward runs. */
function runs(markup: string): [number, number][] {
  return [...markup.matchAll(/class="bwd" data-from="(\d+)" data-to="(\d+)"/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
}

describe('timelineSvg', () => {
  it('draws a small policy exactly: one path per backward run, covering T..1', () => {
    const p = plan({ steps: 100, memory: { slots: 16 }, strategy: 'msm', costModel: { alpha: 2 } });
    const view = timelineSvg(timelineOf(p));
    expect(view.mode).toBe('exact');
    expect(view.markup.startsWith('<svg')).toBe(true);
    expect(view.markup).toContain('data-backward-steps="100"');
    const r = runs(view.markup);
    expect(r.reduce((n, [a, b]) => n + a - b + 1, 0)).toBe(100);
    expect(r[0]?.[0]).toBe(100);
    expect(r[r.length - 1]?.[1]).toBe(1);
    expect(count(view.markup, /class="fwd"/g)).toBe(1);
    expect(count(view.markup, /class="rec"/g)).toBe(1);
    expect(view.markup).toContain('class="ck-internal-marks"');
    expect(view.markup).toMatch(/aria-label="Timeline of the policy: \d+ forward steps/);
  });

  it('decimates a large policy to a bounded drawing', () => {
    const p = plan({ steps: 10_000, memory: { slots: 30 }, strategy: 'recompute-all' });
    const tl = timelineOf(p);
    expect(tl.duration).toBe(50_005_000 + 10_000);
    const view = timelineSvg(tl);
    expect(view.mode).toBe('decimated');
    expect(view.markup).toContain('data-backward-steps="10000"');
    expect(view.pieces).toBeLessThan(10_000);
    expect(view.markup.length).toBeLessThan(500_000);
    expect(runs(view.markup)).toEqual([]);
  });

  it('switches to decimation above the element limit', () => {
    const p = plan({ steps: 200, memory: { slots: 10 }, strategy: 'hsm' });
    const tl = timelineOf(p);
    expect(timelineSvg(tl, { exactLimit: 10 }).mode).toBe('decimated');
    expect(timelineSvg(tl, { exactLimit: 100_000 }).mode).toBe('exact');
  });
});

describe('memorySvg', () => {
  it('draws the profile with the budget line', () => {
    const p = plan({ steps: 80, memory: { slots: 12 }, strategy: 'msm', costModel: { alpha: 1.5 } });
    const report = verify(p);
    if (!report.ok || report.profile === undefined) throw new Error('not verified');
    const svg = memorySvg(report.profile, 1.5, timelineOf(p).duration, 12, p.totals.peakSlots);
    expect(svg).toContain('class="budget-line"');
    expect(svg).toContain('budget 12 slots');
    expect(svg).toContain('class="mem-total"');
    expect(svg).toContain(`data-peak="${p.totals.peakSlots}"`);
  });
});

describe('barsSvg', () => {
  it('draws a bar per feasible strategy and says what the others need', () => {
    const r = computeMain({
      steps: 100,
      alpha: 2,
      backwardCost: 2,
      budget: 16,
      budgetUnit: 'slots',
      budgetSlots: 16,
      strategy: 'msm',
    });
    const svg = barsSvg(r.comparisons, 'msm', 16);
    const feasible = r.comparisons.filter((c) => c.result.ok).length;
    expect(count(svg, /class="bar-time"/g)).toBe(feasible);
    expect(count(svg, /class="bar-mem"/g)).toBe(feasible);
    expect(svg).toContain('needs ≥ 201 slots');
    expect(svg).not.toContain('(log scale)'); // recompute-all is 17.5x: a linear axis
    const wide = computeMain({
      steps: 1000,
      alpha: 1,
      backwardCost: 2,
      budget: 40,
      budgetUnit: 'slots',
      budgetSlots: 40,
      strategy: 'hsm',
    });
    expect(barsSvg(wide.comparisons, 'hsm', 40)).toContain('(log scale)'); // recompute-all: 167.5x
  });
});

describe('frontierSvg', () => {
  it('draws a line per strategy and marks the current point', () => {
    const pts = frontier({ steps: 50, costModel: { alpha: 1 } });
    const svg = frontierSvg(pts, 50, 1, { strategy: 'msm', budget: 8, timeRatio: 1.4 });
    for (const s of ['msm', 'ism', 'hsm', 'chen-sqrt', 'chen-recursive', 'recompute-all']) {
      expect(svg).toContain(`class="fr-${s}"`);
    }
    expect(svg).toContain('class="current-point"');
    expect(svg).toContain('msm: 1.4× at 8 slots');
    expect(svg).not.toContain('clipped at');
  });

  it('clips ratios far above the cap and says so', () => {
    const pts = frontier({ steps: 2000, costModel: { alpha: 1 }, budgets: [1, 10, 100, 2001] });
    const svg = frontierSvg(pts, 2000, 1, undefined, [], 10);
    expect(svg).toContain(`clipped at ${FRONTIER_Y_CAP}×: recompute-all`);
    expect(svg).toContain('clip-path=');
    expect(svg).not.toContain('class="current-point"');
  });
});
