/**
 * The page's charts as SVG markup: the policy timeline, its memory profile, the cost of every strategy at
 * the budget, and the cost-memory frontier. Pure functions of their data; colours are attributes so that
 * the SVG looks the same outside the page.
 */
import type { MemoryProfile } from '@rewind/policy';
import type { FrontierPoint } from '@rewind/solver';
import type { Comparison, Cost, Failure } from './compute';
import { profileEnvelope, rasterizeLifetimes, rasterizeSegments } from './decimate';
import {
  formatCompact,
  formatNumber,
  formatSlots,
  linearScale,
  linearTicks,
  logScale,
  logTicks,
  type Scale1,
} from './scale';
import { el, esc, n, rectsPath, text } from './svg';
import type { Lifetime, Segment, Timeline } from './timeline';

export const COLORS = {
  forward: '#1d4ed8',
  recompute: '#f59e0b',
  backward: '#dc2626',
  hidden: '#0d9488',
  internal: '#7c3aed',
  budget: '#dc2626',
  grid: '#e5e7eb',
  axis: '#6b7280',
  ink: '#111827',
  muted: '#6b7280',
} as const;

export const STRATEGY_COLORS: Readonly<Record<string, string>> = {
  msm: '#db2777',
  ism: '#7c3aed',
  hsm: '#2563eb',
  'chen-sqrt': '#16a34a',
  'chen-recursive': '#ea580c',
  'recompute-all': '#78716c',
  'store-all': '#0891b2',
};

/** Time ratios above this are clipped off the frontier chart (when the largest is well above it). */
export const FRONTIER_Y_CAP = 20;

export function strategyColor(s: string): string {
  return STRATEGY_COLORS[s] ?? '#374151';
}

interface Frame {
  readonly width: number;
  readonly height: number;
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
}

function frame(
  width: number,
  height: number,
  left: number,
  right: number,
  top: number,
  bottom: number,
): Frame {
  return { width, height, x0: left, x1: width - right, y0: top, y1: height - bottom };
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"';

function svgRoot(f: Frame, a: Record<string, string | number>, label: string, body: string): string {
  const extra = Object.entries(a)
    .map(([k, v]) => ` ${k}="${esc(String(v))}"`)
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f.width} ${f.height}" role="img" ` +
    `aria-label="${esc(label)}" ${FONT} font-size="12"${extra}>` +
    el('rect', { x: 0, y: 0, width: f.width, height: f.height, fill: '#ffffff' }) +
    body +
    '</svg>'
  );
}

function xAxis(f: Frame, sx: Scale1, ticks: readonly number[], label: string, fmt = formatCompact): string {
  let out = '';
  for (const t of ticks) {
    const x = sx(t);
    out += el('line', { x1: x, x2: x, y1: f.y0, y2: f.y1, stroke: COLORS.grid });
    out += el('line', { x1: x, x2: x, y1: f.y1, y2: f.y1 + 4, stroke: COLORS.axis });
    out += text(x, f.y1 + 16, fmt(t), { 'text-anchor': 'middle', fill: COLORS.muted });
  }
  out += el('line', { x1: f.x0, x2: f.x1, y1: f.y1, y2: f.y1, stroke: COLORS.axis });
  out += text((f.x0 + f.x1) / 2, f.y1 + 32, label, { 'text-anchor': 'middle', fill: COLORS.ink });
  return out;
}

function yAxis(f: Frame, sy: Scale1, ticks: readonly number[], label: string, fmt = formatCompact): string {
  let out = '';
  for (const t of ticks) {
    const y = sy(t);
    out += el('line', { x1: f.x0, x2: f.x1, y1: y, y2: y, stroke: COLORS.grid });
    out += el('line', { x1: f.x0 - 4, x2: f.x0, y1: y, y2: y, stroke: COLORS.axis });
    out += text(f.x0 - 7, y + 4, fmt(t), { 'text-anchor': 'end', fill: COLORS.muted });
  }
  out += el('line', { x1: f.x0, x2: f.x0, y1: f.y0, y2: f.y1, stroke: COLORS.axis });
  const cy = (f.y0 + f.y1) / 2;
  out += text(14, cy, label, {
    'text-anchor': 'middle',
    fill: COLORS.ink,
    transform: `rotate(-90 14 ${n(cy)})`,
  });
  return out;
}

