import { fileURLToPath } from 'node:url';
import { base } from '@rewind/vitest-config';
import { mergeConfig } from 'vitest/config';

// The examples import the package by name: the tests run them against the sources.
export default mergeConfig(base, {
  resolve: {
    alias: { '@rewind/backend-onnxruntime': fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
  },
});
