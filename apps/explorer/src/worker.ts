/** The page's worker: plans, verifies and compares off the main thread, then computes the frontier. */
import { computeFrontier, computeMain, toFailure } from './compute';
import type { Reply, Request } from './engine';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<Request>) => void) | null;
  postMessage(message: Reply): void;
}

const scope = self as unknown as WorkerScope;

scope.onmessage = (ev) => {
  const { id, settings } = ev.data;
  try {
    scope.postMessage({ id, type: 'main', main: computeMain(settings) });
    scope.postMessage({ id, type: 'frontier', frontier: computeFrontier(settings) });
  } catch (e) {
    scope.postMessage({ id, type: 'error', failure: toFailure(e) });
  }
};
