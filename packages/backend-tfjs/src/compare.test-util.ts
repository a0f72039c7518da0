import type { GradientReadout } from '@rewind/executor';
import { expect } from 'vitest';

/** `max |a - b| / max(1, max |b|)`. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

/** The largest `relError` over every gradient array `expected` holds (parameters, inputs, initial state). */
export function worstGradientError(actual: GradientReadout, expected: GradientReadout): number {
  let worst = 0;
  for (const [name, values] of Object.entries(expected.parameters)) {
    const mine = actual.parameters[name];
    expect(mine, `gradient of ${name}`).toBeDefined();
    worst = Math.max(worst, relError(mine as ArrayLike<number>, values));
  }
  if (expected.inputs !== undefined && actual.inputs !== undefined) {
    worst = Math.max(worst, relError(actual.inputs, expected.inputs));
  }
  if (expected.initialState !== undefined && actual.initialState !== undefined) {
    worst = Math.max(worst, relError(actual.initialState, expected.initialState));
  }
  return worst;
}