function legend(x: number, y: number, items: readonly { label: string; swatch: string }[]): string {
  let out = '';
  let cx = x;
  for (const it of items) {
    out += `<g transform="translate(${n(cx)} ${n(y)})">${it.swatch}${text(20, 4, it.label, { fill: COLORS.ink })}</g>`;
    cx += 34 + it.label.length * 6.6;
  }
  return out;
}

const lineSwatch = (color: string, width = 2.5, dash?: string) =>
  el('line', { x1: 0, x2: 15, y1: 0, y2: 0, stroke: color, 'stroke-width': width, 'stroke-dasharray': dash });

/** Which way the timeline was drawn. */
export type TimelineMode = 'exact' | 'decimated';

export interface TimelineView {
  readonly markup: string;
  readonly mode: TimelineMode;
  /** SVG elements (or rectangles, when decimated) that draw the geometry. */
  readonly pieces: number;
}

export interface TimelineOptions {
  readonly width?: number;
  readonly height?: number;
  /** Largest number of segments and lifetimes drawn one by one; above it the timeline is decimated. */
  readonly exactLimit?: number;
}

/** The left and right margins shared by the timeline and the memory chart, so their time axes align. */
const LEFT = 64;
const RIGHT = 20;

function hiddenMark(x: number, y: number, r: number): string {
  return `M${n(x - r)} ${n(y)}a${r} ${r} 0 1 0 ${2 * r} 0a${r} ${r} 0 1 0 ${-2 * r} 0z`;
}

function internalMark(x: number, y: number, r: number): string {
  return `M${n(x - r)} ${n(y - r)}h${2 * r}v${2 * r}h${-2 * r}z`;
}

/**
 * The timeline of a policy, like the figures of Gruslys et al.: time to the right, sequence position up.
 * Forward computations rise, backward steps descend, checkpoints are horizontal lines over their lifetime.
 */
