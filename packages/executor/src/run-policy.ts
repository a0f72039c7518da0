import {
  type BackwardInstruction,
  type Counted,
  type ForwardInstruction,
  type FreeInstruction,
  type Instruction,
  type Policy,
  type StateBytes,
  type StoreKind,
  slotsWithin,
  validate,
  verify,
} from '@rewind/policy';
import { adaptV1 } from './adapt-v1.js';
import { BACKEND_SPECIFICATION_VERSION, type CellBackendV1, type MaybePromise } from './backend.js';
import {
  BACKEND_V2_SPECIFICATION_VERSION,
  type BackwardSource,
  type CellBackendV2,
  type ForwardRangeRequest,
} from './backend-v2.js';
import { ExecutorError } from './errors.js';

/** The part of `AbortSignal` the executor reads; a DOM or Node `AbortSignal` fits. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
}

/** The kinds of work `runPolicy` times. */
export type OperationKind = 'forward' | 'recompute' | 'backward' | 'store' | 'other';

/**
 * Wall time in milliseconds spent per kind of operation, measured with `performance.now()`.
 *
 * - `forward`: forward ranges (`forward` instructions);
 * - `recompute`: always 0: a backend computes a backward range as a whole, so the forward steps it
 *   recomputes (rule 2.2.1 of the format) are timed with it, under `backward`;
 * - `backward`: backward ranges (`backward` instructions), their recomputations included;
 * - `store`: keeping checkpoints and releasing them (the ledger and the disposal of checkpoints);
 * - `other`: everything else (validation, the initial state, transient disposals, reading the loss).
 *
 * The five kinds add up to `total`.
 */
export type OperationTimings = { readonly [K in OperationKind | 'total']: number };

/**
 * Reported after every range: after each `forward` and each `backward` instruction (a `free` computes
 * nothing and reports nothing; a forward instruction that runs as one range with the step after it, see
 * `rangeCalls`, reports once for both).
 */
export interface ProgressEvent {
  /** What was just computed: a forward range, or a backward range with its recomputations. */
  readonly kind: 'forward' | 'backward';
  /** The range's `from`: where a forward range starts, the first step of a backward range. */
  readonly from: number;
  /** The last step just computed (the range's `to`), `1..steps`. */
  readonly step: number;
  /** Step computations done so far: forwards (recomputations included) plus backwards. */
  readonly done: number;
  /** Step computations the whole pass makes: the verified forwards plus `steps` backwards. */
  readonly total: number;
  /** Forward step computations done so far, recomputations included. */
  readonly forwards: number;
  /** The forward step computations made inside backward ranges so far (part of `forwards`). */
  readonly recomputes: number;
  /** Backward steps done so far. */
  readonly backwards: number;
  /** `T`, the policy's number of steps. */
  readonly steps: number;
}

/** Options of `runPolicy`. */
export interface RunPolicyOptions {
  /**
   * Stops the run between two operations (instructions: a range is never interrupted): everything held
   * is disposed and the promise rejects with an `ExecutorError` of code `E_ABORTED`. The executor does
   * not yield to the event loop by itself, so with a synchronous backend an abort must come from
   * `onProgress` or from inside the backend.
   */
  readonly signal?: AbortSignalLike;
  /** Called after every range. An exception thrown here aborts the run (and is rethrown). */
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Call `backend.zeroGradients()` before the pass (default true); false accumulates into earlier passes. */
  readonly zeroGradients?: boolean;
  /**
   * Hand the gradient at the initial state, as a backend handle, to the caller in
   * `RunResult.initialGradient` instead of disposing it (default false). The caller then disposes it.
   */
  readonly keepInitialGradient?: boolean;
}

/** What `runPolicy` returns. */
export interface RunResult<TGradient = unknown> {
  /** The loss, as the backend reports it after the pass. */
  readonly loss: number;
  /** Forward step computations made, recomputations included. */
  readonly forwards: number;
  /** The forward step computations made inside backward instructions (part of `forwards`). */
  readonly recomputes: number;
  /** Backward steps made: always `steps`. */
  readonly backwards: number;
  /** The backend's checkpoint sizes the ledger used. */
  readonly stateBytes: StateBytes;
  /** The budget enforced at run time: `budget.bytes`, else `budget.slots * stateBytes.hidden`. */
  readonly budgetBytes: number;
  /** Peak bytes of checkpoints held at once, the initial state included. */
  readonly peakBytes: number;
  /** Hidden and internal checkpoints held at the (first) peak. */
  readonly peakHidden: number;
  readonly peakInternal: number;
  /** What `verify` counted for the policy before the run. */
  readonly verified: Counted;
  /** Milliseconds per kind of operation. */
  readonly timings: OperationTimings;
  /**
   * Backend handles the executor received and disposed; equal unless `initialGradient` was kept. For a
   * version 1 backend the transient handles of a range (disposed inside it) are not counted.
   */
  readonly handles: { readonly acquired: number; readonly released: number };
  /** The gradient at the initial state, present when `keepInitialGradient` was set; the caller disposes it. */
  readonly initialGradient?: TGradient;
}

