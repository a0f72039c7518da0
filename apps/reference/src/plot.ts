/** Terminal line charts for the command line (the HTML report uses real plots). */

export interface Series {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

const MARKS = ['*', '+', 'o', '#', 'x', '@', '%', '&'];

/** Draw series on a character grid with labelled axes and a legend; the first series is drawn on top. */
export function asciiChart(
  series: readonly Series[],
  opts: {
    width?: number;
    height?: number;
    xLabel: string;
    yLabel: string;
    logX?: boolean;
    logY?: boolean;
    formatX?: (x: number) => string;
  },
): string {
  const width = opts.width ?? 64;
  const height = opts.height ?? 16;
  const fx = (x: number): number => (opts.logX === true ? Math.log10(x) : x);
  const fy = (y: number): number => (opts.logY === true ? Math.log10(y) : y);
  const ok = (p: { x: number; y: number }): boolean =>
    Number.isFinite(p.y) && p.x > 0 && (opts.logY !== true || p.y > 0);
  const all = series.flatMap((s) => s.points).filter(ok);
  if (all.length === 0) return '(no points)\n';
  const xs = all.map((p) => fx(p.x));
  const ys = all.map((p) => fy(p.y));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const y0 = Math.min(...ys);
  const y1 = Math.max(...ys);
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  // The first series is drawn last, so that it is on top where curves meet.
  [...series.entries()].reverse().forEach(([k, s]) => {
    for (const p of s.points) {
      if (!ok(p)) continue;
      const col = x1 === x0 ? 0 : Math.round(((fx(p.x) - x0) / (x1 - x0)) * (width - 1));
      const row =
        y1 === y0 ? height - 1 : height - 1 - Math.round(((fy(p.y) - y0) / (y1 - y0)) * (height - 1));
      grid[row]![col] = MARKS[k % MARKS.length]!;
    }
  });
  const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
  const label = (v: number): string => (opts.formatX ?? fmt)(opts.logX === true ? 10 ** v : v);
  const yAt = (v: number): string => fmt(opts.logY === true ? 10 ** v : v);
  const lines: string[] = [];
  lines.push(`${opts.yLabel}`);
  grid.forEach((row, r) => {
    const axis =
      r === 0 ? yAt(y1) : r === height - 1 ? yAt(y0) : r === Math.floor(height / 2) ? yAt((y0 + y1) / 2) : '';
    lines.push(`${axis.padStart(8)} |${row.join('')}`);
  });
  lines.push(`${''.padStart(8)} +${'-'.repeat(width)}`);
  const left = label(x0);
  const right = label(x1);
  lines.push(`${''.padStart(9)} ${left}${right.padStart(width - left.length)}`);
  lines.push(`${''.padStart(9)} ${opts.xLabel}`);
  lines.push(`${''.padStart(9)} ${series.map((s, k) => `${MARKS[k % MARKS.length]} ${s.name}`).join('   ')}`);
  return `${lines.join('\n')}\n`;
}
