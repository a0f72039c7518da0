import { issue, PolicyError, type PolicyErrorCode, type PolicyIssue } from './errors.js';
import type { Policy } from './types.js';

/**
 * Memory over time, as change points: once `time[i]` step computations (forwards and backwards) had run,
 * `hidden[i]` hidden and `internal[i]` internal checkpoints were held.
 */
export interface MemoryProfile {
  readonly time: Float64Array;
  readonly hidden: Int32Array;
  readonly internal: Int32Array;
}

/** What the replay counted. */
export interface Counted {
  readonly forwards: number;
  readonly backwards: number;
  /** Peak live memory in slots: hidden checkpoints + alpha * internal checkpoints. */
  readonly peakSlots: number;
  /** Peak live memory in bytes, when the policy has `stateBytes`. */
  readonly peakBytes?: number;
  /** Hidden and internal checkpoints held at the (first) peak. */
  readonly peakHidden: number;
  readonly peakInternal: number;
}

/** The outcome of `verify`. */
export type VerifyReport =
  | { readonly ok: true; readonly counted: Counted; readonly profile?: MemoryProfile }
  | { readonly ok: false; readonly issue: PolicyIssue; readonly counted: Counted };

/** Options of `verify`. */
export interface VerifyOptions {
  /** Record the memory profile (default true). */
  readonly profile?: boolean;
  /** Skip the comparison of the header's totals with the counted ones (default false). */
  readonly skipTotals?: boolean;
}

/** Relative tolerance of slot comparisons (slots are real because alpha is). */
const SLOT_TOLERANCE = 1e-9;

/** A slot count for a message: 12 significant digits (no float noise such as 50.050000000000004), "1 slot". */
function readable(slots: number): string {
  return `${Number(slots.toPrecision(12))} ${slots === 1 ? 'slot' : 'slots'}`;
}

/**
 * The slot comparison of docs/policy-format.md 2.4: `a <= b` up to the relative tolerance, evaluated in IEEE
 * double arithmetic exactly as written: `a <= b + 1e-9 * max(1, |b|)`.
 */
export function slotsWithin(a: number, b: number): boolean {
  return a <= b + SLOT_TOLERANCE * Math.max(1, Math.abs(b));
}

class Growable {
  time = new Float64Array(1024);
  hidden = new Int32Array(1024);
  internal = new Int32Array(1024);
  length = 0;

  push(time: number, hidden: number, internal: number): void {
    const n = this.length;
    if (n > 0 && this.time[n - 1] === time) {
      this.hidden[n - 1] = hidden;
      this.internal[n - 1] = internal;
      return;
    }
    if (n === this.time.length) {
      const grow = <A extends Float64Array | Int32Array>(a: A, make: (n: number) => A): A => {
        const b = make(n * 2);
        b.set(a);
        return b;
      };
      this.time = grow(this.time, (k) => new Float64Array(k));
      this.hidden = grow(this.hidden, (k) => new Int32Array(k));
      this.internal = grow(this.internal, (k) => new Int32Array(k));
    }
    this.time[n] = time;
    this.hidden[n] = hidden;
    this.internal[n] = internal;
    this.length = n + 1;
  }

  done(): MemoryProfile {
    return {
      time: this.time.slice(0, this.length),
      hidden: this.hidden.slice(0, this.length),
      internal: this.internal.slice(0, this.length),
    };
  }
}

/**
 * Replay a structurally valid policy (see `validate`) on the abstract machine of docs/policy-format.md and
 * prove it: every backward step runs once, in order `T..1`; every forward and backward has the state it
 * needs; live memory never exceeds the budget; the header's totals equal what was counted. Iterative and
 * linear in `steps` plus the number of instructions.
 */
