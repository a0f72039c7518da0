/**
 * `rewind check-cell`: load a user cell's forward and backward ONNX models, validate them against the
 * contract, and check the backward against finite differences of the forward (one step, then a short
 * sequence), before any training relies on it.
 */
import { EXIT, parseCount, parseReal, UsageError } from '../args.js';
import type { Command, Values } from './command.js';

function positiveReal(name: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseReal(name, text, 0, { above: 0 });
}

const str = (v: Values, name: string): string | undefined =>
  typeof v[name] === 'string' ? (v[name] as string) : undefined;

function required(values: Values, name: string): string {
  const v = str(values, name);
  if (v === undefined || v === '') throw new UsageError('E_MISSING', `--${name} is required`);
  return v;
}

export const checkCellCommand: Command = {
  name: 'check-cell',
  summary: "check a user cell's ONNX models against the contract and its backward against finite differences",
  usage: 'rewind check-cell --forward F.onnx --backward B.onnx --input-size I --hidden-size H [options]',
  description:
    'Validates a user cell (a forward-step and a backward-step ONNX model, e.g. exported from PyTorch) against\n' +
    'the contract of @rewind/backend-onnxruntime, then compares its backward with central finite differences of\n' +
    'its forward over one step and over a short sequence, on random data. Export the cell in float64 for this\n' +
    'check (float32 finite differences only catch gross errors). Models are read from their files, so external\n' +
    'data (F.onnx.data) beside them is found.',
  options: [
    { name: 'forward', type: 'string', value: 'F', help: 'the forward-step model (required)' },
    { name: 'backward', type: 'string', value: 'B', help: 'the backward-step model (required)' },
    { name: 'input-size', type: 'string', value: 'I', help: 'width of x_t (required)' },
    { name: 'hidden-size', type: 'string', value: 'H', help: 'width of each carried state (required)' },
    {
      name: 'state',
      type: 'string',
      value: 'S,S',
      help: 'carried states, h first (default h; an LSTM: h,c)',
    },
    {
      name: 'dtype',
      type: 'string',
      value: 'D',
      help: "float64 | float32, the models' element type (default float64)",
    },
    {
      name: 'steps',
      type: 'string',
      value: 'T',
      help: 'length of the sequence checked after one step (default 4)',
    },
    {
      name: 'batch',
      type: 'string',
      value: 'B',
      help: 'sequences per batch (default 2, or the batch a model was exported with)',
    },
    { name: 'seed', type: 'string', value: 'N', help: 'seed of the random data (default 1)' },
    {
      name: 'epsilon',
      type: 'string',
      value: 'E',
      help: 'finite-difference step (default 1e-6 in float64, 1e-2 in float32)',
    },
    {
      name: 'tolerance',
      type: 'string',
      value: 'T',
      help: 'largest relative error that passes (default 1e-6 in float64, 2e-2 in float32)',
    },
    { name: 'json', type: 'boolean', help: 'print the whole result as one JSON object' },
  ],
  notes:
    'Exit codes: 0 the check passed, 1 the models break the contract or the check failed, 2 usage error,\n' +
    '4 other failure (a file that cannot be read, ONNX Runtime failing to run a model).',
  async run({ io, values: v }) {
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
        return e.code === 'E_USER_CELL_LOAD' ? EXIT.failure : EXIT.invalid;
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
      return result.passed ? EXIT.ok : EXIT.invalid;
    } catch (e) {
      if (ort.isOnnxBackendError(e)) {
        io.stderr.write(`rewind check-cell: ${e.message}\n`);
        if (e.code === 'E_OPTIONS') throw new UsageError('E_OPTION', e.message);
        return e.code === 'E_USER_CELL_RUN' ? EXIT.failure : EXIT.invalid;
      }
      throw e;
    }
  },
};