/** A policy checked against a backend by `checkRunnable`. */
export interface RunnablePolicy {
  /** The validated copy of the policy. */
  readonly policy: Policy;
  /** What `verify` counted. */
  readonly counted: Counted;
  /** The backend's checkpoint sizes. */
  readonly stateBytes: StateBytes;
  /** The budget the ledger enforces, in bytes. */
  readonly budgetBytes: number;
}

const clock: { now(): number } = (globalThis as { performance?: { now(): number } }).performance ?? Date;

function isThenable<T>(value: MaybePromise<T>): value is PromiseLike<T> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function positiveInteger(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
}

/**
 * Check, without running anything, that `policy` can run on `backend`: the backend's interface version
 * (1 or 2) and its methods, the policy's structure (`validate`), its number of steps against the batch's
 * sequence length, its `stateBytes` against the backend's, its replay on the abstract machine (`verify`),
 * and the memory ledger:
 * replayed with the backend's state sizes, the checkpoints held must never exceed the budget the run
 * enforces (`budget.bytes`, else `budget.slots * stateBytes.hidden`). A policy planned in slots with a
 * smaller `alpha` than the backend's fails that last check.
 *
 * @throws ExecutorError with code `E_BACKEND_VERSION`, `E_BACKEND_CONTRACT`, `E_POLICY_INVALID`,
 * `E_STEPS_MISMATCH`, `E_STATE_BYTES_MISMATCH` or `E_BUDGET_EXCEEDED` (the checkpoints would outgrow the
 * budget on this backend; nothing has run).
 */
export function checkRunnable(
  backend: CellBackendV1<unknown, unknown, unknown> | CellBackendV2<unknown, unknown, unknown>,
  policy: Policy,
): RunnablePolicy {
  const version: unknown = backend.specificationVersion;
  if (version !== BACKEND_SPECIFICATION_VERSION && version !== BACKEND_V2_SPECIFICATION_VERSION) {
    throw new ExecutorError(
      'E_BACKEND_VERSION',
      `backend ${String(backend.name)} implements ${JSON.stringify(version)}, this executor runs ${JSON.stringify(BACKEND_SPECIFICATION_VERSION)} and ${JSON.stringify(BACKEND_V2_SPECIFICATION_VERSION)}`,
    );
  }
  const methods =
    version === BACKEND_V2_SPECIFICATION_VERSION
      ? (['initialState', 'forwardRange', 'backwardRange', 'hiddenOf', 'dispose'] as const)
      : (['initialState', 'forward', 'backward', 'hiddenOf', 'dispose'] as const);
  for (const method of methods) {
    if (typeof (backend as unknown as Record<string, unknown>)[method] !== 'function') {
      throw new ExecutorError(
        'E_BACKEND_CONTRACT',
        `backend ${String(backend.name)} declares ${JSON.stringify(version)} but has no ${method} method`,
      );
    }
  }
  const steps = backend.steps;
  if (!positiveInteger(steps)) {
    throw new ExecutorError('E_BACKEND_CONTRACT', `backend ${backend.name} reports steps = ${String(steps)}`);
  }
  const sb = backend.stateBytes();
  if (!positiveInteger(sb?.hidden) || !positiveInteger(sb.internal)) {
    throw new ExecutorError(
      'E_BACKEND_CONTRACT',
      `backend ${backend.name} reports stateBytes ${JSON.stringify(sb)}; expected positive integers`,
    );
  }
  const stateBytes: StateBytes = { hidden: sb.hidden, internal: sb.internal };
  const valid = validate(policy);
  if (!valid.ok) {
    throw new ExecutorError('E_POLICY_INVALID', `the policy is malformed: ${valid.issues[0].message}`, {
      issues: valid.issues,
    });
  }
  const p = valid.policy;
  if (p.steps !== steps) {
    throw new ExecutorError(
      'E_STEPS_MISMATCH',
      `the policy is for ${p.steps} steps, the batch of backend ${backend.name} has ${steps}`,
    );
  }
  if (
    p.stateBytes !== undefined &&
    (p.stateBytes.hidden !== sb.hidden || p.stateBytes.internal !== sb.internal)
  ) {
    throw new ExecutorError(
      'E_STATE_BYTES_MISMATCH',
      `the policy was planned for states of ${p.stateBytes.hidden} (hidden) and ${p.stateBytes.internal} (internal) bytes, backend ${backend.name} has ${sb.hidden} and ${sb.internal}`,
    );
  }
  const report = verify(p, { profile: false });
  if (!report.ok) {
    const where = report.issue.path === '' ? '' : ` at ${report.issue.path}`;
    throw new ExecutorError(
      'E_POLICY_INVALID',
      `the policy fails verification (${report.issue.code}${where}): ${report.issue.message}`,
      { issues: [report.issue] },
    );
  }
  const budgetBytes = p.budget.bytes ?? p.budget.slots * sb.hidden;
  checkLedger(backend.name, p, stateBytes, budgetBytes);
  return { policy: p, counted: report.counted, stateBytes, budgetBytes };
}

