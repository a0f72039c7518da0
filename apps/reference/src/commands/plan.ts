import { encodeBinary, encodeJson } from '@rewind/policy';
import { type MemorySpec, type PlanRequest, plan, STRATEGIES, type StrategyName } from '@rewind/solver';
import {
  EXIT,
  formatNumber,
  parseChoice,
  parseCount,
  parseMemory,
  parseReal,
  parseStateBytes,
  UsageError,
} from '../args.js';
import { LIMITS } from '../limits.js';
import { type Command, type OptionSpec, str, type Values } from './command.js';

/** The options of `plan` and `cost`. */
export const PLAN_OPTIONS: readonly OptionSpec[] = [
  { name: 'steps', type: 'string', value: 'T', help: `sequence length, 1 to ${LIMITS.planSteps} (required)` },
  {
    name: 'memory',
    type: 'string',
    value: 'M',
    help: 'budget: slots (120), bytes with a unit (64MiB, needs --state-bytes), or a share of the store-all memory, > 0% and <= 100% (5%) (required)',
  },
  { name: 'strategy', type: 'string', value: 'S', help: `${STRATEGIES.join(' | ')} (default auto)` },
  {
    name: 'alpha',
    type: 'string',
    value: 'A',
    help: 'internal-state size over hidden-state size, >= 1 (default 1, or INTERNAL / HIDDEN of --state-bytes)',
  },
  {
    name: 'backward-cost',
    type: 'string',
    value: 'B',
    help: 'cost of a backward step in forward steps, >= 0 (default 2)',
  },
  {
    name: 'state-bytes',
    type: 'string',
    value: 'H[:I]',
    help: 'bytes of a hidden (and internal) checkpoint; I defaults to ceil(H * alpha)',
  },
];

/** Build the solver request from plan/cost options (validated; nothing is planned). */
export function planRequest(v: Values): PlanRequest {
  const steps = parseCount('steps', str(v, 'steps'), undefined, { max: LIMITS.planSteps });
  const alphaText = str(v, 'alpha');
  const alpha = parseReal('alpha', alphaText, 1, { min: 1, max: 1e6 });
  const backwardCost = parseReal('backward-cost', str(v, 'backward-cost'), 2, { min: 0, max: 1e6 });
  const strategy = parseChoice<StrategyName>('strategy', str(v, 'strategy') ?? 'auto', STRATEGIES);
  const memoryText = str(v, 'memory');
  if (memoryText === undefined) throw new UsageError('E_MISSING', '--memory is required');
  const memory = parseMemory(memoryText);
  const stateBytesText = str(v, 'state-bytes');
  const stateBytes = stateBytesText === undefined ? undefined : parseStateBytes(stateBytesText, alpha);
  if (stateBytes !== undefined && alphaText !== undefined) {
    const implied = stateBytes.internal / stateBytes.hidden;
    if (Math.abs(implied - alpha) > 1e-9 * implied) {
      throw new UsageError(
        'E_ALPHA',
        `--alpha ${alphaText} contradicts --state-bytes ${stateBytesText} (INTERNAL / HIDDEN = ${formatNumber(implied)}): give --alpha ${formatNumber(implied)} or leave --alpha out`,
      );
    }
  }
  let spec: MemorySpec;
  switch (memory.kind) {
    case 'bytes':
      if (stateBytes === undefined) {
        throw new UsageError('E_STATE_BYTES', `--memory ${memoryText} is in bytes: give --state-bytes too`);
      }
      spec = { bytes: memory.bytes, stateBytes };
      break;
    case 'percent':
      spec = { share: memory.percent / 100, ...(stateBytes === undefined ? {} : { stateBytes }) };
      break;
    case 'slots':
      spec =
        stateBytes === undefined
          ? { slots: memory.slots }
          : { bytes: Math.floor(memory.slots * stateBytes.hidden), stateBytes };
      break;
  }
  // With state sizes, alpha is theirs (INTERNAL / HIDDEN); the solver takes it from them.
  const costModel = stateBytes === undefined ? { alpha, backwardCost } : { backwardCost };
  return { steps, memory: spec, strategy, costModel };
}

export const planCommand: Command = {
  name: 'plan',
  summary: 'plan the optimal schedule for a sequence length and memory budget, write a policy',
  usage: 'rewind plan --steps T --memory M [options]',
  options: [
    ...PLAN_OPTIONS,
    { name: 'format', type: 'string', value: 'F', help: 'json | binary (default json)' },
    {
      name: 'out',
      type: 'string',
      value: 'FILE',
      help: 'write the policy there (atomically) instead of standard output',
    },
  ],
  notes: `Policies of more than ${LIMITS.planInstructions} instructions are refused (E_TOO_LARGE).`,
  async run({ io, values }) {
    const request = planRequest(values);
    const format = parseChoice('format', str(values, 'format') ?? 'json', ['json', 'binary'] as const);
    const out = str(values, 'out');
    if (out !== undefined) await io.checkOutput(out, 'file');
    if (format === 'binary' && out === undefined && io.stdout.isTTY === true) {
      throw new UsageError(
        'E_TTY',
        'refusing to write a binary policy to a terminal: use --out FILE or a pipe',
      );
    }
    const policy = plan({ ...request, maxInstructions: LIMITS.planInstructions });
    const data = format === 'json' ? `${encodeJson(policy)}\n` : encodeBinary(policy);
    if (out === undefined) io.stdout.write(data);
    else {
      await io.writeFile(out, data);
      const t = policy.totals;
      io.stderr.write(
        `wrote ${out}: ${policy.strategy}, T=${policy.steps}, ${t.forwards} forwards, peak ${formatNumber(t.peakSlots)} slots, ${policy.instructions.length} instructions, ${data.length} bytes\n`,
      );
    }
    return EXIT.ok;
  },
};
