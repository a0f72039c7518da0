/**
 * The handle layer shared by the built-in and the user cells: a `CellBackendV1` over a `StepProgram`.
 *
 * Forward steps may be lazy: `forward` then records a node (step `t`, parent `h_{t-1}`) and returns at
 * once; the computation happens when a value is needed (a backward step needs an internal state), and
 * then every pending step on the way is computed in as few runs as possible (a fused range). Nodes are
 * reference-counted by the handles the executor holds and by pending children, so that a state nobody
 * can reach is dropped, and one still needed by a pending chain is kept until that chain is computed.
 */
import { type CellBackendV1, type ForwardResultV1, type GradientReadout, HandleBook } from '@rewind/executor';
import type { StateBytes } from '@rewind/policy';
import type { Tensor } from 'onnxruntime-node';
import { OnnxBackendError } from '../errors.js';

/** What a carried state holds: `h`, then any further carried tensors (the LSTM's `c`). */
export type StateTensors = readonly Tensor[];

/** The internal state `s_t` as data: the states before and after the step, and the saved extras. */
export interface InternalData {
  readonly prev: StateTensors;
  readonly next: StateTensors;
  readonly extra: readonly Tensor[];
}

/** What a pending step on a path must produce. */
export type Want = 'none' | 'state' | 'internal';

/** The result of computing a path of forward steps: per step, the state and internal state asked for. */
export interface PathResult {
  readonly states: readonly (StateTensors | undefined)[];
  readonly internals: readonly (InternalData | undefined)[];
}

/** The computations behind a backend: forward paths, backward steps, and the accumulated results. */
export interface StepProgram {
  readonly name: string;
  readonly steps: number;
  /** The initial state `h_0` (tensors never modified, so they may be shared). */
  initialState(): StateTensors;
  /**
   * Compute forward steps `t0+1 .. t0+wants.length` from `root` (the state at `t0`). For each step `j`,
   * `wants[j]` says what to return; the last step's state is always wanted.
   */
  forwardPath(root: StateTensors, t0: number, wants: readonly Want[]): Promise<PathResult>;
  /** Backward step `t` (loss, gradients accumulated inside); returns the gradient at the previous state. */
  backward(internal: InternalData, d: StateTensors | null, t: number): Promise<StateTensors>;
  zeroGradients(): Promise<void> | void;
  loss(): number;
  readGradients(): Promise<GradientReadout>;
}

class Node {
  readonly t: number;
  parent: Node | undefined;
  state: StateTensors | undefined;
  internal: InternalData | undefined;
  /** Live handles onto this node (hidden and internal). */
  refs = 0;
  /** Live internal handles onto this node. */
  internalRefs = 0;
  /** Pending nodes computed from this one. */
  readonly children = new Set<Node>();

  constructor(t: number, parent: Node | undefined, state: StateTensors | undefined) {
    this.t = t;
    this.parent = parent;
    this.state = state;
  }
}

/** A hidden-state handle of the ONNX Runtime backend (opaque). */
export interface OnnxHidden {
  readonly kind: 'hidden';
  /** The step the state belongs to (`h_step`). */
  readonly step: number;
}
/** An internal-state handle of the ONNX Runtime backend (opaque). */
export interface OnnxInternal {
  readonly kind: 'internal';
  readonly step: number;
}
/** A gradient handle of the ONNX Runtime backend (opaque). */
export interface OnnxGradient {
  readonly kind: 'gradient';
  readonly step: number;
}

interface HiddenImpl extends OnnxHidden {
  readonly node: Node;
}
interface InternalImpl extends OnnxInternal {
  readonly node: Node;
}
interface GradientImpl extends OnnxGradient {
  tensors: StateTensors | undefined;
}

/** Counters of the engine's work. */
export interface EngineCounters {
  /** Forward step computations requested by the caller. */
  forwardCalls: number;
  /** Forward steps computed (lazy steps whose result nobody needed are never computed). */
  forwardSteps: number;
  /** Materializations: each computes one path of pending steps. */
  paths: number;
  backwardSteps: number;
}

/** Options of the engine. */
export interface EngineOptions {
  /** Defer forward steps until a value is needed, and compute pending ranges together (default true). */
  readonly lazy: boolean;
  readonly stateBytes: StateBytes;
}

/** A `CellBackendV1` over a program, with lazy forward steps and checked handles. */
export class Engine implements CellBackendV1<OnnxHidden, OnnxInternal, OnnxGradient> {
  readonly specificationVersion = 'rewind-backend-v1' as const;
  readonly name: string;
  readonly steps: number;
  readonly counters: EngineCounters = { forwardCalls: 0, forwardSteps: 0, paths: 0, backwardSteps: 0 };
  private readonly program: StepProgram;
  private readonly options: EngineOptions;
  private readonly book: HandleBook;

  constructor(program: StepProgram, options: EngineOptions) {
    this.program = program;
    this.options = options;
    this.name = program.name;
    this.steps = program.steps;
    this.book = new HandleBook({
      name: program.name,
      steps: program.steps,
      error: (code, message) => new OnnxBackendError(code, message),
    });
  }

  stateBytes(): StateBytes {
    return { ...this.options.stateBytes };
  }