/** How a number of slots or an alpha reads in a message: without floating-point noise. */
function readable(x: number): string {
  return String(Number(x.toPrecision(12)));
}

/**
 * The ledger of a run holds exactly the checkpoints of the abstract machine, in the backend's bytes. Replay
 * the (verified) policy once more with the backend's state sizes and refuse it when the ledger would
 * outgrow the budget it enforces: the run would stop with `E_BUDGET_EXCEEDED` partway through.
 */
function checkLedger(name: string, p: Policy, sb: StateBytes, budgetBytes: number): void {
  const backendAlpha = sb.internal / sb.hidden;
  // With alpha set to the backend's ratio, the slot peak is where the byte peak is; an unbounded slot
  // budget and no bytes budget make the replay measure instead of check.
  const replay = verify(
    {
      ...p,
      costModel: { ...p.costModel, alpha: backendAlpha },
      budget: { slots: Number.POSITIVE_INFINITY },
      stateBytes: sb,
    },
    { profile: false, skipTotals: true },
  );
  if (!replay.ok) return; // Unreachable: the policy verified, and only the budget was changed.
  const peak = replay.counted.peakBytes ?? 0;
  const exact = p.budget.bytes !== undefined;
  if (exact ? peak <= budgetBytes : slotsWithin(peak, budgetBytes)) return;
  const held = `${replay.counted.peakHidden} hidden of ${sb.hidden} bytes and ${replay.counted.peakInternal} internal of ${sb.internal} bytes`;
  const budget = exact
    ? `the budget of ${budgetBytes} bytes`
    : `the budget of ${readable(p.budget.slots)} slots x ${sb.hidden} bytes = ${readable(budgetBytes)} bytes`;
  const planned =
    p.stateBytes === undefined
      ? `the policy was planned with alpha ${readable(p.costModel.alpha)} and no stateBytes`
      : `the policy was planned with alpha ${readable(p.costModel.alpha)}`;
  throw new ExecutorError(
    'E_BUDGET_EXCEEDED',
    `${planned}; backend ${name} has alpha ${readable(backendAlpha)} (stateBytes ${sb.hidden}:${sb.internal}), ` +
      `so its checkpoints would peak at ${peak} bytes (${held}), over ${budget}. Plan it for this backend: ` +
      `with its stateBytes { hidden: ${sb.hidden}, internal: ${sb.internal} } (the CLI's --state-bytes ` +
      `${sb.hidden}:${sb.internal}) or with alpha ${readable(backendAlpha)} (--alpha ${readable(backendAlpha)})`,
  );
}

type Timings = { -readonly [K in OperationKind | 'total']: number };

/** One run of a policy over a backend: the machine state, the ledger and the owned handles. */
class Run<THidden, TInternal, TGradient> {
  private readonly backend: CellBackendV2<THidden, TInternal, TGradient>;
  private readonly policy: Policy;
  private readonly options: RunPolicyOptions;
  private readonly hiddenBytes: number;
  private readonly internalBytes: number;
  private readonly budgetBytes: number;
  private readonly exactBudget: boolean;
  private readonly totalWork: number;