export function timelineSvg(tl: Timeline, options: TimelineOptions = {}): TimelineView {
  const width = options.width ?? 1000;
  const height = options.height ?? 430;
  const f = frame(width, height, LEFT, RIGHT, 40, 44);
  const duration = Math.max(1, tl.duration);
  const sx = linearScale(0, duration, f.x0, f.x1);
  const sy = linearScale(0, tl.steps, f.y1, f.y0);
  const exactLimit = options.exactLimit ?? 3000;
  const mode: TimelineMode = tl.segments.length + tl.lifetimes.length <= exactLimit ? 'exact' : 'decimated';
  const byKind = (k: Segment['kind']) => tl.segments.filter((s) => s.kind === k);
  const hiddenL = tl.lifetimes.filter((l) => l.kind === 'hidden');
  const internalL = tl.lifetimes.filter((l) => l.kind === 'internal');
  let body = '';
  body += xAxis(f, sx, linearTicks(0, duration, 10), 'time (step computations: forwards + backwards)');
  body += yAxis(f, sy, linearTicks(0, tl.steps, 6), 'sequence position t');
  let pieces = 0;
  const backwardSteps = tl.backwards;
  if (mode === 'exact') {
    const lifeLines = (ls: readonly Lifetime[]) =>
      ls.map((l) => `M${n(sx(l.start))} ${n(sy(l.pos))}H${n(Math.max(sx(l.end), sx(l.start) + 1))}`).join('');
    body += el('path', {
      class: 'ck-internal',
      d: lifeLines(internalL),
      stroke: COLORS.internal,
      'stroke-width': 4,
      'stroke-opacity': 0.45,
      fill: 'none',
    });
    body += el('path', {
      class: 'ck-hidden',
      d: lifeLines(hiddenL),
      stroke: COLORS.hidden,
      'stroke-width': 1.75,
      fill: 'none',
    });
    if (tl.lifetimes.length <= 400) {
      const r = tl.steps <= 60 ? 3.5 : 2.5;
      body += el('path', {
        class: 'ck-internal-marks',
        d: internalL.map((l) => internalMark(sx(l.start), sy(l.pos), r * 0.75)).join(''),
        fill: COLORS.internal,
      });
      body += el('path', {
        class: 'ck-hidden-marks',
        d: hiddenL.map((l) => hiddenMark(sx(l.start), sy(l.pos), r)).join(''),
        fill: COLORS.hidden,
      });
    }
    const lines = (segs: readonly Segment[]) =>
      segs.map((s) => `M${n(sx(s.x0))} ${n(sy(s.y0))}L${n(sx(s.x1))} ${n(sy(s.y1))}`).join('');
    const sw = tl.steps <= 200 ? 2 : 1.25;
    body += el('path', {
      class: 'fwd',
      d: lines(byKind('forward')),
      stroke: COLORS.forward,
      'stroke-width': sw,
      fill: 'none',
      'stroke-linecap': 'round',
    });
    body += el('path', {
      class: 'rec',
      d: lines(byKind('recompute')),
      stroke: COLORS.recompute,
      'stroke-width': sw,
      fill: 'none',
      'stroke-linecap': 'round',
    });
    let runs = '';
    for (const s of byKind('backward')) {
      runs += el('path', {
        class: 'bwd',
        'data-from': String(s.y0),
        'data-to': String(s.y1 + 1),
        d: `M${n(sx(s.x0))} ${n(sy(s.y0))}L${n(sx(s.x1))} ${n(sy(s.y1))}`,
        stroke: COLORS.backward,
        'stroke-width': sw + 0.5,
        fill: 'none',
        'stroke-linecap': 'round',
      });
    }
    body += el('g', { class: 'bwd-runs', 'data-steps': String(backwardSteps) }, runs);
    pieces = tl.segments.length + tl.lifetimes.length;
  } else {
    const w = Math.round(f.x1 - f.x0);
    const local = linearScale(0, duration, 0, w);
    const layer = (
      cls: string,
      segs: readonly Segment[],
      color: string,
      extra: Record<string, string> = {},
    ) => {
      const rects = rasterizeSegments(segs, local, sy, w);
      pieces += rects.length;
      return el('path', {
        class: cls,
        d: rectsPath(rects),
        fill: color,
        transform: `translate(${f.x0} 0)`,
        ...extra,
      });
    };
    const lifeLayer = (cls: string, ls: readonly Lifetime[], color: string, thick: number, op: number) => {
      const rects = rasterizeLifetimes(ls, local, sy, thick);
      pieces += rects.length;
      return el('path', {
        class: cls,
        d: rectsPath(rects),
        fill: color,
        'fill-opacity': op,
        transform: `translate(${f.x0} 0)`,
      });
    };
    body += lifeLayer('ck-internal', internalL, COLORS.internal, 2, 0.45);
    body += lifeLayer('ck-hidden', hiddenL, COLORS.hidden, 1, 1);
    body += layer('fwd', byKind('forward'), COLORS.forward);
    body += layer('rec', byKind('recompute'), COLORS.recompute);
    body += el(
      'g',
      { class: 'bwd-runs', 'data-steps': String(backwardSteps) },
      layer('bwd', byKind('backward'), COLORS.backward),
    );
  }
  body += legend(f.x0, 18, [
    { label: 'forward (first pass)', swatch: lineSwatch(COLORS.forward) },
    { label: 'recomputation', swatch: lineSwatch(COLORS.recompute) },
    { label: 'backward', swatch: lineSwatch(COLORS.backward) },
    { label: 'hidden checkpoint (1 slot)', swatch: lineSwatch(COLORS.hidden, 2) },
    { label: 'internal checkpoint (α slots)', swatch: lineSwatch(COLORS.internal, 4) },
  ]);
  const markup = svgRoot(
    f,
    {
      class: 'timeline',
      'data-mode': mode,
      'data-backward-steps': backwardSteps,
      'data-duration': tl.duration,
      'data-steps': tl.steps,
    },
    `Timeline of the policy: ${tl.forwards} forward steps (${tl.recomputed} recomputed steps beyond the first pass) and ${tl.backwards} backward steps`,
    body,
  );
  return { markup, mode, pieces };
}

export interface MemoryOptions {
  readonly width?: number;
  readonly height?: number;
}