export function verify(policy: Policy, options: VerifyOptions = {}): VerifyReport {
  const T = policy.steps;
  const alpha = policy.costModel.alpha;
  const sb = policy.stateBytes;
  const budgetSlots = policy.budget.slots;
  const budgetBytes = sb === undefined ? undefined : policy.budget.bytes;
  const hidden = new Uint8Array(T + 1);
  const internal = new Uint8Array(T + 1);
  const profile = options.profile === false ? undefined : new Growable();

  let nh = 1;
  let ni = 0;
  hidden[0] = 1;
  let next = T;
  let working = -1;
  let forwards = 0;
  let backwards = 0;
  let peakSlots = 0;
  let peakBytes = 0;
  let peakHidden = 0;
  let peakInternal = 0;
  // Positions at and above these were released by rule 2.2.3 already.
  let sweptHidden = T + 1;
  let sweptInternal = T + 1;

  const counted = (): Counted => {
    const c: { -readonly [K in keyof Counted]: Counted[K] } = {
      forwards,
      backwards,
      peakSlots,
      peakHidden,
      peakInternal,
    };
    if (sb !== undefined) c.peakBytes = peakBytes;
    return c;
  };
  const failure = (code: PolicyErrorCode, path: string, message: string, found?: unknown): VerifyReport => ({
    ok: false,
    issue: issue(code, 'verify', path, message, found === undefined ? {} : { found }),
    counted: counted(),
  });
  /** Account for the current live memory; false when it exceeds the budget. */
  const account = (ahead = 0): boolean => {
    const slots = nh + ni * alpha;
    const bytes = sb === undefined ? 0 : nh * sb.hidden + ni * sb.internal;
    if (slots > peakSlots) {
      peakSlots = slots;
      peakHidden = nh;
      peakInternal = ni;
    }
    if (bytes > peakBytes) peakBytes = bytes;
    profile?.push(forwards + backwards + ahead, nh, ni);
    return slotsWithin(slots, budgetSlots) && (budgetBytes === undefined || bytes <= budgetBytes);
  };
  const overBudget = (path: string): VerifyReport => {
    const slots = nh + ni * alpha;
    const held = `with ${nh} hidden and ${ni} internal checkpoints held`;
    if (sb === undefined || !slotsWithin(slots, budgetSlots)) {
      const bytes = sb === undefined ? '' : ` (${nh * sb.hidden + ni * sb.internal} bytes)`;
      return failure(
        'E_VERIFY_BUDGET',
        path,
        `live memory ${readable(slots)}${bytes} exceeds the budget of ${readable(budgetSlots)} ${held}`,
        slots,
      );
    }
    const bytes = nh * sb.hidden + ni * sb.internal;
    return failure(
      'E_VERIFY_BUDGET',
      path,
      `live memory ${bytes} bytes (${nh} x ${sb.hidden} hidden + ${ni} x ${sb.internal} internal) exceeds the budget of ${budgetBytes} bytes ${held}`,
      bytes,
    );
  };

  // The initial state's slot counts against every budget.
  if (!account()) {
    const slotsFit = slotsWithin(1, budgetSlots);
    return overBudget(slotsFit ? '/budget/bytes' : '/budget/slots');
  }

  const list = policy.instructions;
  for (let i = 0; i < list.length; i++) {
    const ins = list[i]!;
    const at = `/instructions/${i}`;
    if (ins.op === 'forward') {
      const { from, to } = ins;
      if (hidden[from] !== 1 && internal[from] !== 1) {
        return failure('E_VERIFY_NO_SOURCE', `${at}/from`, `no checkpoint is held at position ${from}`, from);
      }
      if (ins.store !== undefined) {
        const kind = ins.store;
        const stride = ins.stride ?? to - from;
        const held = kind === 'hidden' ? hidden : internal;
        const lastAlive = kind === 'hidden' ? next - 1 : next;
        for (let p = from + stride; p <= to; p += stride) {
          if (held[p] === 1) {
            return failure(
              'E_VERIFY_HELD',
              at,
              `${kind === 'hidden' ? 'a' : 'an'} ${kind} checkpoint at position ${p} is already held`,
              p,
            );
          }
          if (p > lastAlive) {
            return failure(
              'E_VERIFY_DEAD',
              at,
              `${kind === 'hidden' ? 'a' : 'an'} ${kind} checkpoint at position ${p} could never be used: the next backward step is ${next}`,
              p,
            );
          }
          held[p] = 1;
          if (kind === 'hidden') nh++;
          else ni++;
          // Accounted at the moment step p has been computed.
          const fits = account(p - from);
          if (!fits) return overBudget(at);
        }
      }
      forwards += to - from;
      working = to;
      continue;
    }
    if (ins.op === 'backward') {
      const { from, to } = ins;
      if (from !== next) {
        return failure(
          'E_VERIFY_ORDER',
          `${at}/from`,
          next === 0
            ? `every backward step has already run; found a backward from ${from}`
            : `the next backward step is ${next}, found a backward from ${from}`,
          from,
        );
      }
      for (let t = from; t >= to; t--) {
        if (internal[t] !== 1 && !(t === from && working === from)) {
          if (hidden[t - 1] === 1 || internal[t - 1] === 1) forwards++;
          else {
            return failure(
              'E_VERIFY_NO_STATE',
              at,
              `backward step ${t} needs its internal state: none is held, and no state is held at position ${t - 1} to recompute it from`,
              t,
            );
          }
        }
        backwards++;
        next = t - 1;
        let changed = false;
        for (let p = sweptHidden - 1; p >= t - 1; p--) {
          if (hidden[p] === 1) {
            hidden[p] = 0;
            nh--;
            changed = true;
          }
        }
        if (t - 1 < sweptHidden) sweptHidden = t - 1;
        for (let p = sweptInternal - 1; p >= t; p--) {
          if (internal[p] === 1) {
            internal[p] = 0;
            ni--;
            changed = true;
          }
        }
        if (t < sweptInternal) sweptInternal = t;
        if (changed) account();
      }
      working = -1;
      continue;
    }
    const held = ins.kind === 'hidden' ? hidden : internal;
    if (held[ins.at] !== 1) {
      return failure(
        'E_VERIFY_NOT_HELD',
        `${at}/at`,
        `no ${ins.kind} checkpoint is held at position ${ins.at}`,
        ins.at,
      );
    }
    held[ins.at] = 0;
    if (ins.kind === 'hidden') nh--;
    else ni--;
    account();
    working = -1;
  }

  if (next !== 0) {
    return failure(
      'E_VERIFY_INCOMPLETE',
      '/instructions',
      `the policy ends with backward steps ${next}..1 not run`,
      next,
    );
  }
  if (options.skipTotals !== true) {
    const t = policy.totals;
    const mismatch = (key: string, claimed: number, actual: number): VerifyReport =>
      failure(
        'E_VERIFY_TOTALS',
        `/totals/${key}`,
        `the header says ${claimed}, the replay counted ${actual}`,
        claimed,
      );
    if (t.forwards !== forwards) return mismatch('forwards', t.forwards, forwards);
    if (t.backwards !== backwards) return mismatch('backwards', t.backwards, backwards);
    if (!slotsWithin(t.peakSlots, peakSlots) || !slotsWithin(peakSlots, t.peakSlots)) {
      return mismatch('peakSlots', t.peakSlots, peakSlots);
    }
    if (sb === undefined && t.peakBytes !== undefined) {
      return failure(
        'E_VERIFY_TOTALS',
        '/totals/peakBytes',
        'the header gives peakBytes, but without stateBytes the replay counts no bytes',
        t.peakBytes,
      );
    }
    if (sb !== undefined && t.peakBytes === undefined) {
      return failure(
        'E_VERIFY_TOTALS',
        '/totals/peakBytes',
        `the header has stateBytes but no peakBytes; the replay counted ${peakBytes}`,
      );
    }
    if (sb !== undefined && t.peakBytes !== peakBytes)
      return mismatch('peakBytes', t.peakBytes ?? 0, peakBytes);
  }
  const c = counted();
  return profile === undefined ? { ok: true, counted: c } : { ok: true, counted: c, profile: profile.done() };
}

/** Verify and throw a `PolicyError` on failure; returns what was counted. */
export function assertVerified(policy: Policy, options?: VerifyOptions): Counted {
  const report = verify(policy, { profile: false, ...options });
  if (!report.ok) throw new PolicyError([report.issue]);
  return report.counted;
}
