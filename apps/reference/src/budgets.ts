/** Budgets for frontier sweeps: one list, used by `rewind frontier`, `rewind report` and `rewind bench`. */

/**
 * `points` budgets in slots, log-spaced from 2 slots up to `storeAll` slots, rounded to 0.01 slot,
 * duplicates dropped.
 */
export function logBudgets(storeAll: number, points: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < points; i++) {
    const b = Math.round(2 * (storeAll / 2) ** (i / Math.max(1, points - 1)) * 100) / 100;
    if (out.at(-1) !== b) out.push(b);
  }
  return out;
}
