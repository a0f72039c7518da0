/**
 * Runs the computations of `compute.ts` in a worker, one request at a time: a new request terminates a
 * worker still busy with an older one (a large dynamic program can take seconds), so the page always shows
 * the latest inputs. Without workers it computes on the main thread.
 */
import { computeFrontier, computeMain, type Failure, type FrontierResult, type MainResult } from './compute';
import type { Settings } from './inputs';

export interface Request {
  readonly id: number;
  readonly settings: Settings;
}

export type Reply =
  | { readonly id: number; readonly type: 'main'; readonly main: MainResult }
  | { readonly id: number; readonly type: 'frontier'; readonly frontier: FrontierResult }
  | { readonly id: number; readonly type: 'error'; readonly failure: Failure };

export interface Handlers {
  main(result: MainResult): void;
  frontier(result: FrontierResult): void;
  error(failure: Failure): void;
}

export class Engine {
  private worker: Worker | undefined;
  private busy = false;
  private id = 0;
  private useWorker = typeof Worker !== 'undefined';

  constructor(private readonly handlers: Handlers) {}

  /** Whether results come from a worker (false after a worker failed to start). */
  get threaded(): boolean {
    return this.useWorker;
  }

  run(settings: Settings): void {
    const id = ++this.id;
    if (this.useWorker) {
      try {
        if (this.busy) this.stop();
        const w = this.ensureWorker();
        this.busy = true;
        w.postMessage({ id, settings } satisfies Request);
        return;
      } catch {
        this.useWorker = false;
        this.stop();
      }
    }
    // Main-thread fallback: let the page paint its "computing" state first.
    setTimeout(() => {
      if (id !== this.id) return;
      try {
        this.handlers.main(computeMain(settings));
        setTimeout(() => {
          if (id === this.id) this.handlers.frontier(computeFrontier(settings));
        }, 0);
      } catch (e) {
        this.handlers.error({ ok: false, code: 'E_INTERNAL', message: String(e) });
      }
    }, 0);
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    w.onmessage = (ev: MessageEvent<Reply>) => {
      const reply = ev.data;
      if (reply.id !== this.id) return;
      if (reply.type === 'main') this.handlers.main(reply.main);
      else if (reply.type === 'frontier') {
        this.busy = false;
        this.handlers.frontier(reply.frontier);
      } else {
        this.busy = false;
        this.handlers.error(reply.failure);
      }
    };
    w.onerror = (ev) => {
      ev.preventDefault();
      this.stop();
      this.handlers.error({
        ok: false,
        code: 'E_WORKER',
        message: `the solver's worker failed: ${ev.message || 'out of memory?'}`,
      });
    };
    this.worker = w;
    return w;
  }

  private stop(): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.busy = false;
  }
}