  /** Every handle this run owns and has not disposed yet. */
  private readonly owned = new Set<unknown>();
  private readonly hidden = new Map<number, THidden>();
  private readonly internal = new Map<number, TInternal>();
  /** The internal state left by a forward for the backward that follows it (rule 2.2.1, second case). */
  private working: { readonly position: number; readonly state: TInternal } | undefined;
  private gradient: TGradient | null = null;
  private next: number;

  private acquired = 0;
  private released = 0;
  private forwards = 0;
  private recomputes = 0;
  private backwards = 0;
  private live = 0;
  private peak = 0;
  private peakHidden = 0;
  private peakInternal = 0;
  readonly timings: Timings = { forward: 0, recompute: 0, backward: 0, store: 0, other: 0, total: 0 };

  constructor(
    backend: CellBackendV2<THidden, TInternal, TGradient>,
    checked: RunnablePolicy,
    options: RunPolicyOptions,
  ) {
    this.backend = backend;
    this.policy = checked.policy;
    this.options = options;
    this.hiddenBytes = checked.stateBytes.hidden;
    this.internalBytes = checked.stateBytes.internal;
    this.budgetBytes = checked.budgetBytes;
    this.exactBudget = checked.policy.budget.bytes !== undefined;
    this.totalWork = checked.counted.forwards + checked.policy.steps;
    this.next = checked.policy.steps;
  }

  async execute(start: number, verified: Counted): Promise<RunResult<TGradient>> {
    const backend = this.backend;
    let initialGradient: TGradient | undefined;
    let loss: number;
    try {
      if (this.options.zeroGradients !== false) {
        const z = backend.zeroGradients();
        if (isThenable(z)) await z;
      }
      this.checkAbort();
      const h0r = backend.initialState();
      const h0 = isThenable(h0r) ? await h0r : h0r;
      this.acquire(h0);
      this.keep('hidden', 0, h0);

      const list = this.policy.instructions;
      for (let i = 0; i < list.length; i++) {
        this.checkAbort();
        const ins = list[i] as Instruction;
        if (ins.op === 'forward') {
          const j = workingStepAfter(list, i);
          if (j === undefined) await this.forwardRange(ins, list[i + 1]);
          else {
            await this.forwardRange(ins, list[j + 1], {
              step: list[j] as ForwardInstruction,
              frees: list.slice(i + 1, j) as FreeInstruction[],
            });
            i = j;
          }
        } else if (ins.op === 'backward') await this.backwardRange(ins);
        else {
          this.dropWorking();
          this.releaseCheckpoint(ins.kind, ins.at);
        }
      }
      this.dropWorking();
      const lr = backend.loss();
      loss = isThenable(lr) ? await lr : lr;
      const dh0 = this.gradient;
      this.gradient = null;
      if (dh0 !== null) {
        if (this.options.keepInitialGradient === true) {
          this.owned.delete(dh0);
          initialGradient = dh0;
        } else {
          this.release(dh0);
        }
      }
    } catch (error) {
      this.disposeAll();
      throw error;
    }
    const t = this.timings;
    t.total = clock.now() - start;
    t.other = Math.max(0, t.total - t.forward - t.recompute - t.backward - t.store);
    const result: RunResult<TGradient> = {
      loss,
      forwards: this.forwards,
      recomputes: this.recomputes,
      backwards: this.backwards,
      stateBytes: { hidden: this.hiddenBytes, internal: this.internalBytes },
      budgetBytes: this.budgetBytes,
      peakBytes: this.peak,
      peakHidden: this.peakHidden,
      peakInternal: this.peakInternal,
      verified,
      timings: { ...t },
      handles: { acquired: this.acquired, released: this.released },
    };
    return initialGradient === undefined ? result : { ...result, initialGradient };
  }

  private checkAbort(): void {
    const signal = this.options.signal;
    if (signal?.aborted === true) {
      throw new ExecutorError('E_ABORTED', 'the run was aborted', { cause: signal.reason });
    }
  }

  private progress(kind: ProgressEvent['kind'], from: number, step: number): void {
    const report = this.options.onProgress;
    if (report === undefined) return;
    report({
      kind,
      from,
      step,
      done: this.forwards + this.backwards,
      total: this.totalWork,
      forwards: this.forwards,
      recomputes: this.recomputes,
      backwards: this.backwards,
      steps: this.policy.steps,
    });
  }