/** The memory held over time, stacked internal + hidden checkpoints, with the budget line. */
export function memorySvg(
  profile: MemoryProfile,
  alpha: number,
  duration: number,
  budget: number,
  peak: number,
  options: MemoryOptions = {},
): string {
  const width = options.width ?? 1000;
  const height = options.height ?? 210;
  const f = frame(width, height, LEFT, RIGHT, 30, 44);
  const d = Math.max(1, duration);
  const sx = linearScale(0, d, f.x0, f.x1);
  const top = Math.max(budget, peak, 1) * 1.15;
  const sy = linearScale(0, top, f.y1, f.y0);
  const w = Math.round(f.x1 - f.x0);
  const env = profileEnvelope(profile, alpha, d, w);
  const area = (values: (c: number) => number): string => {
    let p = `M${n(f.x0)} ${n(f.y1)}`;
    let prev = Number.NaN;
    for (let c = 0; c < w; c++) {
      const v = values(c);
      if (v !== prev) {
        p += `V${n(sy(v))}`;
        prev = v;
      }
      p += `H${n(f.x0 + c + 1)}`;
    }
    return `${p}V${n(f.y1)}z`;
  };
  let body = '';
  body += xAxis(f, sx, linearTicks(0, d, 10), 'time (step computations)');
  body += yAxis(f, sy, linearTicks(0, top, 4), 'slots');
  body += el('path', {
    class: 'mem-total',
    d: area((c) => env.max[c] as number),
    fill: COLORS.hidden,
    'fill-opacity': 0.55,
  });
  body += el('path', {
    class: 'mem-internal',
    d: area((c) => env.internalAtMax[c] as number),
    fill: COLORS.internal,
    'fill-opacity': 0.55,
  });
  const by = sy(budget);
  body += el('line', {
    class: 'budget-line',
    x1: f.x0,
    x2: f.x1,
    y1: by,
    y2: by,
    stroke: COLORS.budget,
    'stroke-width': 1.5,
    'stroke-dasharray': '6 4',
  });
  body += text(f.x1 - 4, by - 5, `budget ${formatSlots(budget)}`, {
    'text-anchor': 'end',
    fill: COLORS.budget,
  });
  body += legend(f.x0, 14, [
    {
      label: 'hidden checkpoints',
      swatch: el('rect', { x: 0, y: -5, width: 15, height: 10, fill: COLORS.hidden, 'fill-opacity': 0.55 }),
    },
    {
      label: 'internal checkpoints (α slots each)',
      swatch: el('rect', { x: 0, y: -5, width: 15, height: 10, fill: COLORS.internal, 'fill-opacity': 0.55 }),
    },
  ]);
  body += text(f.x0 + 420, 18, `peak ${formatSlots(peak)}`, { fill: COLORS.ink, 'font-weight': 600 });
  return svgRoot(
    f,
    { class: 'memory', 'data-peak': peak, 'data-budget': budget },
    `Memory over time: peak ${peak} slots, budget ${budget} slots`,
    body,
  );
}

