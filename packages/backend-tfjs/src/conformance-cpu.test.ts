import { describeBackendConformance } from '@rewind/executor/conformance';
import { conformanceOptions, type TestCell, tfjsFactory } from './conformance.test-util.js';
import { createTfjsEngine } from './engine.js';

const engine = await createTfjsEngine({ backend: 'cpu' });

const cases: ReadonlyArray<readonly [TestCell, Parameters<typeof tfjsFactory>[2]]> = [
  ['rnn', { kind: 'softmax', classes: 3 }],
  ['lstm', { kind: 'mse', outputs: 2 }],
  ['gru', { kind: 'softmax', classes: 4 }],
  ['custom', { kind: 'mse', outputs: 2 }],
];

for (const [cell, head] of cases) {
  describeBackendConformance(
    `tfjs cpu ${cell} (${head.kind})`,
    tfjsFactory(engine, cell, head),
    conformanceOptions(),
  );
}
