/**
 * Writes the fixtures the Node example runs on in CI (where Python and PyTorch are absent): the peephole
 * LSTM of `export.py`, built with this package's ONNX writer (`peephole.ts`), with the file names and
 * the input/output names `export.py` writes. The float32 backward model keeps its float initializers in
 * `backward_float32.onnx.data` (external data), as PyTorch's default exporter does.
 *
 *   npx tsx generate-fixtures.ts [OUT_DIR]        (default: ./fixtures)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peepholeBackwardExternal, peepholeModels } from './peephole.js';

/** The sizes `export.py` exports by default. */
export const FIXTURE_SIZES = { inputSize: 3, hiddenSize: 8 } as const;

/** The fixture files, by name. */
export function fixtureFiles(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const dtype of ['float32', 'float64'] as const) {
    const sizes = { ...FIXTURE_SIZES, dtype };
    const { forward, backward } = peepholeModels(sizes);
    files.set(`forward_${dtype}.onnx`, forward);
    if (dtype === 'float32') {
      const ext = peepholeBackwardExternal(sizes, `backward_${dtype}.onnx.data`);
      files.set(`backward_${dtype}.onnx`, ext.model);
      files.set(`backward_${dtype}.onnx.data`, ext.data);
    } else files.set(`backward_${dtype}.onnx`, backward);
  }
  return files;
}

/** Write the fixtures into `dir`. */
export async function writeFixtures(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const names: string[] = [];
  for (const [name, bytes] of fixtureFiles()) {
    await writeFile(join(dir, name), bytes);
    names.push(name);
  }
  return names;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
  const names = await writeFixtures(dir);
  console.log(`wrote ${names.join(', ')} to ${dir}`);
}
