/**
 * The HTML report: Vega-Lite specifications built from planner predictions and from measurements
 * (`rewind bench --out`, `rewind train --json-out`), rendered to SVG in Node.
 */
import { verify } from '@rewind/policy';
import { frontier, memoryBudget, plan, predict, type StrategyName } from '@rewind/solver';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { logBudgets } from './budgets.js';

/** One measured run of `rewind bench`. */
export interface BenchRun {
  readonly backend: string;
  readonly cell: string;
  readonly strategy: string;
  readonly steps: number;
  /** The budget as a share of the store-all checkpoint memory, in percent. */
  readonly budgetPercent: number;
  readonly predicted: { readonly timeRatio: number; readonly memoryRatio: number; readonly forwards: number };
  readonly measured: {
    readonly msPerIteration: number;
    readonly peakCheckpointBytes: number;
    readonly storeAllBytes: number;
    readonly timeRatio: number;
    readonly memoryRatio: number;
    /** Share of the wall time spent in the executor rather than in cell kernels. */
    readonly overheadShare?: number;
    /** Interleaved rounds measured, and how many of them other processes contaminated (left out). */
    readonly rounds?: number;
    readonly contaminatedRounds?: number;
    /** Spread of `msPerIteration` (the median) over the rounds: min-max and quartiles. */
    readonly msSpread?: Spread;
    /** Spread of the per-round time ratios whose median is `timeRatio`. */
    readonly timeRatioSpread?: Spread;
    /** Runs and bytes moved per iteration, where the backend counts them (ONNX Runtime). */
    readonly transfers?: {
      readonly runs: number;
      readonly bytesIn: number;
      readonly bytesOut: number;
      readonly parameterBytesIn: number;
      readonly bytesPerForwardStep: number;
      readonly bytesPerBackwardStep: number;
    };
    /** Median minor page faults per iteration (binding included): memory touched for the first time. */
    readonly minorPageFaults?: number;
    /** Kernel dispatches per forward and backward step and per iteration, and read-backs (tfjs). */
    readonly dispatches?: {
      readonly perForwardStep: number;
      readonly perBackwardStep: number;
      readonly perIteration: number;
      readonly readbacks: number;
    };
  };
  /** Whether CUDA was allowed TF32 matrix products (ONNX Runtime backends). */
  readonly tf32?: boolean;
}

/** Min-max and quartiles of a measurement over rounds. */
export interface Spread {
  readonly min: number;
  readonly max: number;
  readonly q1: number;
  readonly q3: number;
}

/** The file `rewind bench --out` writes. */
export interface BenchFile {
  readonly machine: string;
  readonly runs: readonly BenchRun[];
}

/** The file `rewind train --json-out` writes. */
export interface TrainFile {
  readonly backend: string;
  readonly cell: string;
  readonly steps: number;
  readonly strategy: string;
  readonly sparsity?: { readonly target: number; readonly achieved: number };
  readonly history: readonly { readonly iteration: number; readonly loss: number }[];
  readonly summary: Readonly<Record<string, number | string | boolean | null>>;
}

/** What the report is made of. */
export interface ReportInput {
  readonly steps: number;
  readonly alpha: number;
  readonly backwardCost: number;
  readonly bench?: BenchFile;
  readonly trains: readonly TrainFile[];
}

/** One figure of the report. */
export interface Figure {
  readonly name: string;
  readonly title: string;
  readonly caption: string;
  readonly spec: TopLevelSpec;
}

const STRATEGIES: readonly StrategyName[] = ['chen-sqrt', 'hsm', 'ism', 'msm'];
/** Shapes of the measured points, one per backend (never reused within a figure of up to 7 backends). */
const BACKEND_SHAPES = [
  'circle',
  'square',
  'triangle-up',
  'cross',
  'triangle-down',
  'triangle-right',
  'triangle-left',
];
const WIDTH = 560;
const HEIGHT = 320;

