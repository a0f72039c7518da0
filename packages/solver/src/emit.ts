import type { Instruction, StoreKind } from '@rewind/policy';
import { SolverError } from './errors.js';

/** Store kinds of the micro-operations: none, hidden, internal. */
export const NONE = 0;
export const HIDDEN = 1;
export const INTERNAL = 2;
export type Store = typeof NONE | typeof HIDDEN | typeof INTERNAL;

type MutableForward = { op: 'forward'; from: number; to: number; store?: StoreKind; stride?: number };
type MutableBackward = { op: 'backward'; from: number; to: number };
type MutableInstruction = MutableForward | MutableBackward | { op: 'free'; kind: StoreKind; at: number };

/**
 * Receives a schedule as micro-operations (forward a -> b storing at most one checkpoint at b, one backward
 * step, free), replays it on the abstract machine of docs/policy-format.md to count forwards and the memory
 * peak, and (when recording) merges it into compact instructions:
 *
 * - consecutive forwards that store the same kind at the same stride become one `forward` with `stride`,
 *   and a following shorter forward without a store extends it;
 * - consecutive backward steps become one `backward` range;
 * - "forward t-1 -> t, backward t" right after a backward that ended at t + 1 becomes one more step of
 *   that backward (the step recomputes from the held state at t - 1: the same one forward).
 */
export class Emitter {
  forwards = 0;
  backwards = 0;
  peakSlots: number;
  peakBytes: number;
  private hidden = 1;
  private internal = 0;
  private next: number;
  private working = -1;
  private readonly heldH: Uint8Array;
  private readonly heldI: Uint8Array;
  private readonly out: MutableInstruction[] = [];
  private pend = false;
  private pFrom = 0;
  private pTo = 0;
  private pKind: Store = NONE;
  private pStride = 0;
  private pTail = false;

  constructor(
    readonly steps: number,
    private readonly alpha: number,
    private readonly bytes: { hidden: number; internal: number } | undefined,
    private readonly record: boolean,
    /** Most instructions to record; one more throws `E_TOO_LARGE`. */
    private readonly maxInstructions = Number.POSITIVE_INFINITY,
  ) {
    this.next = steps;
    this.heldH = new Uint8Array(steps + 1);
    this.heldI = new Uint8Array(steps + 1);
    this.heldH[0] = 1;
    this.peakSlots = 1;
    this.peakBytes = bytes === undefined ? 0 : bytes.hidden;
  }

  private held(p: number): boolean {
    return this.heldH[p] === 1 || this.heldI[p] === 1;
  }

  forward(a: number, b: number, store: Store): void {
    if (!(a >= 0 && a < b && b <= this.next) || !this.held(a)) {
      throw new Error(`emit: invalid forward ${a} -> ${b} (next ${this.next})`);
    }
    this.forwards += b - a;
    this.working = b;
    if (store === HIDDEN) {
      if (this.heldH[b] === 1 || b > this.next - 1) throw new Error(`emit: bad hidden store at ${b}`);
      this.heldH[b] = 1;
      this.hidden++;
      this.measure();
    } else if (store === INTERNAL) {
      if (this.heldI[b] === 1) throw new Error(`emit: bad internal store at ${b}`);
      this.heldI[b] = 1;
      this.internal++;
      this.measure();
    }
    if (!this.record) return;
    if (this.pend && this.pTo === a && !this.pTail) {
      if (store !== NONE && store === this.pKind && b - a === this.pStride) {
        this.pTo = b;
        return;
      }
      if (store === NONE && this.pKind !== NONE && b - a < this.pStride) {
        this.pTo = b;
        this.pTail = true;
        return;
      }
    }
    this.flush();
    this.pend = true;
    this.pFrom = a;
    this.pTo = b;
    this.pKind = store;
    this.pStride = b - a;
    this.pTail = false;
  }

  backward(t: number): void {
    if (t !== this.next || t < 1) throw new Error(`emit: backward ${t} out of order (next ${this.next})`);
    let viaWorking = false;
    if (this.heldI[t] !== 1) {
      if (this.working === t) viaWorking = true;
      else if (this.held(t - 1)) this.forwards += 1;
      else throw new Error(`emit: no state for backward ${t}`);
    }
    this.backwards++;
    if (this.heldH[t - 1] === 1) {
      this.heldH[t - 1] = 0;
      this.hidden--;
    }
    if (this.heldI[t] === 1) {
      this.heldI[t] = 0;
      this.internal--;
    }
    this.next = t - 1;
    this.working = -1;
    if (!this.record) return;
    const last = this.out[this.out.length - 1];
    if (
      viaWorking &&
      this.pend &&
      this.pKind === NONE &&
      this.pTo === t &&
      this.pFrom === t - 1 &&
      last !== undefined &&
      last.op === 'backward' &&
      last.to === t + 1
    ) {
      // "forward t-1 -> t; backward t" folds into the previous backward (recompute from t - 1).
      this.pend = false;
      last.to = t;
      return;
    }
    this.flush();
    const prev = this.out[this.out.length - 1];
    if (prev !== undefined && prev.op === 'backward' && prev.to === t + 1) {
      prev.to = t;
      return;
    }
    this.push({ op: 'backward', from: t, to: t });
  }

  free(kind: Store, p: number): void {
    if (kind === HIDDEN && this.heldH[p] === 1) {
      this.heldH[p] = 0;
      this.hidden--;
    } else if (kind === INTERNAL && this.heldI[p] === 1) {
      this.heldI[p] = 0;
      this.internal--;
    } else throw new Error(`emit: free of a checkpoint not held at ${p}`);
    this.working = -1;
    if (!this.record) return;
    this.flush();
    this.push({ op: 'free', kind: kind === HIDDEN ? 'hidden' : 'internal', at: p });
  }

  private measure(): void {
    const slots = this.hidden + this.internal * this.alpha;
    if (slots > this.peakSlots) this.peakSlots = slots;
    if (this.bytes !== undefined) {
      const b = this.hidden * this.bytes.hidden + this.internal * this.bytes.internal;
      if (b > this.peakBytes) this.peakBytes = b;
    }
  }

  private flush(): void {
    if (!this.pend) return;
    this.pend = false;
    const ins: MutableForward = { op: 'forward', from: this.pFrom, to: this.pTo };
    if (this.pKind !== NONE) {
      ins.store = this.pKind === HIDDEN ? 'hidden' : 'internal';
      if (this.pTo - this.pFrom !== this.pStride) ins.stride = this.pStride;
    }
    this.push(ins);
  }

  private push(ins: MutableInstruction): void {
    if (this.out.length >= this.maxInstructions) {
      throw new SolverError(
        'E_TOO_LARGE',
        `the policy has more than ${this.maxInstructions} instructions (maxInstructions); use a larger budget or another strategy, or raise maxInstructions`,
        {
          path: 'maxInstructions',
          found: this.out.length + 1,
          expected: `at most ${this.maxInstructions} instructions`,
        },
      );
    }
    this.out.push(ins);
  }

  /** Check the schedule is complete and return the instructions. */
  finish(): Instruction[] {
    if (this.next !== 0) throw new Error(`emit: incomplete schedule (next ${this.next})`);
    this.flush();
    return this.out;
  }
}
