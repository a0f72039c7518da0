// Deterministic helpers for tests and benchmarks: a seeded PRNG, generators of valid policies (random ones
// built by simulating the abstract machine, and compact bisection schedules for huge T), mutations that make a
// policy invalid, and an independent reference replay of docs/policy-format.md section 2 to cross-check
// `verify` against.

import type { PolicyErrorCode } from './errors.js';
import {
  FORMAT_NAME,
  FORMAT_VERSION,
  type ForwardInstruction,
  type Instruction,
  type JsonValue,
  type Policy,
  type StateBytes,
  type StoreKind,
} from './types.js';

// ---------------------------------------------------------------------------------------------------------
// Seeded PRNG

/** A deterministic pseudo-random number generator. */
export interface Rng {
  /** The seed this generator was created with. */
  readonly seed: number;
  /** A uniform 32-bit unsigned integer. */
  uint32(): number;
  /** A uniform float in `[0, 1)`. */
  next(): number;
  /** A uniform integer in `lo ..= hi` (inclusive); `lo` when `hi < lo`. */
  int(lo: number, hi: number): number;
  /** `true` with probability `p` (default 0.5). */
  bool(p?: number): boolean;
  /** A uniform element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** A new generator seeded from this one, so that sub-tasks draw independent streams. */
  fork(): Rng;
}

/** Hash a string seed to 32 bits (FNV-1a). */
function hashSeed(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A seeded PRNG (sfc32 seeded by splitmix32): the same seed gives the same stream on every platform.
 * A string seed is hashed; a number seed is reduced to 32 bits.
 */
export function createRng(seed: number | string): Rng {
  const seed32 =
    typeof seed === 'string' ? hashSeed(seed) : Number.isFinite(seed) ? Math.trunc(seed) >>> 0 : 0;
  let s = seed32;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = 1;
  const uint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) uint32();
  const next = (): number => uint32() / 4294967296;
  const rng: Rng = {
    seed: seed32,
    uint32,
    next,
    int(lo, hi) {
      if (hi <= lo) return lo;
      return lo + Math.floor(next() * (hi - lo + 1));
    },
    bool(p = 0.5) {
      return next() < p;
    },
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick: empty array');
      return items[Math.floor(next() * items.length)] as T;
    },
    fork() {
      return createRng(uint32());
    },
  };
  return rng;
}

// ---------------------------------------------------------------------------------------------------------
// Reference replay of the abstract machine (docs/policy-format.md section 2)

/** Relative tolerance for slot comparisons (section 2.4). */
const SLOT_TOLERANCE = 1e-9;

function slotsAtMost(value: number, limit: number): boolean {
  return value <= limit || value - limit <= SLOT_TOLERANCE * Math.max(Math.abs(value), Math.abs(limit));
}

function slotsEqual(a: number, b: number): boolean {
  return slotsAtMost(a, b) && slotsAtMost(b, a);
}

