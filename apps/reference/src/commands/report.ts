import { EXIT, formatDuration, parseCount, parseReal, UsageError } from '../args.js';
import type { Io } from '../io.js';
import { Progress } from '../io.js';
import { checkFrontierSize, frontierSeconds, LIMITS } from '../limits.js';
import { type Figure, type ReportInput, renderSvg, reportFigures, reportHtml } from '../report.js';
import { checkBenchFile, checkTrainFile } from '../report-input.js';
import { type Command, str } from './command.js';

async function readJson(io: Io, path: string): Promise<unknown> {
  const text = new TextDecoder().decode(await io.readFile(path, LIMITS.jsonBytes));
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError('E_INPUT', `${path} is not JSON: ${(e as Error).message}`);
  }
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'write an HTML report with SVG figures from predictions and measurements',
  usage:
    'rewind report [--out DIR] [--steps T] [--alpha A] [--backward-cost B] [--bench FILE] [--train FILE]...',
  description:
    'Writes DIR/report.html (self-contained) and one SVG per figure: the memory/compute frontier per strategy\n' +
    "(predicted, with measured points from a 'rewind bench --out' file, one shape per backend), the headline\n" +
    'point, the memory-over-time profile of the msm policy at 5%, loss curves and the sparsity trade-off from\n' +
    "'rewind train --json-out' files. Input files of the wrong shape are refused with E_INPUT (exit 2).",
  options: [
    { name: 'out', type: 'string', value: 'DIR', help: 'output directory (default report)' },
    {
      name: 'steps',
      type: 'string',
      value: 'T',
      help: 'sequence length of the predictions (default 1000; steps * (1 + steps * alpha) <= 2e9)',
    },
    {
      name: 'alpha',
      type: 'string',
      value: 'A',
      help: 'internal-state size over hidden-state size, >= 1 (default 4.5)',
    },
    {
      name: 'backward-cost',
      type: 'string',
      value: 'B',
      help: 'cost of a backward step in forward steps, >= 0 (default 2)',
    },
    { name: 'bench', type: 'string', value: 'FILE', help: "measurements from 'rewind bench --out FILE'" },
    {
      name: 'train',
      type: 'strings',
      value: 'FILE',
      help: "a training run from 'rewind train --json-out FILE' (repeatable)",
    },
  ],
  async run({ io, values }) {
    const out = str(values, 'out') ?? 'report';
    const steps = parseCount('steps', str(values, 'steps'), 1000, { max: LIMITS.planSteps });
    const alpha = parseReal('alpha', str(values, 'alpha'), 4.5, { min: 1, max: 1e6 });
    const backwardCost = parseReal('backward-cost', str(values, 'backward-cost'), 2, { min: 0, max: 1e6 });
    checkFrontierSize(steps, alpha, ['chen-sqrt', 'hsm', 'ism', 'msm'], 'give a smaller --steps or --alpha');
    await io.checkOutput(out, 'dir');
    const benchPath = str(values, 'bench');
    const trainPaths = Array.isArray(values['train']) ? values['train'] : [];
    const input: ReportInput = {
      steps,
      alpha,
      backwardCost,
      ...(benchPath === undefined ? {} : { bench: checkBenchFile(await readJson(io, benchPath), benchPath) }),
      trains: await Promise.all(trainPaths.map(async (p) => checkTrainFile(await readJson(io, p), p))),
    };
    const estimate = frontierSeconds(steps, alpha, ['ism', 'msm']);
    if (estimate >= 3) {
      io.stderr.write(
        `report: the ism and msm frontiers for T=${steps} take up to about ${formatDuration(estimate)}\n`,
      );
    }
    const progress = new Progress(io, 'report');
    progress.update(0, 1, 'planning');
    const figures = reportFigures(input);
    const rendered: { figure: Figure; svg: string }[] = [];
    for (const [i, figure] of figures.entries()) {
      progress.update(i, figures.length, figure.name);
      rendered.push({ figure, svg: await renderSvg(figure) });
    }
    progress.done();
    await io.makeDir(out);
    for (const { figure, svg } of rendered) await io.writeFile(`${out}/${figure.name}.svg`, svg);
    await io.writeFile(`${out}/report.html`, reportHtml(input, rendered));
    io.stdout.write(
      `wrote ${out}/report.html and ${rendered.length} figures: ${rendered.map((r) => `${r.figure.name}.svg`).join(', ')}\n`,
    );
    return EXIT.ok;
  },
};