/** The cost of each strategy at the budget: time over store-all and peak memory, as bars. */
export function barsSvg(
  rows: readonly Comparison[],
  current: string,
  budget: number,
  extra?: { label: string; cost: Cost },
): string {
  const all: { label: string; strategy: string; result: Cost | Failure }[] = rows.map((r) => ({
    label: r.strategy,
    strategy: r.strategy,
    result: r.result,
  }));
  if (extra !== undefined)
    all.push({ label: extra.label, strategy: extra.cost.strategy, result: extra.cost });
  const rowH = 24;
  const width = 560;
  const height = 46 + rowH * all.length + 8;
  const f = frame(width, height, 0, 0, 40, 8);
  const labelW = 118;
  const panelGap = 28;
  const panelW = (width - labelW - panelGap - 16) / 2;
  const p1 = labelW;
  const p2 = labelW + panelW + panelGap;
  const ok = all.flatMap((r) => (r.result.ok ? [r.result] : []));
  const maxRatio = Math.max(1.0001, ...ok.map((c) => c.timeRatio));
  const useLog = maxRatio > 20;
  const sr = useLog ? logScale(1, maxRatio, p1, p1 + panelW) : linearScale(0, maxRatio, p1, p1 + panelW);
  const maxMem = Math.max(budget, ...ok.map((c) => c.peakSlots)) * 1.05;
  const sm = linearScale(0, maxMem, p2, p2 + panelW);
  let body = '';
  body += text(p1, 16, useLog ? 'time / store-all (log scale)' : 'time / store-all', {
    fill: COLORS.ink,
    'font-weight': 600,
  });
  body += text(p2, 16, 'peak memory (slots)', { fill: COLORS.ink, 'font-weight': 600 });
  const ticksR = useLog ? logTicks(1, maxRatio, 5) : linearTicks(0, maxRatio, 3);
  for (const t of ticksR) {
    const x = sr(t);
    body += el('line', { x1: x, x2: x, y1: 24, y2: height - 8, stroke: COLORS.grid });
    body += text(x, 34, `${formatCompact(t)}×`, {
      'text-anchor': 'middle',
      fill: COLORS.muted,
      'font-size': 10,
    });
  }
  for (const t of linearTicks(0, maxMem, 3)) {
    const x = sm(t);
    body += el('line', { x1: x, x2: x, y1: 24, y2: height - 8, stroke: COLORS.grid });
    body += text(x, 34, formatCompact(t), { 'text-anchor': 'middle', fill: COLORS.muted, 'font-size': 10 });
  }
  all.forEach((r, i) => {
    const y = f.y0 + 6 + i * rowH;
    const isCurrent = r.label === current && extra === undefined;
    body += text(labelW - 8, y + 12, r.label, {
      'text-anchor': 'end',
      fill: COLORS.ink,
      'font-weight': isCurrent || r.label !== r.strategy ? 700 : 400,
    });
    const color = strategyColor(r.strategy);
    if (!r.result.ok) {
      const why =
        r.result.minimum !== undefined
          ? `needs ≥ ${formatSlots(r.result.minimum)}`
          : r.result.code === 'E_TOO_LARGE'
            ? 'table too large'
            : r.result.code;
      body += text(p1 + 4, y + 12, why, { fill: COLORS.muted, 'font-style': 'italic' });
      return;
    }
    const c = r.result;
    const x0 = useLog ? p1 : sr(0);
    const wr = Math.max(1, sr(c.timeRatio) - x0);
    body += el('rect', {
      class: 'bar-time',
      x: x0,
      y: y + 2,
      width: wr,
      height: rowH - 8,
      fill: color,
      rx: 2,
    });
    const tlabel = `${formatNumber(c.timeRatio, 3)}×`;
    const inside = wr > 60;
    body += text(inside ? x0 + wr - 4 : x0 + wr + 4, y + 14, tlabel, {
      'text-anchor': inside ? 'end' : 'start',
      fill: inside ? '#ffffff' : COLORS.ink,
      'font-size': 11,
    });
    const wm = Math.max(1, sm(c.peakSlots) - sm(0));
    body += el('rect', {
      class: 'bar-mem',
      x: sm(0),
      y: y + 2,
      width: wm,
      height: rowH - 8,
      fill: color,
      rx: 2,
      'fill-opacity': 0.7,
    });
    const mlabel = formatNumber(c.peakSlots);
    const mInside = wm > 50;
    body += text(mInside ? sm(0) + wm - 4 : sm(0) + wm + 4, y + 14, mlabel, {
      'text-anchor': mInside ? 'end' : 'start',
      fill: mInside ? '#ffffff' : COLORS.ink,
      'font-size': 11,
    });
  });
  const bx = sm(budget);
  body += el('line', {
    x1: bx,
    x2: bx,
    y1: 38,
    y2: height - 4,
    stroke: COLORS.budget,
    'stroke-width': 1.5,
    'stroke-dasharray': '5 3',
  });
  return svgRoot(f, { class: 'bars' }, 'Cost of each strategy at the budget', body);
}