class MachineError extends Error {
  constructor(
    readonly code: PolicyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The abstract machine, with an optional budget. Throws `MachineError` on a rule violation. */
class Machine {
  readonly hidden: Uint8Array;
  readonly internal: Uint8Array;
  nHidden = 1;
  nInternal = 0;
  next: number;
  working = -1;
  forwards = 0;
  backwards = 0;
  peakSlots: number;
  peakBytes: number;
  peakHidden = 1;
  peakInternal = 0;

  constructor(
    readonly steps: number,
    readonly alpha: number,
    readonly stateBytes: StateBytes | undefined,
    readonly slotBudget: number,
    readonly byteBudget: number,
  ) {
    this.hidden = new Uint8Array(steps + 1);
    this.internal = new Uint8Array(steps + 1);
    this.hidden[0] = 1;
    this.next = steps;
    this.peakSlots = 1;
    this.peakBytes = stateBytes ? stateBytes.hidden : 0;
  }

  held(p: number): boolean {
    return this.hidden[p] === 1 || this.internal[p] === 1;
  }

  slots(): number {
    return this.nHidden + this.alpha * this.nInternal;
  }

  bytes(): number {
    const sb = this.stateBytes;
    return sb ? this.nHidden * sb.hidden + this.nInternal * sb.internal : 0;
  }

  private store(kind: StoreKind, p: number): void {
    const isHidden = kind === 'hidden';
    const flags = isHidden ? this.hidden : this.internal;
    if (flags[p] === 1)
      throw new MachineError('E_VERIFY_HELD', `a ${kind} checkpoint at ${p} is already held`);
    if (p > (isHidden ? this.next - 1 : this.next)) {
      throw new MachineError('E_VERIFY_DEAD', `a ${kind} checkpoint at ${p} is dead (next = ${this.next})`);
    }
    flags[p] = 1;
    if (isHidden) this.nHidden++;
    else this.nInternal++;
    const slots = this.slots();
    const bytes = this.bytes();
    if (!slotsAtMost(slots, this.slotBudget) || bytes > this.byteBudget) {
      throw new MachineError('E_VERIFY_BUDGET', `storing ${kind} at ${p} exceeds the budget`);
    }
    if (slots > this.peakSlots) this.peakSlots = slots;
    if (bytes > this.peakBytes) this.peakBytes = bytes;
    if (this.nHidden > this.peakHidden) this.peakHidden = this.nHidden;
    if (this.nInternal > this.peakInternal) this.peakInternal = this.nInternal;
  }

  private release(kind: StoreKind, p: number): void {
    if (kind === 'hidden') {
      if (this.hidden[p] === 1) {
        this.hidden[p] = 0;
        this.nHidden--;
      }
    } else if (this.internal[p] === 1) {
      this.internal[p] = 0;
      this.nInternal--;
    }
  }

  apply(ins: Instruction): void {
    const T = this.steps;
    switch (ins.op) {
      case 'forward': {
        const { from: a, to: b } = ins;
        if (!(Number.isSafeInteger(a) && Number.isSafeInteger(b) && 0 <= a && a < b && b <= T)) {
          throw new MachineError('E_RANGE', `forward ${a} -> ${b} is out of range`);
        }
        if (!this.held(a)) throw new MachineError('E_VERIFY_NO_SOURCE', `the state at ${a} is not held`);
        this.forwards += b - a;
        if (ins.store !== undefined) {
          const k = ins.stride ?? b - a;
          if (!(Number.isSafeInteger(k) && k >= 1 && k <= b - a)) {
            throw new MachineError('E_RANGE', `stride ${k} is out of range`);
          }
          for (let p = a + k; p <= b; p += k) this.store(ins.store, p);
        } else if (ins.stride !== undefined) {
          throw new MachineError('E_REQUIRED', 'a stride without a store');
        }
        this.working = b;
        return;
      }
      case 'backward': {
        const { from: b, to: a } = ins;
        if (!(Number.isSafeInteger(a) && Number.isSafeInteger(b) && 1 <= a && a <= b && b <= T)) {
          throw new MachineError('E_RANGE', `backward ${b} -> ${a} is out of range`);
        }
        if (b !== this.next)
          throw new MachineError('E_VERIFY_ORDER', `backward from ${b} but next = ${this.next}`);
        for (let t = b; t >= a; t--) {
          if (this.internal[t] === 1 || (t === b && this.working === b)) {
            // taken as it is
          } else if (this.held(t - 1)) {
            this.forwards += 1;
          } else {
            throw new MachineError('E_VERIFY_NO_STATE', `no internal state for backward step ${t}`);
          }
          this.backwards += 1;
          this.next = t - 1;
          // Hidden checkpoints live at <= next - 1 and internal ones at <= next, so only these can die.
          this.release('hidden', t - 1);
          this.release('internal', t);
        }
        this.working = -1;
        return;
      }
      case 'free': {
        const p = ins.at;
        if (!(Number.isSafeInteger(p) && p >= 0 && p <= T)) {
          throw new MachineError('E_RANGE', `free at ${p} is out of range`);
        }
        const flags = ins.kind === 'hidden' ? this.hidden : this.internal;
        if (flags[p] !== 1) throw new MachineError('E_VERIFY_NOT_HELD', `no ${ins.kind} checkpoint at ${p}`);
        this.release(ins.kind, p);
        this.working = -1;
        return;
      }
      default:
        throw new MachineError('E_ENUM', 'unknown op');
    }
  }
}

/** What `simulatePolicy` found. */
export interface SimulationResult {
  /** Whether the policy runs to completion within its budget and its totals match. */
  readonly ok: boolean;
  /** The first violation: its code, the index of the instruction (`-1` for the end checks), a message. */
  readonly error?: { readonly code: PolicyErrorCode; readonly index: number; readonly message: string };
  readonly forwards: number;
  readonly backwards: number;
  readonly peakSlots: number;
  /** Present when the policy has `stateBytes`. */
  readonly peakBytes?: number;
  readonly peakHidden: number;
  readonly peakInternal: number;
}

/**
 * Replay a policy on the abstract machine of docs/policy-format.md section 2: an implementation independent of
 * `verify`, for cross-checking it. Assumes a structurally valid policy (out-of-range positions are reported
 * with `E_RANGE`). With `checkTotals: false`, the header's totals are not compared.
 */
export function simulatePolicy(policy: Policy, options: { checkTotals?: boolean } = {}): SimulationResult {
  const sb = policy.stateBytes;
  const m = new Machine(
    policy.steps,
    policy.costModel.alpha,
    sb,
    policy.budget.slots,
    sb !== undefined && policy.budget.bytes !== undefined ? policy.budget.bytes : Number.POSITIVE_INFINITY,
  );
  let error: SimulationResult['error'];
  const list = policy.instructions;
  for (let i = 0; i < list.length && error === undefined; i++) {
    try {
      m.apply(list[i]!);
    } catch (e) {
      if (!(e instanceof MachineError)) throw e;
      error = { code: e.code, index: i, message: e.message };
    }
  }
  if (error === undefined && m.next !== 0) {
    error = { code: 'E_VERIFY_INCOMPLETE', index: -1, message: `the pass ends with next = ${m.next}` };
  }
  if (error === undefined && options.checkTotals !== false) {
    const t = policy.totals;
    const bytesOk = sb === undefined ? t.peakBytes === undefined : t.peakBytes === m.peakBytes;
    if (
      t.forwards !== m.forwards ||
      t.backwards !== m.backwards ||
      !slotsEqual(t.peakSlots, m.peakSlots) ||
      !bytesOk
    ) {
      error = { code: 'E_VERIFY_TOTALS', index: -1, message: 'the header totals differ from the replay' };
    }
  }
  const base = {
    ok: error === undefined,
    forwards: m.forwards,
    backwards: m.backwards,
    peakSlots: m.peakSlots,
    peakHidden: m.peakHidden,
    peakInternal: m.peakInternal,
  };
  const withBytes = sb === undefined ? base : { ...base, peakBytes: m.peakBytes };
  return error === undefined ? withBytes : { ...withBytes, error };
}

// ---------------------------------------------------------------------------------------------------------
// Policy assembly

/** Options shared by the generators. */
export interface GeneratorOptions {
  /** `costModel.alpha`; the generators draw or default it when absent. */
  readonly alpha?: number;
  /** State sizes: an object, `true` for drawn sizes, `false` for none. */
  readonly stateBytes?: StateBytes | boolean;
  /** The `strategy` field. */
  readonly strategy?: string;
  /** `meta` of the policy; `false` for none. */
  readonly meta?: { readonly [key: string]: JsonValue } | false;
  /** Budget above the peak: `slots = peakSlots * (1 + budgetSlack)`. Default 0 (the budget is the peak). */
  readonly budgetSlack?: number;
}

function assemble(
  m: Machine,
  instructions: Instruction[],
  header: {
    strategy: string;
    forwardCost: number;
    backwardCost: number;
    slack: number;
    bytesSlack: number | undefined;
    meta: { readonly [key: string]: JsonValue } | undefined;
  },
): Policy {
  const sb = m.stateBytes;
  const slots = header.slack > 0 ? m.peakSlots * (1 + header.slack) : m.peakSlots;
  const budget =
    sb !== undefined && header.bytesSlack !== undefined
      ? { slots, bytes: m.peakBytes + Math.round(header.bytesSlack * m.peakBytes) }
      : { slots };
  const totals = {
    forwards: m.forwards,
    backwards: m.backwards,
    peakSlots: m.peakSlots,
    ...(sb !== undefined ? { peakBytes: m.peakBytes } : {}),
  };
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    steps: m.steps,
    strategy: header.strategy,
    costModel: { alpha: m.alpha, forwardCost: header.forwardCost, backwardCost: header.backwardCost },
    budget,
    ...(sb !== undefined ? { stateBytes: { hidden: sb.hidden, internal: sb.internal } } : {}),
    totals,
    ...(header.meta !== undefined ? { meta: header.meta } : {}),
    instructions,
  };
}

function checkSteps(steps: number, who: string): void {
  if (!Number.isSafeInteger(steps) || steps < 1)
    throw new RangeError(`${who}: steps must be an integer >= 1`);
}

function resolveStateBytes(
  option: StateBytes | boolean | undefined,
  rng: Rng | undefined,
): StateBytes | undefined {
  if (option === undefined) {
    if (rng === undefined || !rng.bool()) return undefined;
    return drawStateBytes(rng);
  }
  if (option === false) return undefined;
  if (option === true) return rng ? drawStateBytes(rng) : { hidden: 4096, internal: 16384 };
  return option;
}

function drawStateBytes(rng: Rng): StateBytes {
  const hidden = rng.int(1, 1 << 20);
  return { hidden, internal: hidden * rng.int(1, 6) + rng.int(0, 1023) };
}

// ---------------------------------------------------------------------------------------------------------
// Random valid policies

/** Options of `randomPolicy`. */
export interface RandomPolicyOptions extends GeneratorOptions {
  /** `T`, the number of steps (>= 1). */
  readonly steps: number;
  /** Most checkpoints one forward may store (default 32). */
  readonly maxStoresPerForward?: number;
  /** Probability of a `free` when one is possible (default 0.1). */
  readonly freeProbability?: number;
}

/** The highest held position `<= x`, or -1. */
function heldAtOrBelow(m: Machine, x: number): number {
  for (let p = x; p >= 0; p--) if (m.held(p)) return p;
  return -1;
}

/** A held position `< next`, drawn at random (biased toward nearby ones). */
function pickSource(m: Machine, rng: Rng): number {
  const top = m.next - 1;
  if (rng.bool(0.5)) {
    const p = heldAtOrBelow(m, top);
    if (p >= 0) return p;
  }
  const p = heldAtOrBelow(m, rng.int(0, top));
  if (p >= 0) return p;
  return heldAtOrBelow(m, top);
}

/** Whether every store of `forward a -> b` with `kind` and stride `k` is allowed (in either reading of "held"). */
function storesAllowed(m: Machine, kind: StoreKind, a: number, b: number, k: number): boolean {
  const limit = kind === 'hidden' ? m.next - 1 : m.next;
  for (let p = a + k; p <= b; p += k) {
    if (p > limit || m.held(p)) return false;
  }
  return true;
}

/** A random forward from a held source; stores only alive, not held positions. */
function randomForward(m: Machine, rng: Rng, maxStores: number): ForwardInstruction {
  const T = m.steps;
  const a = pickSource(m, rng);
  let b: number;
  if (m.next < T && rng.bool(0.02))
    b = rng.int(a + 1, T); // a forward whose result is never used: valid
  else if (rng.bool(0.6)) b = m.next;
  else b = rng.int(a + 1, m.next);
  if (b > m.next || !rng.bool(0.75)) return { op: 'forward', from: a, to: b };

  const span = b - a;
  const kinds: StoreKind[] = rng.bool() ? ['hidden', 'internal'] : ['internal', 'hidden'];
  for (const kind of kinds) {
    // Either the default stride (only `b`), or an explicit one storing at most maxStores checkpoints.
    const minStride = Math.max(1, Math.ceil(span / maxStores));
    const choices: (number | undefined)[] = [undefined, rng.int(minStride, span), span];
    for (const stride of rng.bool() ? choices : choices.reverse()) {
      if (storesAllowed(m, kind, a, b, stride ?? span)) {
        return stride === undefined
          ? { op: 'forward', from: a, to: b, store: kind }
          : { op: 'forward', from: a, to: b, store: kind, stride };
      }
    }
    // Storing up to b is impossible (e.g. a hidden checkpoint at next): try a shorter range.
    if (b - 1 > a && storesAllowed(m, kind, a, b - 1, b - 1 - a)) {
      return { op: 'forward', from: a, to: b - 1, store: kind };
    }
  }
  return { op: 'forward', from: a, to: b };
}

/**
 * A random `free`, or undefined. Completing the pass needs `h_0` or `s_1` to stay held (nothing else can
 * produce the states below the lowest held position), so the last of those two is never freed.
 */
function randomFree(m: Machine, rng: Rng): Instruction | undefined {
  const p = heldAtOrBelow(m, rng.int(0, m.next));
  if (p < 0) return undefined;
  const kinds: StoreKind[] = [];
  if (m.hidden[p] === 1) kinds.push('hidden');
  if (m.internal[p] === 1) kinds.push('internal');
  const kind = rng.pick(kinds);
  if (kind === 'hidden' && p === 0 && m.internal[1] !== 1) return undefined;
  if (kind === 'internal' && p === 1 && m.hidden[0] !== 1) return undefined;
  return { op: 'free', kind, at: p };
}

/** The longest backward from `next` down that the current state allows, at most `max` steps. */
function backwardReach(m: Machine, max: number): number {
  const b = m.next;
  if (!(m.internal[b] === 1 || m.working === b || m.held(b - 1))) return 0;
  let a = b;
  while (a > 1 && b - a + 1 < max) {
    const t = a - 1;
    if (m.internal[t] === 1 || m.held(t - 1)) a = t;
    else break;
  }
  return b - a + 1;
}

/**
 * A random valid policy over `steps` steps. It is built by running the abstract machine while generating:
 * forwards from held states with random stores (hidden or internal, default or explicit strides) at alive
 * positions that are not held, random `free`s, and backward ranges using held internal states, the working
 * state or a recomputation from a held state at `t - 1`, until `next = 0`. The totals and the peak come from that
 * simulation; the budget is the peak, or above it by `budgetSlack` (drawn when absent). Deterministic in `rng`.
 */
export function randomPolicy(rng: Rng, options: RandomPolicyOptions): Policy {
  const T = options.steps;
  checkSteps(T, 'randomPolicy');
  const alpha = options.alpha ?? rng.pick([1, 1, 1.5, 2, 2.75, 3, 4.2, 1 + rng.int(0, 999) / 100]);
  const sb = resolveStateBytes(options.stateBytes, rng);
  const maxStores = Math.max(1, options.maxStoresPerForward ?? 32);
  const freeP = options.freeProbability ?? 0.1;
  const slack = options.budgetSlack ?? (rng.bool() ? 0 : rng.pick([0.001, 0.1, 0.5, 2]));
  const bytesSlack = sb !== undefined && rng.bool(0.7) ? rng.pick([0, 0, 0.25]) : undefined;
  const forwardCost = rng.pick([1, 1, 0.5, 2.5]);
  const backwardCost = rng.pick([0, 1, 2, 3.25]);

  const m = new Machine(T, alpha, sb, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  const out: Instruction[] = [];
  const emit = (ins: Instruction): void => {
    m.apply(ins);
    out.push(ins);
  };
  let idle = 0;
  while (m.next > 0) {
    const reach = backwardReach(m, rng.bool(0.3) ? 1 : rng.int(1, 64));
    if (reach > 0 && (idle >= 8 || rng.bool(0.5))) {
      const b = m.next;
      emit({ op: 'backward', from: b, to: b - reach + 1 });
      idle = 0;
      continue;
    }
    idle++;
    // With h_0 or s_1 held (see randomFree), a source below next exists unless next = 1 and only s_1 is held:
    // then the backward above is possible.
    const source = heldAtOrBelow(m, m.next - 1);
    if (source < 0) continue;
    if (idle > 16) {
      // Make progress for sure: compute up to next from the nearest held state; the backward follows.
      emit({ op: 'forward', from: source, to: m.next });
      continue;
    }
    if (rng.bool(freeP)) {
      const free = randomFree(m, rng);
      if (free !== undefined) {
        emit(free);
        continue;
      }
    }
    emit(randomForward(m, rng, maxStores));
  }

  const meta =
    options.meta === false
      ? undefined
      : (options.meta ??
        (rng.bool() ? { generator: '@rewind/policy/testing', kind: 'random', seed: rng.seed } : undefined));
  return assemble(m, out, {
    strategy: options.strategy ?? 'random',
    forwardCost,
    backwardCost,
    slack,
    bytesSlack,
    meta,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Deterministic schedules

/** Options of `bisectionPolicy`. */
export interface BisectionOptions extends GeneratorOptions {
  /** Segments of at most this many steps are leaves, run from internal checkpoints (default 8). */
  readonly leaf?: number;
}

/**
 * A compact deterministic schedule for any `steps`, usable for millions of steps: recursive halving. A segment
 * `(lo, hi]` (with the state at `lo` held and `next = hi`) longer than `leaf` runs `forward lo -> mid` storing a
 * hidden checkpoint at the midpoint, then solves `(mid, hi]` and `(lo, mid]`. A leaf runs
 * `forward lo -> hi - 1` storing internal checkpoints with stride 1, then `backward hi -> lo + 1` (step `hi`
 * recomputed from the checkpoint at `hi - 1`). Emitted iteratively with an explicit stack of depth
 * `O(log steps)`. Peak: about `1 + log2(steps / leaf)` hidden slots plus `alpha * (leaf - 1)`.
 */
export function bisectionPolicy(steps: number, options: BisectionOptions = {}): Policy {
  checkSteps(steps, 'bisectionPolicy');
  const leaf = Math.max(1, Math.floor(options.leaf ?? 8));
  const alpha = options.alpha ?? 2;
  const sb = resolveStateBytes(options.stateBytes ?? false, undefined);
  const m = new Machine(steps, alpha, sb, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  const out: Instruction[] = [];
  const emit = (ins: Instruction): void => {
    m.apply(ins);
    out.push(ins);
  };
  // Segments (lo, hi] as pairs on a stack; the top is solved first.
  const stack: number[] = [0, steps];
  while (stack.length > 0) {
    const hi = stack.pop()!;
    const lo = stack.pop()!;
    const span = hi - lo;
    if (span <= leaf) {
      if (span > 1) emit({ op: 'forward', from: lo, to: hi - 1, store: 'internal', stride: 1 });
      emit({ op: 'backward', from: hi, to: lo + 1 });
    } else {
      const mid = lo + Math.floor(span / 2);
      emit({ op: 'forward', from: lo, to: mid, store: 'hidden' });
      stack.push(lo, mid, mid, hi);
    }
  }
  return assemble(m, out, {
    strategy: options.strategy ?? 'bisection',
    forwardCost: 1,
    backwardCost: 2,
    slack: options.budgetSlack ?? 0,
    bytesSlack: sb !== undefined ? 0 : undefined,
    meta:
      options.meta === false
        ? undefined
        : (options.meta ?? { generator: '@rewind/policy/testing', kind: 'bisection', leaf }),
  });
}

/** Options of `storeAllPolicy`. */
export interface StoreAllOptions extends GeneratorOptions {
  /** One instruction per step (`2 * steps` instructions) instead of one forward and one backward. */
  readonly granular?: boolean;
}

/**
 * The store-all schedule: one forward pass keeping every internal state, then the backward pass. Peak memory
 * `1 + alpha * steps`, `steps` forwards. With `granular`, each step is its own instruction.
 */
export function storeAllPolicy(steps: number, options: StoreAllOptions = {}): Policy {
  checkSteps(steps, 'storeAllPolicy');
  const alpha = options.alpha ?? 2;
  const sb = resolveStateBytes(options.stateBytes ?? false, undefined);
  const m = new Machine(steps, alpha, sb, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  const out: Instruction[] = [];
  const emit = (ins: Instruction): void => {
    m.apply(ins);
    out.push(ins);
  };
  if (options.granular) {
    for (let t = 1; t <= steps; t++) emit({ op: 'forward', from: t - 1, to: t, store: 'internal' });
    for (let t = steps; t >= 1; t--) emit({ op: 'backward', from: t, to: t });
  } else {
    emit({ op: 'forward', from: 0, to: steps, store: 'internal', stride: 1 });
    emit({ op: 'backward', from: steps, to: 1 });
  }
  return assemble(m, out, {
    strategy: options.strategy ?? 'store-all',
    forwardCost: 1,
    backwardCost: 2,
    slack: options.budgetSlack ?? 0,
    bytesSlack: sb !== undefined ? 0 : undefined,
    meta:
      options.meta === false
        ? undefined
        : (options.meta ?? { generator: '@rewind/policy/testing', kind: 'store-all' }),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Mutations

/** A mutated policy and what was changed. */
export interface Mutation {
  readonly policy: Policy;
  /** What was changed, in words (for test failure messages). */
  readonly description: string;
}

/** Whether positions and strides stay within the structural ranges of the format. */
function structurallyValid(ins: Instruction, T: number): boolean {
  switch (ins.op) {
    case 'forward': {
      const span = ins.to - ins.from;
      if (!(ins.from >= 0 && span >= 1 && ins.to <= T)) return false;
      if (ins.stride !== undefined) return ins.store !== undefined && ins.stride >= 1 && ins.stride <= span;
      return true;
    }
    case 'backward':
      return ins.to >= 1 && ins.to <= ins.from && ins.from <= T;
    case 'free':
      return ins.at >= (ins.kind === 'internal' ? 1 : 0) && ins.at <= T;
  }
}

function delta(rng: Rng, T: number): number {
  const magnitude = rng.bool(0.7) ? rng.int(1, 2) : rng.int(1, Math.max(1, Math.ceil(T / 4)));
  return rng.bool() ? magnitude : -magnitude;
}

function mutateInstruction(rng: Rng, ins: Instruction, T: number): [Instruction, string] {
  switch (ins.op) {
    case 'forward': {
      const which = rng.pick(['from', 'to', 'store', 'stride'] as const);
      if (which === 'from') return [{ ...ins, from: ins.from + delta(rng, T) }, 'shift forward.from'];
      if (which === 'to') return [{ ...ins, to: ins.to + delta(rng, T) }, 'shift forward.to'];
      if (which === 'store') {
        if (ins.store === undefined)
          return [{ ...ins, store: rng.bool() ? 'hidden' : 'internal' }, 'add a store'];
        if (rng.bool()) {
          return [{ ...ins, store: ins.store === 'hidden' ? 'internal' : 'hidden' }, 'change the store kind'];
        }
        return [{ op: 'forward', from: ins.from, to: ins.to }, 'remove the store'];
      }
      if (ins.store === undefined) return [ins, 'nothing'];
      return [{ ...ins, stride: rng.int(1, ins.to - ins.from) }, 'change the stride'];
    }
    case 'backward': {
      const which = rng.bool() ? 'from' : 'to';
      return [{ ...ins, [which]: ins[which] + delta(rng, T) }, `shift backward.${which}`];
    }
    case 'free':
      if (rng.bool())
        return [{ ...ins, kind: ins.kind === 'hidden' ? 'internal' : 'hidden' }, 'change the free kind'];
      return [{ ...ins, at: ins.at + delta(rng, T) }, 'shift free.at'];
  }
}

function mutateOnce(rng: Rng, policy: Policy): [Policy, string] {
  const list = policy.instructions.slice();
  const n = list.length;
  const T = policy.steps;
  const i = rng.int(0, n - 1);
  const kind = rng.int(0, 9);
  switch (kind) {
    case 0:
    case 1:
    case 2: {
      const [ins, what] = mutateInstruction(rng, list[i]!, T);
      list[i] = ins;
      return [{ ...policy, instructions: list }, `${what} of instruction ${i}`];
    }
    case 3:
      list.splice(i, 1);
      return [{ ...policy, instructions: list }, `drop instruction ${i}`];
    case 4:
      list.splice(i, 0, list[i]!);
      return [{ ...policy, instructions: list }, `duplicate instruction ${i}`];
    case 5: {
      const j = rng.bool(0.7) ? Math.min(n - 1, i + 1) : rng.int(0, n - 1);
      const a = list[i]!;
      list[i] = list[j]!;
      list[j] = a;
      return [{ ...policy, instructions: list }, `swap instructions ${i} and ${j}`];
    }
    case 6: {
      // Shrink the slot budget below the peak (but keep the initial slot: a budget is at least 1).
      const peak = policy.totals.peakSlots;
      if (peak <= 1.001) return [policy, 'nothing'];
      const slots = Math.max(1, peak * (1 - rng.pick([1e-6, 0.01, 0.3])));
      return [
        { ...policy, budget: { ...policy.budget, slots } },
        `shrink budget.slots from ${policy.budget.slots} to ${slots}`,
      ];
    }
    case 7: {
      const peakBytes = policy.totals.peakBytes;
      const hidden = policy.stateBytes?.hidden;
      if (peakBytes === undefined || hidden === undefined || peakBytes <= hidden) return [policy, 'nothing'];
      const bytes = rng.int(hidden, peakBytes - 1);
      return [{ ...policy, budget: { ...policy.budget, bytes } }, `shrink budget.bytes to ${bytes}`];
    }
    case 8: {
      const t = policy.totals;
      const which = rng.pick(['forwards', 'backwards', 'peakSlots', 'peakBytes'] as const);
      if (which === 'peakSlots') {
        const peakSlots = t.peakSlots * rng.pick([0.5, 1.01, 2]);
        return [{ ...policy, totals: { ...t, peakSlots } }, 'change totals.peakSlots'];
      }
      const current = t[which];
      if (current === undefined) return [policy, 'nothing'];
      const changed = Math.max(0, current + delta(rng, 8));
      return [{ ...policy, totals: { ...t, [which]: changed } }, `change totals.${which}`];
    }
    default:
      // Cut the pass short.
      return [{ ...policy, instructions: list.slice(0, i) }, `truncate after instruction ${i - 1}`];
  }
}

/**
 * Apply one random mutation to a valid policy (shift a position, drop, duplicate or swap instructions, change a
 * store kind or stride, shrink the budget below the peak, change a total, cut the pass short) such that the result
 * stays structurally valid but is rejected by the reference replay (`simulatePolicy`). The result therefore
 * must fail `verify`. Returns the mutant and a description of the change.
 */
export function mutatePolicyDescribed(rng: Rng, policy: Policy): Mutation {
  const T = policy.steps;
  for (let attempt = 0; attempt < 200; attempt++) {
    const [mutant, description] = mutateOnce(rng, policy);
    if (mutant === policy || mutant.instructions.some((ins) => !structurallyValid(ins, T))) continue;
    if (!simulatePolicy(mutant).ok) return { policy: mutant, description };
  }
  const t = policy.totals;
  return {
    policy: { ...policy, totals: { ...t, forwards: t.forwards + 1 } },
    description: 'change totals.forwards',
  };
}

/** Like `mutatePolicyDescribed`, returning only the mutated policy. */
export function mutatePolicy(rng: Rng, policy: Policy): Policy {
  return mutatePolicyDescribed(rng, policy).policy;
}
