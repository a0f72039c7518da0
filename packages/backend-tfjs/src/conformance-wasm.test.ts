import { describeTfjsConformance } from './conformance.test-util.js';
import { createTfjsEngine } from './engine.js';

// One engine per file: each test file runs in its own process with its own tfjs backend.
describeTfjsConformance(await createTfjsEngine({ backend: 'wasm' }));
