/**
 * `rewind check-cell`: load a user cell's forward and backward ONNX models, validate them against the
 * contract, and check the backward against finite differences of the forward (one step, then a short
 * sequence), before any training relies on it.
 */
import { parseArgs } from 'node:util';
import { parseCount, parseReal, UsageError } from '../args.js';
import type { Io } from '../io.js';

/** The options of the command (`--help` besides), in the form of the shared option parser. */
export const OPTIONS = {
  forward: 'string',
  backward: 'string',
  'input-size': 'string',
  'hidden-size': 'string',
  state: 'string',
  dtype: 'string',
  steps: 'string',
  batch: 'string',
  seed: 'string',
  epsilon: 'string',
  tolerance: 'string',
  json: 'boolean',
} as const;

export const HELP = `Usage: rewind check-cell --forward F.onnx --backward B.onnx --input-size I --hidden-size H [options]

Validates a user cell (a forward-step and a backward-step ONNX model, e.g. exported from PyTorch) against
the contract of @rewind/backend-onnxruntime, then compares its backward with central finite differences of
its forward over one step and over a short sequence, on random data. Export the cell in float64 for this
check (float32 finite differences only catch gross errors). Models are read from their files, so external
data (F.onnx.data) beside them is found.

Options:
  --forward F         the forward-step model (required)
  --backward B        the backward-step model (required)
  --input-size I      width of x_t (required)
  --hidden-size H     width of each carried state (required)
  --state S,S         carried states, h first (default h; an LSTM: h,c)
  --dtype D           float64 | float32, the models' element type (default float64)
  --steps T           length of the sequence checked after one step (default 4)
  --batch B           sequences per batch (default 2, or the batch a model was exported with)
  --seed N            seed of the random data (default 1)
  --epsilon E         finite-difference step (default 1e-6 in float64, 1e-2 in float32)
  --tolerance T       largest relative error that passes (default 1e-6 in float64, 2e-2 in float32)
  --json              print the whole result as one JSON object

Exit codes: 0 the check passed, 1 the models break the contract or the check failed, 2 usage error,
4 other failure (a file that cannot be read, ONNX Runtime failing to run a model).`;

function positiveReal(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = parseReal(name, text, 0, 0);
  if (v <= 0) throw new UsageError('E_NUMBER', `--${name} ${JSON.stringify(text)} is not a number > 0`);
  return v;
}

function required(values: Values, name: string): string {
  const v = str(values, name);
  if (v === undefined || v === '') throw new UsageError('E_MISSING', `--${name} is required`);
  return v;
}

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[]): Values {
  const config: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, type] of Object.entries(OPTIONS)) config[name] = { type };
  try {
    return parseArgs({ args, options: config, allowPositionals: false, strict: true }).values as Values;
  } catch (e) {
    throw new UsageError('E_OPTION', (e as Error).message);
  }
}

const str = (v: Values, name: string): string | undefined =>
  typeof v[name] === 'string' ? (v[name] as string) : undefined;

/** Run the command; returns the exit code. */
export async function run(args: string[], io: Io): Promise<number> {
  const v = parse(args);
  if (v['help'] === true) {
    io.stdout.write(`${HELP}\n`);
    return 0;
  }
  const forward = required(v, 'forward');
  const backward = required(v, 'backward');
  const inputSize = parseCount('input-size', str(v, 'input-size'));
  const hiddenSize = parseCount('hidden-size', str(v, 'hidden-size'));
  const state = (str(v, 'state') ?? 'h').split(',').map((s) => s.trim());
  const dtype = str(v, 'dtype') ?? 'float64';
  if (dtype !== 'float64' && dtype !== 'float32')
    throw new UsageError('E_OPTION', `--dtype ${JSON.stringify(dtype)} is not float64 or float32`);
  const steps = parseCount('steps', str(v, 'steps'), 4);
  const seed = parseCount('seed', str(v, 'seed'), 1);
  const batch = str(v, 'batch');
  const batchSize = batch === undefined ? undefined : parseCount('batch', batch);
  const epsilon = positiveReal('epsilon', str(v, 'epsilon'));
  const tolerance = positiveReal('tolerance', str(v, 'tolerance'));

  const ort = await import('@rewind/backend-onnxruntime');
  let cell: Awaited<ReturnType<typeof ort.loadUserCell>>;
  try {
    cell = await ort.loadUserCell({ forward, backward, inputSize, hiddenSize, state }, { dtype });
  } catch (e) {
    if (ort.isOnnxBackendError(e)) {
      io.stderr.write(`rewind check-cell: ${e.message}\n`);
      if (e.code === 'E_OPTIONS') throw new UsageError('E_OPTION', e.message);
      return e.code === 'E_USER_CELL_LOAD' ? 4 : 1;
    }
    throw e;
  }
  try {
    const result = await ort.checkUserCell(cell, {
      steps,
      seed,
      ...(batchSize === undefined ? {} : { batchSize }),
      ...(epsilon === undefined ? {} : { epsilon }),
      ...(tolerance === undefined ? {} : { tolerance }),
    });
    if (v['json'] === true) io.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      io.stdout.write(`${result.message}\n`);
      for (const r of result.runs) {
        io.stdout.write(`\n${r.steps === 1 ? 'one step' : `${r.steps} steps`}:\n`);
        const width = Math.max(...r.entries.map((e) => e.gradient.length));
        for (const e of r.entries) {
          io.stdout.write(
            `  ${e.gradient.padEnd(width)}  ${e.passed ? 'ok    ' : 'WRONG '} relative ${e.maxRelError.toExponential(2)}` +
              `  absolute ${e.maxAbsError.toExponential(2)}  (${e.checked} of ${e.size} entries)\n`,
          );
        }
      }
    }
    return result.passed ? 0 : 1;
  } catch (e) {
    if (ort.isOnnxBackendError(e)) {
      io.stderr.write(`rewind check-cell: ${e.message}\n`);
      if (e.code === 'E_OPTIONS') throw new UsageError('E_OPTION', e.message);
      return e.code === 'E_USER_CELL_RUN' ? 4 : 1;
    }
    throw e;
  }
}
