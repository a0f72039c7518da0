import { describe, expect, it } from 'vitest';
import { asciiChart } from './plot.js';
import { type BenchRun, renderSvg, reportFigures } from './report.js';

function run(backend: string, strategy: string, memoryRatio: number, timeRatio: number): BenchRun {
  return {
    backend,
    cell: 'lstm',
    strategy,
    steps: 200,
    budgetPercent: strategy === 'store-all' ? 100 : 5,
    predicted: { timeRatio, memoryRatio, forwards: 300 },
    measured: { msPerIteration: 10, peakCheckpointBytes: 1e6, storeAllBytes: 2e7, timeRatio, memoryRatio },
  };
}

describe('the report frontier figure', () => {
  const bench = {
    machine: 'm',
    runs: [
      run('tfjs-wasm', 'store-all', 1, 1),
      run('tfjs-wasm', 'msm', 0.05, 1.3),
      run('ort-cpu', 'store-all', 1, 1),
      run('ort-cpu', 'msm', 0.05, 1.2),
    ],
  };

  it('has a legend entry for every series and one shape per backend', async () => {
    const [frontier] = reportFigures({ steps: 200, alpha: 4.5, backwardCost: 2, bench, trains: [] });
    expect(frontier?.name).toBe('frontier');
    const layers = (
      frontier!.spec as {
        layer: { encoding: Record<string, { scale?: { domain: string[]; range: string[] } }> }[];
      }
    ).layer;
    const shapes = layers[1]!.encoding['shape']!.scale!;
    expect(shapes.domain).toEqual([
      'tfjs-wasm (measured)',
      'ort-cpu (measured)',
      'msm at 5% (predicted headline)',
    ]);
    expect(new Set(shapes.range).size).toBe(shapes.range.length);
    const svg = await renderSvg(frontier!);
    for (const label of [
      'strategy (lines: predicted)',
      'chen-sqrt',
      'hsm',
      'ism',
      'msm',
      'tfjs-wasm (measured)',
      'ort-cpu (measured)',
      'msm at 5% (predicted headline)',
    ]) {
      expect(svg).toContain(label);
    }
  });

  it('names the headline in the legend without measurements too', async () => {
    const [frontier] = reportFigures({ steps: 100, alpha: 2, backwardCost: 2, trains: [] });
    expect(await renderSvg(frontier!)).toContain('msm at 5% (predicted headline)');
  });
});

describe('the terminal chart', () => {
  it('draws the first series on top where series meet, and lists every series', () => {
    const points = [
      { x: 1, y: 1 },
      { x: 10, y: 2 },
    ];
    const chart = asciiChart(
      [
        { name: 'msm', points },
        { name: 'hsm', points },
      ],
      { xLabel: 'x', yLabel: 'y', width: 10, height: 4 },
    );
    const grid = chart.split('\n').filter((l) => l.includes('|'));
    expect(grid.join('')).toContain('*');
    expect(grid.join('')).not.toContain('+');
    expect(chart).toContain('* msm   + hsm');
  });
});
