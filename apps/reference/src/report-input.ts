/**
 * Checking the files `rewind report` reads (`rewind bench --out`, `rewind train --json-out`): a file of the
 * wrong shape is refused with one typed line naming the file, the field (a JSON pointer) and what was expected.
 */
import { UsageError } from './args.js';
import type { BenchFile, TrainFile } from './report.js';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (isObject(v)) return 'an object';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

class Shape {
  constructor(
    private readonly file: string,
    private readonly what: string,
  ) {}

  fail(pointer: string, found: unknown, expected: string): never {
    throw new UsageError(
      'E_INPUT',
      `${this.file} is not ${this.what}: at ${pointer === '' ? '/' : pointer} expected ${expected}, found ${show(found)}`,
    );
  }

  object(v: unknown, pointer: string): Record<string, unknown> {
    if (!isObject(v)) this.fail(pointer, v, 'an object');
    return v;
  }

  array(v: unknown, pointer: string): unknown[] {
    if (!Array.isArray(v)) this.fail(pointer, v, 'an array');
    return v;
  }

  string(o: Record<string, unknown>, key: string, pointer: string): void {
    if (typeof o[key] !== 'string') this.fail(`${pointer}/${key}`, o[key], 'a string');
  }

  number(o: Record<string, unknown>, key: string, pointer: string, optional = false): void {
    if (optional && o[key] === undefined) return;
    if (typeof o[key] !== 'number' || !Number.isFinite(o[key]))
      this.fail(`${pointer}/${key}`, o[key], 'a finite number');
  }
}

/** A parsed `--bench` file, checked. */
export function checkBenchFile(data: unknown, file: string): BenchFile {
  const s = new Shape(file, "a 'rewind bench --out' file");
  const root = s.object(data, '');
  s.string(root, 'machine', '');
  const runs = s.array(root['runs'], '/runs');
  runs.forEach((run, i) => {
    const p = `/runs/${i}`;
    const r = s.object(run, p);
    for (const k of ['backend', 'cell', 'strategy']) s.string(r, k, p);
    for (const k of ['steps', 'budgetPercent']) s.number(r, k, p);
    const pred = s.object(r['predicted'], `${p}/predicted`);
    for (const k of ['timeRatio', 'memoryRatio', 'forwards']) s.number(pred, k, `${p}/predicted`);
    const m = s.object(r['measured'], `${p}/measured`);
    for (const k of ['msPerIteration', 'peakCheckpointBytes', 'storeAllBytes', 'timeRatio', 'memoryRatio']) {
      s.number(m, k, `${p}/measured`);
    }
    s.number(m, 'overheadShare', `${p}/measured`, true);
  });
  return data as BenchFile;
}

/** A parsed `--train` file, checked. */
export function checkTrainFile(data: unknown, file: string): TrainFile {
  const s = new Shape(file, "a 'rewind train --json-out' file");
  const root = s.object(data, '');
  for (const k of ['backend', 'cell', 'strategy']) s.string(root, k, '');
  s.number(root, 'steps', '');
  if (root['sparsity'] !== undefined) {
    const sp = s.object(root['sparsity'], '/sparsity');
    s.number(sp, 'target', '/sparsity');
    s.number(sp, 'achieved', '/sparsity');
  }
  const history = s.array(root['history'], '/history');
  history.forEach((h, i) => {
    const o = s.object(h, `/history/${i}`);
    s.number(o, 'iteration', `/history/${i}`);
    s.number(o, 'loss', `/history/${i}`);
  });
  s.object(root['summary'], '/summary');
  return data as TrainFile;
}
