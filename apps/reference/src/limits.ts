/**
 * How much work a command takes on: sizes beyond these are refused before any work, with the limit named
 * (each is about half a minute or less on a 2-core machine, or a memory bound).
 */
import { DEFAULT_LIMITS } from '@rewind/policy';
import { UsageError } from './args.js';

export const LIMITS = {
  /** Sequence length of planning commands (the solver's own limit). */
  planSteps: 10_000_000,
  /** Instructions of a policy `rewind plan` writes (about 100 MB of JSON). */
  planInstructions: 2_000_000,
  /** ISM/MSM frontiers (frontier, report): `steps * (1 + steps * alpha)` at most this. */
  frontierWork: 2e9,
  /** Chen-sqrt frontiers: its planner tries every segment length. */
  chenSqrtSteps: 1_000_000,
  /** Budgets of one frontier. */
  frontierPoints: 1000,
  /** Sequence length, batch, hidden size and iterations of training. */
  trainSteps: 100_000,
  batch: 4096,
  hidden: 4096,
  iterations: 1_000_000,
  /** Interleaved rounds of `rewind bench`. */
  rounds: 1000,
  /** Bytes read from a policy file or standard input (the policy format's reading limit). */
  policyBytes: DEFAULT_LIMITS.maxBytes,
  /** Bytes read from a training text. */
  textBytes: 64 * 2 ** 20,
  /** Bytes read from a `--bench` or `--train` JSON file. */
  jsonBytes: 64 * 2 ** 20,
} as const;

/**
 * Refuse an ISM/MSM frontier too large to finish in reasonable time (its dynamic program grows with
 * `steps * (1 + steps * alpha)`).
 */
export function checkFrontierSize(
  steps: number,
  alpha: number,
  strategies: readonly string[],
  hint = "plan single budgets with 'rewind cost', or leave ism and msm out of --strategies",
): void {
  const work = steps * (1 + steps * alpha);
  const heavy = strategies.filter((s) => s === 'ism' || s === 'msm');
  if (heavy.length > 0 && work > LIMITS.frontierWork) {
    const max = Math.floor((-1 + Math.sqrt(1 + 4 * alpha * LIMITS.frontierWork)) / (2 * alpha));
    throw new UsageError(
      'E_TOO_LARGE',
      `--steps ${steps} is too large for the ${heavy.join(' and ')} frontier at alpha ${alpha}: the limit is steps * (1 + steps * alpha) <= ${LIMITS.frontierWork.toExponential(0).replace('+', '')}, i.e. --steps <= ${max}; ${hint}`,
    );
  }
  if (strategies.includes('chen-sqrt') && steps > LIMITS.chenSqrtSteps) {
    throw new UsageError(
      'E_TOO_LARGE',
      `--steps ${steps} is too large for the chen-sqrt frontier: the limit is ${LIMITS.chenSqrtSteps}; leave chen-sqrt out of --strategies`,
    );
  }
}

/**
 * Seconds an ism/msm frontier may take on a 2-core machine: msm about 1 s per 1.3e8 of
 * `steps * (1 + steps * alpha)`, ism about a fifth of that (measured with alpha 4.5 and e; alpha 1 is
 * several times faster).
 */
export function frontierSeconds(steps: number, alpha: number, strategies: readonly string[]): number {
  const weight = (strategies.includes('msm') ? 1 : 0) + (strategies.includes('ism') ? 0.2 : 0);
  return (weight * steps * (1 + steps * alpha)) / 1.3e8;
}
