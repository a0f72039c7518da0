// Runs the second, independent reader (examples/python-reader) over the conformance suite. It needs only
// python3 (3.11 or later); where python3 is missing it says so and skips.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const reader = fileURLToPath(new URL('../examples/python-reader/rewind_policy.py', import.meta.url));
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const python = process.env.PYTHON ?? 'python3';

const probe = spawnSync(python, ['-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 3)']);
if (probe.error !== undefined && 'code' in probe.error && probe.error.code === 'ENOENT') {
  console.log(`python reader: SKIPPED: ${python} was not found (the suite needs Python 3.11 or later)`);
  process.exit(0);
}
if (probe.status === 3) {
  console.error(`python reader: FAILED: ${python} is older than 3.11`);
  process.exit(1);
}
const run = spawnSync(python, [reader, 'suite', fixtures], { stdio: 'inherit' });
process.exit(run.status ?? 1);