/** The frontier: time over store-all against the memory budget, one line per strategy, current point marked. */
export function frontierSvg(
  points: readonly FrontierPoint[],
  steps: number,
  alpha: number,
  current: { strategy: string; budget: number; timeRatio: number } | undefined,
  capped: readonly { strategy: string; upTo: number }[] = [],
  budget: number | undefined = current?.budget,
): string {
  const width = 560;
  const height = 340;
  const f = frame(width, height, 56, 16, 44, 44);
  const top = Math.ceil(1 + steps * alpha);
  const xMax = Math.max(2, top * 1.15);
  const sx = logScale(1, xMax, f.x0, f.x1);
  const ratios = points.map((p) => p.timeRatio);
  if (current !== undefined) ratios.push(current.timeRatio);
  const highest = Math.max(1.5, ...ratios);
  // Recompute-all (and any budget that only fits it) costs about T/6 times store-all: beyond
  // FRONTIER_Y_CAP the chart clips, so that the interesting range near 1x keeps its room.
  const clipped = highest > FRONTIER_Y_CAP * 1.2;
  const yMax = clipped ? FRONTIER_Y_CAP : highest * 1.08;
  const sy = logScale(1, yMax, f.y1, f.y0);
  const clipId = `fr-clip-${Math.round(steps)}-${Math.round(alpha * 1000)}`;
  let body = '';
  body += xAxis(f, sx, logTicks(1, xMax), 'memory budget (slots, log scale)');
  body += yAxis(f, sy, logTicks(1, yMax), 'time / store-all (log)', (v) => `${formatCompact(v)}×`);
  const byStrategy = new Map<string, FrontierPoint[]>();
  for (const p of points) {
    const list = byStrategy.get(p.strategy) ?? [];
    list.push(p);
    byStrategy.set(p.strategy, list);
  }
  const order = ['recompute-all', 'store-all', 'chen-recursive', 'chen-sqrt', 'hsm', 'ism', 'msm'];
  const names = [...byStrategy.keys()].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  let lines = '';
  for (const s of names) {
    const list = (byStrategy.get(s) ?? []).slice().sort((a, b) => a.budgetSlots - b.budgetSlots);
    const color = strategyColor(s);
    if (list.length === 1) {
      const p = list[0] as FrontierPoint;
      lines += el('circle', {
        cx: sx(p.budgetSlots),
        cy: sy(p.timeRatio),
        r: 4,
        fill: color,
        class: `fr-${s}`,
      });
      continue;
    }
    let d = '';
    list.forEach((p, i) => {
      const x = sx(p.budgetSlots);
      const y = sy(p.timeRatio);
      if (i === 0) d += `M${n(x)} ${n(y)}`;
      else d += `H${n(x)}V${n(y)}`;
    });
    const last = list[list.length - 1] as FrontierPoint;
    const cap = capped.find((c) => c.strategy === s);
    if (cap === undefined && last.budgetSlots < top) d += `H${n(sx(top))}`;
    lines += el('path', {
      class: `fr-${s}`,
      d,
      stroke: color,
      'stroke-width': s === 'msm' ? 2.5 : 1.75,
      fill: 'none',
      'stroke-linejoin': 'round',
    });
  }
  body += el(
    'clipPath',
    { id: clipId },
    el('rect', { x: f.x0, y: f.y0 - 6, width: f.x1 - f.x0 + 6, height: f.y1 - f.y0 + 12 }),
  );
  body += el('g', { 'clip-path': `url(#${clipId})` }, lines);
  if (clipped) {
    const off = names.filter((s) => (byStrategy.get(s) ?? []).every((p) => p.timeRatio > yMax));
    const worst = Math.max(...points.map((p) => p.timeRatio));
    const what = off.length > 0 ? off.join(', ') : 'some plans';
    body += text(f.x1 - 4, f.y0 + 14, `clipped at ${yMax}×: ${what} up to ${formatNumber(worst, 1)}×`, {
      'text-anchor': 'end',
      fill: COLORS.muted,
      'font-style': 'italic',
      'font-size': 10,
      stroke: '#ffffff',
      'stroke-width': 3,
      'paint-order': 'stroke',
    });
  }
  if (budget !== undefined) {
    const bx = sx(budget);
    body += el('line', {
      x1: bx,
      x2: bx,
      y1: f.y0,
      y2: f.y1,
      stroke: COLORS.budget,
      'stroke-width': 1,
      'stroke-dasharray': '5 3',
    });
  }
  if (current !== undefined) {
    const cx = sx(current.budget);
    const cy = Math.max(f.y0, sy(current.timeRatio));
    body += el('circle', {
      class: 'current-point',
      cx,
      cy,
      r: 6.5,
      fill: '#ffffff',
      stroke: strategyColor(current.strategy),
      'stroke-width': 3,
    });
    const label = `${current.strategy}: ${formatNumber(current.timeRatio, 3)}× at ${formatSlots(current.budget)}`;
    const right = cx > (f.x0 + f.x1) / 2;
    body += text(right ? cx - 10 : cx + 10, cy - 10, label, {
      'text-anchor': right ? 'end' : 'start',
      fill: COLORS.ink,
      'font-weight': 600,
      stroke: '#ffffff',
      'stroke-width': 3,
      'paint-order': 'stroke',
    });
  }
  const items = names.map((s) => ({ label: s, swatch: lineSwatch(strategyColor(s), 3) }));
  const half = Math.ceil(items.length / 2);
  body += legend(f.x0, 14, items.slice(0, half));
  body += legend(f.x0, 30, items.slice(half));
  return svgRoot(
    f,
    { class: 'frontier', 'data-points': points.length },
    'Time against memory for each strategy',
    body,
  );
}