/** The figures, as Vega-Lite specifications (pure: no rendering). */
export function reportFigures(input: ReportInput): Figure[] {
  const { steps, alpha, backwardCost } = input;
  const costModel = { alpha, backwardCost };
  const storeAll = 1 + steps * alpha;
  const headline = { share: 0.05 };
  const headlineSlots = memoryBudget(steps, headline, costModel).slots;
  const figures: Figure[] = [];

  const predictedRows = frontier({
    steps,
    costModel,
    strategies: [...STRATEGIES],
    budgets: logBudgets(storeAll, 60),
  })
    .filter((p) => p.timeRatio <= 4)
    .map((p) => ({
      strategy: p.strategy,
      memory: p.budgetSlots / storeAll,
      time: p.timeRatio,
      kind: 'predicted',
    }));
  const measuredRows = (input.bench?.runs ?? [])
    .filter((r) => r.steps === steps)
    .map((r) => ({
      strategy: r.strategy,
      points: `${r.backend} (measured)`,
      memory: r.measured.memoryRatio,
      time: r.measured.timeRatio,
      kind: 'measured',
    }));
  const head = predict({ steps, memory: headline, strategy: 'msm', costModel });
  const headLabel = 'msm at 5% (predicted headline)';
  figures.push({
    name: 'frontier',
    title: `Memory/compute frontier, T = ${steps}`,
    caption:
      `Time per iteration against memory, both relative to standard BPTT (store-all), for alpha = ${alpha} and a ` +
      `backward step costing ${backwardCost} forward steps. Lines: the planners' predictions (colour: strategy); ` +
      `points: measured runs, coloured by strategy, one shape per backend. ` +
      `The black diamond is the paper's headline: 5% of the memory for ${((head.timeRatio - 1) * 100).toFixed(1)}% more time.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: WIDTH,
      height: HEIGHT,
      layer: [
        {
          data: { values: predictedRows },
          mark: { type: 'line', interpolate: 'step-after', point: false },
          encoding: {
            x: {
              field: 'memory',
              type: 'quantitative',
              scale: { type: 'log' },
              title: 'memory / store-all',
              axis: { format: '%' },
            },
            y: { field: 'time', type: 'quantitative', title: 'time / store-all', scale: { zero: false } },
            color: {
              field: 'strategy',
              type: 'nominal',
              title: 'strategy (lines: predicted)',
              scale: { domain: [...STRATEGIES, 'store-all'] },
              legend: { titleLimit: 320 },
            },
          },
        },
        ...(measuredRows.length === 0
          ? []
          : [
              {
                data: { values: measuredRows },
                mark: { type: 'point' as const, filled: true, size: 80, opacity: 0.9 },
                encoding: {
                  x: { field: 'memory', type: 'quantitative' as const },
                  y: { field: 'time', type: 'quantitative' as const },
                  color: { field: 'strategy', type: 'nominal' as const },
                  shape: {
                    field: 'points',
                    type: 'nominal' as const,
                    title: 'points',
                    scale: {
                      domain: [...new Set(measuredRows.map((r) => r.points)), headLabel],
                      range: [
                        ...BACKEND_SHAPES.slice(0, new Set(measuredRows.map((r) => r.points)).size),
                        'diamond',
                      ],
                    },
                    legend: { labelLimit: 320 },
                  },
                },
              },
            ]),
        {
          data: { values: [{ memory: head.memoryRatio, time: head.timeRatio, points: headLabel }] },
          mark: { type: 'point', size: 160, filled: true, color: 'black' },
          encoding: {
            x: { field: 'memory', type: 'quantitative' },
            y: { field: 'time', type: 'quantitative' },
            shape: {
              field: 'points',
              type: 'nominal',
              title: 'points',
              ...(measuredRows.length === 0
                ? { scale: { domain: [headLabel], range: ['diamond'] }, legend: { labelLimit: 320 } }
                : {}),
            },
          },
        },
      ],
    },
  });

  const policy = plan({ steps, memory: headline, strategy: 'msm', costModel });
  const report = verify(policy);
  if (report.ok && report.profile !== undefined) {
    const { time, hidden, internal } = report.profile;
    const rows: { time: number; slots: number }[] = [];
    const stride = Math.max(1, Math.floor(time.length / 1500));
    for (let i = 0; i < time.length; i += stride)
      rows.push({ time: time[i]!, slots: hidden[i]! + alpha * internal[i]! });
    figures.push({
      name: 'memory-profile',
      title: `Memory over time of the msm policy at 5%, T = ${steps}`,
      caption:
        `Live checkpoint memory (slots: hidden states count 1, internal states ${alpha}) while the policy runs; ` +
        `time counts forward and backward step computations. The dashed line is the budget (${headlineSlots.toFixed(1)} slots).`,
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: WIDTH,
        height: HEIGHT / 1.5,
        layer: [
          {
            data: { values: rows },
            mark: { type: 'area', interpolate: 'step-after', opacity: 0.7 },
            encoding: {
              x: { field: 'time', type: 'quantitative', title: 'step computations so far' },
              y: { field: 'slots', type: 'quantitative', title: 'live checkpoint slots' },
            },
          },
          {
            data: { values: [{ budget: headlineSlots }] },
            mark: { type: 'rule', strokeDash: [6, 4], color: 'firebrick' },
            encoding: { y: { field: 'budget', type: 'quantitative' } },
          },
        ],
      },
    });
  }

  const lossRows = input.trains.flatMap((t) =>
    t.history.map((h) => ({
      run: `${t.backend} ${t.cell} ${t.strategy}${t.sparsity === undefined ? '' : `, sparsity ${(100 * t.sparsity.target).toFixed(0)}%`}`,
      iteration: h.iteration,
      loss: h.loss,
    })),
  );
  if (lossRows.length > 0) {
    figures.push({
      name: 'loss',
      title: 'Training loss',
      caption: 'Per-character cross-entropy of the character-level language model during training.',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: WIDTH,
        height: HEIGHT,
        data: { values: lossRows },
        mark: { type: 'line' },
        encoding: {
          x: { field: 'iteration', type: 'quantitative', title: 'iteration' },
          y: {
            field: 'loss',
            type: 'quantitative',
            title: 'loss (nats per character)',
            scale: { zero: false },
          },
          color: {
            field: 'run',
            type: 'nominal',
            title: 'run',
            legend: { labelLimit: 320, orient: 'bottom', direction: 'vertical' },
          },
        },
      },
    });
  }

  const sparseRows = input.trains
    .filter((t) => t.history.length > 0)
    .map((t) => ({
      sparsity: t.sparsity?.achieved ?? 0,
      loss: t.history.at(-1)!.loss,
      run: `${t.backend} ${t.cell}`,
    }));
  if (sparseRows.some((r) => r.sparsity > 0)) {
    figures.push({
      name: 'sparsity',
      title: 'Sparsified backward: sparsity against final loss',
      caption:
        'Share of gate pre-activation gradients zeroed in backward (achieved, dynamic threshold) against the loss ' +
        'at the end of training; 0 is the dense backward.',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: WIDTH,
        height: HEIGHT / 1.5,
        data: { values: sparseRows },
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: {
            field: 'sparsity',
            type: 'quantitative',
            title: 'gate-gradient sparsity',
            axis: { format: '%' },
          },
          y: { field: 'loss', type: 'quantitative', title: 'final loss', scale: { zero: false } },
          color: { field: 'run', type: 'nominal' },
        },
      },
    });
  }
  return figures;
}

/** Render one figure to SVG. */
export async function renderSvg(figure: Figure): Promise<string> {
  const view = new vega.View(vega.parse(compile(figure.spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/** A self-contained HTML page holding the figures inline and a table of the measured runs. */
export function reportHtml(input: ReportInput, figures: readonly { figure: Figure; svg: string }[]): string {
  const runs = input.bench?.runs ?? [];
  const table =
    runs.length === 0
      ? '<p>No measurements were given (run <code>rewind bench --out bench.json</code>, then pass <code>--bench bench.json</code>).</p>'
      : `<table><thead><tr><th>backend</th><th>cell</th><th>strategy</th><th>T</th><th>budget</th><th>ms / iteration</th><th>time ratio (measured / predicted)</th><th>peak checkpoint memory</th><th>memory ratio (measured / predicted)</th></tr></thead><tbody>${runs
          .map(
            (r) =>
              `<tr><td>${escapeHtml(r.backend)}</td><td>${escapeHtml(r.cell)}</td><td>${escapeHtml(r.strategy)}</td><td>${r.steps}</td><td>${r.budgetPercent}%</td><td>${r.measured.msPerIteration.toFixed(1)}</td><td>${r.measured.timeRatio.toFixed(3)} / ${r.predicted.timeRatio.toFixed(3)}</td><td>${(r.measured.peakCheckpointBytes / 2 ** 20).toFixed(2)} MiB</td><td>${(100 * r.measured.memoryRatio).toFixed(2)}% / ${(100 * r.predicted.memoryRatio).toFixed(2)}%</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const body = figures
    .map(
      ({ figure, svg }) =>
        `<figure id="${figure.name}"><h2>${escapeHtml(figure.title)}</h2>${svg}<figcaption>${escapeHtml(figure.caption)}</figcaption></figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rewind report</title>
<style>body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:2em 0}figcaption{color:#555;font-size:.9em;max-width:680px}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #ccc;padding:4px 6px;text-align:right}th{background:#f3f3f3}</style></head>
<body><h1>Rewind report</h1>
<p>Memory-efficient backpropagation through time (Gruslys et al., NeurIPS 2016): optimal schedules of what to keep and
what to recompute under a memory budget. T = ${input.steps}, alpha = ${input.alpha}, backward cost ${input.backwardCost}.
${input.bench === undefined ? '' : `Measured on ${escapeHtml(input.bench.machine)}.`}</p>
<h2>Measured runs</h2>${table}
${body}
</body></html>
`;
}
