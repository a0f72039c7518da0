import { memoryBudget, predict } from '@rewind/solver';
import { EXIT, formatBytes, plural } from '../args.js';
import type { Command } from './command.js';
import { PLAN_OPTIONS, planRequest } from './plan.js';

export const costCommand: Command = {
  name: 'cost',
  summary: 'predict forwards, memory and time of a strategy without writing a policy',
  usage: 'rewind cost --steps T --memory M [options] [--json]',
  description: 'Takes the options of `rewind plan`.',
  options: [
    ...PLAN_OPTIONS,
    {
      name: 'json',
      type: 'boolean',
      help: 'print one JSON object: strategy, steps, memory, forwards, backwards, peakMemory, timeRatio, ...',
    },
  ],
  async run({ io, values }) {
    const request = planRequest(values);
    const p = predict(request);
    const budget = memoryBudget(request.steps, request.memory, request.costModel);
    const summary = {
      strategy: p.strategy,
      steps: p.steps,
      memory: budget.bytes === undefined ? p.budgetSlots : null,
      memoryBytes: budget.bytes ?? null,
      forwards: p.forwards,
      backwards: p.backwards,
      peakMemory: p.peakSlots,
      peakBytes: p.peakBytes ?? null,
      time: p.time,
      timeRatio: p.timeRatio,
      memoryRatio: p.memoryRatio,
    };
    if (values['json'] === true) {
      io.stdout.write(`${JSON.stringify(summary)}\n`);
      return EXIT.ok;
    }
    const rows: [string, string][] = [
      ['strategy', String(p.strategy)],
      ['steps', String(p.steps)],
      ['forwards', `${p.forwards} (store-all: ${p.steps})`],
      ['backwards', String(p.backwards)],
      [
        'peak memory',
        `${plural(p.peakSlots, 'slot')}${p.peakBytes === undefined ? '' : ` (${formatBytes(p.peakBytes)})`}`,
      ],
      ['memory vs store-all', `${(100 * p.memoryRatio).toFixed(2)}%`],
      ['time vs store-all', `${p.timeRatio.toFixed(3)}x`],
    ];
    for (const [k, val] of rows) io.stdout.write(`${k.padEnd(20)} ${val}\n`);
    return EXIT.ok;
  },
};