  private acquire(handle: unknown): void {
    if (handle === null || handle === undefined) {
      throw new ExecutorError(
        'E_BACKEND_CONTRACT',
        `backend ${this.backend.name} returned ${String(handle)} as a handle`,
      );
    }
    if (this.owned.has(handle)) {
      throw new ExecutorError(
        'E_BACKEND_CONTRACT',
        `backend ${this.backend.name} returned a handle that is already live; handles must be distinct`,
      );
    }
    this.owned.add(handle);
    this.acquired++;
  }

  private release(handle: THidden | TInternal | TGradient): void {
    if (!this.owned.delete(handle)) return;
    this.released++;
    this.backend.dispose(handle);
  }

  /** Dispose everything still owned, after a failure or an abort; later errors give way to the first. */
  private disposeAll(): void {
    this.hidden.clear();
    this.internal.clear();
    this.working = undefined;
    this.gradient = null;
    const handles = [...this.owned];
    this.owned.clear();
    for (const handle of handles) {
      this.released++;
      try {
        this.backend.dispose(handle as THidden);
      } catch {
        // The run already failed; its first error is the one worth reporting.
      }
    }
  }

  private account(kind: StoreKind, delta: 1 | -1): void {
    this.live += delta * (kind === 'hidden' ? this.hiddenBytes : this.internalBytes);
    if (this.live > this.peak) {
      this.peak = this.live;
      this.peakHidden = this.hidden.size;
      this.peakInternal = this.internal.size;
    }
  }

  /** Hold a checkpoint; the handle is already owned. */
  private keep(kind: 'hidden', position: number, handle: THidden): void;
  private keep(kind: 'internal', position: number, handle: TInternal): void;
  private keep(kind: StoreKind, position: number, handle: THidden | TInternal): void {
    const t0 = clock.now();
    const lastAlive = kind === 'hidden' ? this.next - 1 : this.next;
    if (position > lastAlive) {
      // `verify` rules this out (E_VERIFY_DEAD); the O(1) release of dead checkpoints relies on it.
      throw new ExecutorError(
        'E_POLICY_INVALID',
        `a ${kind} checkpoint at ${position} would be dead on arrival`,
      );
    }
    if (kind === 'hidden') this.hidden.set(position, handle as THidden);
    else this.internal.set(position, handle as TInternal);
    this.account(kind, 1);
    const within = this.exactBudget
      ? this.live <= this.budgetBytes
      : slotsWithin(this.live, this.budgetBytes);
    this.timings.store += clock.now() - t0;
    if (!within) {
      throw new ExecutorError(
        'E_BUDGET_EXCEEDED',
        `holding a ${kind} checkpoint at position ${position} brings the checkpoints to ${this.live} bytes (${this.hidden.size} hidden of ${this.hiddenBytes} bytes, ${this.internal.size} internal of ${this.internalBytes} bytes), over the budget of ${this.budgetBytes} bytes`,
      );
    }
  }

  private releaseCheckpoint(kind: StoreKind, position: number): void {
    const map: Map<number, THidden | TInternal> = kind === 'hidden' ? this.hidden : this.internal;
    const handle = map.get(position);
    if (handle === undefined) return;
    const t0 = clock.now();
    map.delete(position);
    this.account(kind, -1);
    this.release(handle);
    this.timings.store += clock.now() - t0;
  }

  private dropWorking(): void {
    const w = this.working;
    if (w === undefined) return;
    this.working = undefined;
    this.release(w.state);
  }

  /** The hidden state at a held position, lent by its checkpoint. */
  private heldHidden(position: number): THidden {
    const h = this.hidden.get(position);
    if (h !== undefined) return h;
    const s = this.internal.get(position);
    if (s === undefined) {
      // `verify` rules this out (E_VERIFY_NO_SOURCE / E_VERIFY_NO_STATE).
      throw new ExecutorError('E_POLICY_INVALID', `no state is held at position ${position}`);
    }
    return this.backend.hiddenOf(s);
  }

  /**
   * Take ownership of the handles a range returned, all or none: on a contract violation, the ones not
   * taken yet are disposed before the error is thrown.
   */
  private acquireAll(handles: readonly unknown[]): void {
    for (let i = 0; i < handles.length; i++) {
      try {
        this.acquire(handles[i]);
      } catch (error) {
        for (let j = i + 1; j < handles.length; j++) {
          const other = handles[j];
          if (other === null || other === undefined || this.owned.has(other)) continue;
          try {
            this.backend.dispose(other as THidden);
          } catch {
            // The contract error is the one worth reporting.
          }
        }
        throw error;
      }
    }
  }

