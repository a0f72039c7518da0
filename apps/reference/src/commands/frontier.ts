import { type FrontierPoint, frontier, STRATEGIES, type StrategyName } from '@rewind/solver';
import { EXIT, formatDuration, parseChoice, parseCount, parseList, parseReal, UsageError } from '../args.js';
import { logBudgets } from '../budgets.js';
import { Progress } from '../io.js';
import { checkFrontierSize, frontierSeconds, LIMITS } from '../limits.js';
import { asciiChart } from '../plot.js';
import { type Command, str } from './command.js';

/** Strategies of the frontier; the chart draws the first on top (the optimal one, msm). */
const DEFAULT_STRATEGIES = 'msm,ism,hsm,chen-sqrt';

export const frontierCommand: Command = {
  name: 'frontier',
  summary: 'the memory/compute trade-off of every strategy for one sequence length',
  usage: 'rewind frontier --steps T [options] [--json | --csv]',
  description:
    'The cost of each strategy as a function of the memory budget, at log-spaced budgets from 2 slots to\n' +
    'store-all; the terminal chart draws the first strategy given on top of the others.',
  options: [
    {
      name: 'steps',
      type: 'string',
      value: 'T',
      help: `sequence length, 1 to ${LIMITS.planSteps} (required)`,
    },
    {
      name: 'alpha',
      type: 'string',
      value: 'A',
      help: 'internal-state size over hidden-state size, >= 1 (default 1)',
    },
    {
      name: 'backward-cost',
      type: 'string',
      value: 'B',
      help: 'cost of a backward step in forward steps, >= 0 (default 2)',
    },
    {
      name: 'strategies',
      type: 'string',
      value: 'S,S',
      help: `strategies, of ${STRATEGIES.filter((s) => s !== 'auto').join(', ')} (default ${DEFAULT_STRATEGIES})`,
    },
    {
      name: 'points',
      type: 'string',
      value: 'N',
      help: `budgets, 2 to ${LIMITS.frontierPoints} (default 40)`,
    },
    { name: 'json', type: 'boolean', help: 'print the points as one JSON object' },
    { name: 'csv', type: 'boolean', help: 'print the points as CSV' },
  ],
  notes:
    `Limits: the ism and msm frontiers need steps * (1 + steps * alpha) <= ${LIMITS.frontierWork.toExponential(0).replace('+', '')} (T = 21,000 at alpha 4.5,\n` +
    `44,000 at alpha 1); chen-sqrt needs T <= ${LIMITS.chenSqrtSteps}. Larger sizes are refused with E_TOO_LARGE.`,
  async run({ io, values }) {
    const steps = parseCount('steps', str(values, 'steps'), undefined, { max: LIMITS.planSteps });
    const alpha = parseReal('alpha', str(values, 'alpha'), 1, { min: 1, max: 1e6 });
    const backwardCost = parseReal('backward-cost', str(values, 'backward-cost'), 2, { min: 0, max: 1e6 });
    const points = parseCount('points', str(values, 'points'), 40, { min: 2, max: LIMITS.frontierPoints });
    const strategies = parseList('strategies', str(values, 'strategies') ?? DEFAULT_STRATEGIES).map((s) =>
      parseChoice<StrategyName>('strategies', s, STRATEGIES),
    );
    if (strategies.includes('auto')) {
      throw new UsageError(
        'E_STRATEGIES',
        '--strategies: "auto" has no frontier of its own; name the strategies',
      );
    }
    if (values['json'] === true && values['csv'] === true) {
      throw new UsageError('E_OPTION', '--json and --csv exclude each other: give one');
    }
    checkFrontierSize(steps, alpha, strategies);
    const storeAll = 1 + steps * alpha;
    const budgets = logBudgets(storeAll, points);
    const estimate = frontierSeconds(steps, alpha, strategies);
    if (estimate >= 3) {
      io.stderr.write(
        `frontier: the ism and msm dynamic programs for T=${steps} take up to about ${formatDuration(estimate)}\n`,
      );
    }
    const progress = new Progress(io, 'frontier');
    const rows: FrontierPoint[] = [];
    // Progress weighted by each strategy's share of the work (the dynamic programs dominate).
    const weight = (s: string): number => (s === 'msm' ? 1 : s === 'ism' ? 0.2 : 0.01);
    const total = strategies.reduce((n, s) => n + weight(s), 0);
    let done = 0;
    for (const s of strategies) {
      progress.update(done, total, s);
      done += weight(s);
      rows.push(...frontier({ steps, costModel: { alpha, backwardCost }, strategies: [s], budgets }));
    }
    progress.done();
    if (values['json'] === true) {
      io.stdout.write(`${JSON.stringify({ steps, alpha, backwardCost, points: rows })}\n`);
      return EXIT.ok;
    }
    if (values['csv'] === true) {
      io.stdout.write('strategy,memory,forwards,timeRatio\n');
      for (const r of rows) io.stdout.write(`${r.strategy},${r.budgetSlots},${r.forwards},${r.timeRatio}\n`);
      return EXIT.ok;
    }
    io.stdout.write(`Memory/compute frontier, T=${steps}, alpha=${alpha}, backward cost ${backwardCost}\n`);
    io.stdout.write(
      asciiChart(
        strategies.map((s) => ({
          name: s,
          points: rows
            .filter((r) => r.strategy === s)
            .map((r) => ({ x: r.budgetSlots / storeAll, y: r.timeRatio })),
        })),
        {
          xLabel: 'memory budget, share of store-all (log scale)',
          yLabel: 'time / store-all (log scale)',
          logX: true,
          logY: true,
          formatX: (x) => `${100 * x >= 10 ? (100 * x).toFixed(0) : (100 * x).toPrecision(2)}%`,
        },
      ),
    );
    return EXIT.ok;
  },
};
