import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '@rewind/backend-onnxruntime';
import { describe, expect, it } from 'vitest';
import type { Io } from '../io.js';
import { EXIT, main } from '../main.js';

/** A tanh RNN cell in float64; `dropTerm` leaves the tanh derivative out of grad_h_prev. */
function rnnCell(dropTerm: boolean): { forward: Uint8Array; backward: Uint8Array } {
  const [I, H, t] = [2, 3, 'float64'] as const;
  const f = new GraphBuilder('f');
  const x = f.input('x', t, ['B', I]);
  const hp = f.input('h_prev', t, ['B', H]);
  const W = f.input('param_W', t, [H, I]);
  const U = f.input('param_U', t, [H, H]);
  const b = f.input('param_b', t, [H]);
  f.output(f.tanh(f.gemm(hp, U, f.gemm(x, W, b, { transB: true }), { transB: true })), 'h', t, ['B', H]);
  const g = new GraphBuilder('b');
  const gx = g.input('x', t, ['B', I]);
  const ghp = g.input('h_prev', t, ['B', H]);
  const h = g.input('h', t, ['B', H]);
  const dh = g.input('grad_h', t, ['B', H]);
  const gW = g.input('param_W', t, [H, I]);
  const gU = g.input('param_U', t, [H, H]);
  const da = g.mul(dh, g.sub(g.scalar(t, 1), g.mul(h, h)));
  g.output(g.matmul(dropTerm ? dh : da, gU), 'grad_h_prev', t, ['B', H]);
  g.output(g.matmul(da, gW), 'grad_x', t, ['B', I]);
  g.output(g.gemm(da, gx, undefined, { transA: true }), 'grad_param_W', t, [H, I]);
  g.output(g.gemm(da, ghp, undefined, { transA: true }), 'grad_param_U', t, [H, H]);
  g.output(g.reduceSum(da, [0], false), 'grad_param_b', t, [H]);
  return { forward: f.toModel(), backward: g.toModel() };
}

const dir = mkdtempSync(join(tmpdir(), 'rewind-check-cell-'));
for (const [name, cell] of [
  ['good', rnnCell(false)],
  ['bad', rnnCell(true)],
] as const) {
  writeFileSync(join(dir, `${name}-f.onnx`), cell.forward);
  writeFileSync(join(dir, `${name}-b.onnx`), cell.backward);
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: {
      write: (c: string | Uint8Array) => (stdout += typeof c === 'string' ? c : new TextDecoder().decode(c)),
    },
    stderr: { write: (c: string) => (stderr += c) },
    readStdin: async () => new Uint8Array(),
    readFile: async () => {
      throw new Error('not used');
    },
    writeFile: async () => {},
    makeDir: async () => {},
    checkOutput: async () => {},
    now: () => 0,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

const args = (name: string, ...more: string[]) => [
  'check-cell',
  '--forward',
  join(dir, `${name}-f.onnx`),
  '--backward',
  join(dir, `${name}-b.onnx`),
  '--input-size',
  '2',
  '--hidden-size',
  '3',
  ...more,
];

describe('rewind check-cell', () => {
  it('passes a correct cell (exit 0) and prints every gradient', async () => {
    const r = await cli(args('good'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/^gradient check passed \(central differences in float64/);
    expect(r.stdout).toContain('one step:');
    expect(r.stdout).toContain('4 steps:');
    expect(r.stdout).toMatch(/grad_param_U\s+ok/);
  });

  it('fails a backward that drops a term (exit 1), naming the offender', async () => {
    const r = await cli(args('bad', '--steps', '3', '--json'));
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as {
      passed: boolean;
      runs: { steps: number; passed: boolean; entries: { gradient: string; passed: boolean }[] }[];
      worst: { entry: { gradient: string } };
      message: string;
    };
    expect(result.passed).toBe(false);
    // In one step only the gradient of the initial state is wrong; over a sequence it reaches every
    // gradient through the earlier steps.
    const failing = result.runs.map((run) => run.entries.filter((e) => !e.passed).map((e) => e.gradient));
    expect(failing[0]).toEqual(['grad_h_prev']);
    expect(failing[1]).toEqual(['grad_x', 'grad_h_prev', 'grad_param_W', 'grad_param_U', 'grad_param_b']);
    expect(result.message).toContain('gradient check FAILED');
    expect(result.message).toContain(`${result.worst.entry.gradient} (the gradient of`);
    const text = await cli(args('bad'));
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/grad_param_U\s+WRONG/);
  });

  it('reports contract violations (exit 1) and usage errors (exit 2)', async () => {
    const r = await cli(args('good', '--hidden-size', '4'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_USER_CELL_SHAPE');
    expect(r.stderr).toContain('the forward model has inputs x: float64 [B, 2]');
    const wrongType = await cli(args('good', '--dtype', 'float32'));
    expect(wrongType.code).toBe(1);
    expect(wrongType.stderr).toContain('must be float32, found float64');
    const missing = await cli(['check-cell', '--forward', 'f.onnx']);
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.stderr).toContain('--backward is required');
    expect((await cli(args('good', '--tolerance', '0'))).code).toBe(EXIT.usage);
    expect((await cli(args('good', '--dtype', 'half'))).code).toBe(EXIT.usage);
    const absent = await cli(['check-cell', '--forward', join(dir, 'none.onnx'), ...args('good').slice(3)]);
    expect(absent.code).toBe(EXIT.failure);
    expect(absent.stderr).toContain('E_USER_CELL_LOAD');
  });

  it('is listed in the help', async () => {
    expect((await cli(['--help'])).stdout).toContain('check-cell');
    expect((await cli(['check-cell', '--help'])).stdout).toContain('Usage: rewind check-cell');
  });
});