  liveHandles(): number {
    return this.book.live;
  }

  private hiddenHandle(node: Node): HiddenImpl {
    return { kind: 'hidden', step: node.t, node };
  }

  initialState(): OnnxHidden {
    const node = new Node(0, undefined, this.program.initialState());
    node.refs++;
    return this.book.hidden(this.hiddenHandle(node), 0);
  }

  async forward(
    hPrev: OnnxHidden,
    t: number,
    keepInternal: boolean,
  ): Promise<ForwardResultV1<OnnxHidden, OnnxInternal>> {
    const prev = this.book.forward<HiddenImpl>(hPrev, t).node;
    this.counters.forwardCalls++;
    const node = new Node(t, prev, undefined);
    prev.children.add(node);
    node.refs++;
    const h = this.book.hidden(this.hiddenHandle(node), t);
    let internal: InternalImpl | undefined;
    if (keepInternal) {
      node.refs++;
      node.internalRefs++;
      internal = this.book.internal<InternalImpl>({ kind: 'internal', step: t, node }, t);
    }
    if (!this.options.lazy) await this.materialize(node);
    return internal === undefined ? { h } : { h, internal };
  }

  hiddenOf(internal: OnnxInternal): OnnxHidden {
    const s = this.book.use<InternalImpl>(internal, 'internal', 'hiddenOf');
    return this.book.viewOf<HiddenImpl>(s) ?? this.book.lend(s, this.hiddenHandle(s.node));
  }

  async backward(internal: OnnxInternal, dh: OnnxGradient | null, t: number): Promise<OnnxGradient> {
    const { internal: s, dh: d } = this.book.backward<InternalImpl, GradientImpl>(internal, dh, t);
    await this.materialize(s.node);
    const data = s.node.internal;
    if (data === undefined) throw new Error(`${this.name}: internal state of step ${t} was not computed`);
    const out = await this.program.backward(data, d?.tensors ?? null, t);
    this.counters.backwardSteps++;
    return this.book.gradient<GradientImpl>({ kind: 'gradient', step: t - 1, tensors: out });
  }

  dispose(handle: OnnxHidden | OnnxInternal | OnnxGradient): void {
    const kind = this.book.dispose(handle);
    if (kind === 'gradient') {
      (handle as GradientImpl).tensors = undefined;
      return;
    }
    const node = (handle as HiddenImpl | InternalImpl).node;
    node.refs--;
    if (kind === 'internal') {
      node.internalRefs--;
      if (node.internalRefs === 0) node.internal = undefined;
    }
    this.prune(node);
  }

  /** Drop a node nobody can reach any more, and then its parent if that was its last use. */
  private prune(start: Node): void {
    let node: Node | undefined = start;
    while (node !== undefined && node.refs === 0 && node.children.size === 0) {
      node.state = undefined;
      node.internal = undefined;
      const parent: Node | undefined = node.parent;
      node.parent = undefined;
      parent?.children.delete(node);
      node = parent;
    }
  }

  /** Compute `target` (and its internal state if a live handle wants it), with every pending step before it. */
  private async materialize(target: Node): Promise<void> {
    if (target.state !== undefined && (target.internalRefs === 0 || target.internal !== undefined)) return;
    const path: Node[] = [];
    let n: Node | undefined = target;
    while (n !== undefined && n.state === undefined) {
      path.push(n);
      n = n.parent;
    }
    const root = n;
    if (root === undefined || root.state === undefined)
      throw new Error(`${this.name}: a pending step has no computed ancestor`);
    if (path.length === 0)
      throw new Error(`${this.name}: step ${target.t} has a state but lost its internal state`);
    path.reverse();
    const wants: Want[] = path.map((node, j) => {
      if (node.internalRefs > 0) return 'internal';
      const next = path[j + 1];
      const otherChildren = node.children.size - (next !== undefined && node.children.has(next) ? 1 : 0);
      return node.refs > 0 || otherChildren > 0 || j === path.length - 1 ? 'state' : 'none';
    });
    const result = await this.program.forwardPath(root.state, root.t, wants);
    this.counters.paths++;
    this.counters.forwardSteps += path.length;
    for (let j = 0; j < path.length; j++) {
      const node = path[j] as Node;
      const want = wants[j] as Want;
      if (want !== 'none') {
        const state = result.states[j];
        if (state === undefined) throw new Error(`${this.name}: step ${node.t} was not returned`);
        node.state = state;
        if (want === 'internal') {
          const internal = result.internals[j];
          if (internal === undefined)
            throw new Error(`${this.name}: internal state of step ${node.t} was not returned`);
          node.internal = internal;
        }
      }
      // Computed (or not needed): either way it no longer depends on its parent.
      const parent = node.parent;
      node.parent = undefined;
      parent?.children.delete(node);
    }
    // Nodes on the path that nobody holds, and the root if this was its last pending child.
    for (const node of path) this.prune(node);
    this.prune(root);
  }

  async zeroGradients(): Promise<void> {
    this.book.resetOrder();
    await this.program.zeroGradients();
  }

  loss(): number {
    return this.program.loss();
  }

  readGradients(): Promise<GradientReadout> {
    return this.program.readGradients();
  }
}
