// Compiles native/kernels.wat into src/native-module.ts: two WebAssembly modules as base64, one importing a
// shared memory (the wasm backend's threaded build) and one a plain memory. `pnpm native` writes the file;
// `pnpm native --check` fails when the committed file differs from what the text compiles to (a test runs
// the same comparison).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileNativeModules, renderNativeModule } from './native-lib.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = readFileSync(`${root}native/kernels.wat`, 'utf8');
const rendered = renderNativeModule(await compileNativeModules(source));
const target = `${root}src/native-module.ts`;
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== rendered) {
    console.error('src/native-module.ts is out of date with native/kernels.wat: run `pnpm native`');
    process.exit(1);
  }
  console.log('src/native-module.ts is up to date');
} else {
  writeFileSync(target, rendered);
  console.log(`wrote ${target}`);
}