  private contract(message: string): ExecutorError {
    return new ExecutorError('E_BACKEND_CONTRACT', `backend ${this.backend.name} ${message}`);
  }

  /**
   * One `forward` instruction as one `forwardRange`. With `joined` (see `workingStepAfter`), the
   * instruction and the one step after it run as one range keeping every internal state, whose last
   * becomes the working state (what the one-step instruction would have left, not a checkpoint); the
   * `free` instructions between them apply after the range's checkpoints are held, as they would have.
   */
  private async forwardRange(
    ins: ForwardInstruction,
    following: Instruction | undefined,
    joined?: { readonly step: ForwardInstruction; readonly frees: readonly FreeInstruction[] },
  ): Promise<void> {
    this.dropWorking();
    const a = ins.from;
    const step = joined?.step;
    const b = step === undefined ? ins.to : step.to;
    const kind = ins.store;
    const stride = kind === undefined ? 0 : (ins.stride ?? ins.to - a);
    const count = kind === undefined ? 0 : Math.floor((b - a) / stride);
    // The last internal state is kept as working memory only when the next instruction consumes it; an
    // internal checkpoint at `b` serves as both.
    const keepWorking = following?.op === 'backward' && following.from === b;
    const lastIsWorking = step !== undefined;
    const wantsWorking = keepWorking && !lastIsWorking && !(kind === 'internal' && (b - a) % stride === 0);
    const start = this.heldHidden(a);
    const request: ForwardRangeRequest<THidden> =
      kind === undefined
        ? { start, from: a, to: b, keepWorking }
        : { start, from: a, to: b, store: { kind, stride }, keepWorking };
    const t0 = clock.now();
    const r = this.backend.forwardRange(request);
    const out = isThenable(r) ? await r : r;
    this.timings.forward += clock.now() - t0;
    this.forwards += b - a;
    const kept = out?.kept;
    if (!Array.isArray(kept)) throw this.contract(`returned no kept list from forwardRange ${a}..${b}`);
    const working = out.working;
    this.acquireAll(working === undefined ? kept : [...kept, working]);
    if (working !== undefined && !wantsWorking) this.release(working);
    if (kept.length !== count) {
      throw this.contract(
        `returned ${kept.length} checkpoints from forwardRange ${a}..${b}, the request asked for ${count}`,
      );
    }
    if (wantsWorking && working === undefined) {
      throw this.contract(
        `returned no internal state for forward step ${b} although it was asked to keep it (keepWorking)`,
      );
    }
    const checkpoints = lastIsWorking ? count - 1 : count;
    for (let i = 0; i < checkpoints; i++) {
      const position = a + (i + 1) * stride;
      if (kind === 'hidden') this.keep('hidden', position, kept[i] as THidden);
      else this.keep('internal', position, kept[i] as TInternal);
    }
    for (const free of joined?.frees ?? []) this.releaseCheckpoint(free.kind, free.at);
    if (lastIsWorking) this.working = { position: b, state: kept[count - 1] as TInternal };
    else if (wantsWorking) this.working = { position: b, state: working as TInternal };
    this.progress('forward', a, b);
  }

  private async backwardRange(ins: BackwardInstruction): Promise<void> {
    const b = ins.from;
    const a = ins.to;
    // Rule 2.2.1, per step: an internal checkpoint, the working state (first step only), or a recomputation
    // from the state at t - 1. Nothing a step of the range releases is a source of a later step.
    const sources: BackwardSource<THidden, TInternal>[] = new Array(b - a + 1);
    const w = this.working;
    let recomputes = 0;
    for (let t = b; t >= a; t--) {
      const state = this.internal.get(t);
      if (state !== undefined) sources[b - t] = { internal: state };
      else if (t === b && w !== undefined && w.position === b) sources[0] = { internal: w.state };
      else {
        sources[b - t] = { recomputeFrom: this.heldHidden(t - 1) };
        recomputes++;
      }
    }
    const t0 = clock.now();
    let dh: TGradient;
    try {
      const r = this.backend.backwardRange({ from: b, to: a, sources, dh: this.gradient });
      dh = isThenable(r) ? await r : r;
    } finally {
      this.timings.backward += clock.now() - t0;
    }
    this.forwards += recomputes;
    this.recomputes += recomputes;
    this.backwards += b - a + 1;
    this.acquire(dh);
    if (this.gradient !== null) this.release(this.gradient);
    this.gradient = dh;
    this.next = a - 1;
    this.dropWorking();
    // Rule 2.2.3: after step t, hidden checkpoints at t-1 and above and internal ones at t and above are
    // dead. Every checkpoint was alive when stored (checked in `keep`), so only these positions can be held.
    for (let t = b; t >= a; t--) {
      this.releaseCheckpoint('hidden', t - 1);
      this.releaseCheckpoint('internal', t);
    }
    this.progress('backward', b, a);
  }
}
/**
 * The `forwardRange` and `backwardRange` calls that `runPolicy` makes for `policy` on a version 2 backend:
 * one per `backward` instruction, one per `forward` instruction except that an instruction keeping every
 * internal state and the single step after it that starts a backward instruction make one.
 */
export function rangeCalls(policy: Policy): { readonly forward: number; readonly backward: number } {
  const list = policy.instructions;
  let forward = 0;
  let backward = 0;
  for (let i = 0; i < list.length; i++) {
    const ins = list[i] as Instruction;
    if (ins.op === 'backward') backward++;
    else if (ins.op === 'forward') {
      forward++;
      i = workingStepAfter(list, i) ?? i;
    }
  }
  return { forward, backward };
}

/**
 * When the forward instruction at `i` keeps every internal state and is followed (after `free`
 * instructions only) by the single step after it, storing nothing, whose internal state the backward
 * instruction after that consumes as working memory: the index of that step. A pattern of the solvers'
 * policies (a segment's internal states, then the step that starts its backward), which runs as one
 * range, so that a backend sees the segment whole and can give its states side by side.
 */
function workingStepAfter(list: readonly Instruction[], i: number): number | undefined {
  const ins = list[i];
  if (ins?.op !== 'forward' || ins.store !== 'internal' || (ins.stride ?? ins.to - ins.from) !== 1) {
    return undefined;
  }
  let j = i + 1;
  while (list[j]?.op === 'free') j++;
  const step = list[j];
  const after = list[j + 1];
  return step?.op === 'forward' &&
    step.store === undefined &&
    step.from === ins.to &&
    step.to === ins.to + 1 &&
    after?.op === 'backward' &&
    after.from === step.to
    ? j
    : undefined;
}

/**
 * Run one backward pass through time: execute `policy` over `backend`, instruction by instruction, with
 * exactly the semantics of the Rewind policy format (docs/policy-format.md).
 *
 * `backend` implements version 1 or version 2 of the backend interface; a version 1 backend runs through
 * `adaptV1`. A version 2 backend receives one `forwardRange` per `forward` instruction (except that an
 * instruction keeping every internal state and the single step after it that starts a backward
 * instruction run as one range, the last state becoming the working state) and one `backwardRange` per
 * `backward` instruction, with the source of every backward step chosen by rule 2.2.1;
 * `free` instructions and the release of dead checkpoints (rule 2.2.3) are disposals after the call.
 *
 * Before any work the policy is checked against the backend (`checkRunnable`). During the run every
 * checkpoint is accounted in bytes and checked against the budget; handles are disposed as soon as they
 * die (dead checkpoints after the backward range that kills them). After a failure or an abort, everything held is disposed before the promise
 * rejects. The gradients are left accumulated in the backend; read them with `backend.readGradients()`.
 *
 * @throws ExecutorError (see `ExecutorErrorCode`); errors thrown by the backend pass through unchanged.
 */
export async function runPolicy<THidden, TInternal, TGradient>(
  backend: CellBackendV1<THidden, TInternal, TGradient> | CellBackendV2<THidden, TInternal, TGradient>,
  policy: Policy,
  options: RunPolicyOptions = {},
): Promise<RunResult<TGradient>> {
  const start = clock.now();
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new ExecutorError('E_OPTIONS', 'onProgress must be a function');
  }
  const checked = checkRunnable(backend, policy);
  if (options.signal?.aborted === true) {
    throw new ExecutorError('E_ABORTED', 'the run was aborted before it started', {
      cause: options.signal.reason,
    });
  }
  const ranged =
    backend.specificationVersion === BACKEND_V2_SPECIFICATION_VERSION ? backend : adaptV1(backend);
  const run = new Run(ranged, checked, options);
  return run.execute(start, checked.counted);
}
