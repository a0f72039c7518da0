import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJson, encodeJson } from '@rewind/policy';
import { describe, expect, it } from 'vitest';
import { parseMemory, parseStateBytes, UsageError } from './args.js';
import type { Io } from './io.js';
import { EXIT, main, skipRunnerBanner } from './main.js';

interface Captured {
  code: number;
  stdout: Uint8Array;
  text: string;
  stderr: string;
}

async function run(
  argv: string[],
  stdin: Uint8Array = new Uint8Array(),
  files = new Map<string, Uint8Array>(),
) {
  const out: Uint8Array[] = [];
  let err = '';
  const enc = new TextEncoder();
  const io: Io = {
    stdout: { write: (c: string | Uint8Array) => out.push(typeof c === 'string' ? enc.encode(c) : c) },
    stderr: { write: (c: string) => (err += c) },
    readStdin: async () => stdin,
    readFile: async (p) => {
      const f = files.get(p);
      if (f === undefined) throw Object.assign(new Error(`ENOENT: no such file '${p}'`), { code: 'ENOENT' });
      return f;
    },
    writeFile: async (p, d) => {
      files.set(p, typeof d === 'string' ? enc.encode(d) : d);
    },
    makeDir: async () => {},
    now: () => performance.now(),
  };
  const code = await main(argv, io);
  const stdout = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of out) {
    stdout.set(c, at);
    at += c.length;
  }
  const result: Captured = { code, stdout, text: new TextDecoder().decode(stdout), stderr: err };
  return result;
}

describe('rewind command line', () => {
  it('prints help for the program and for every command', async () => {
    for (const argv of [
      [],
      ['--help'],
      ...['plan', 'cost', 'verify', 'frontier', 'demo'].map((c) => [c, '--help']),
    ]) {
      const r = await run(argv);
      expect(r.code).toBe(EXIT.ok);
      expect(r.text).toMatch(/Usage: rewind/);
    }
  });

  it('refuses an unknown command or option with exit code 2 and no stack trace', async () => {
    const a = await run(['nonsense']);
    expect(a.code).toBe(EXIT.usage);
    expect(a.stderr).toContain('unknown command "nonsense"');
    const b = await run(['plan', '--steps', '10', '--memory', '5', '--bogus']);
    expect(b.code).toBe(EXIT.usage);
    expect(b.stderr).not.toMatch(/\n\s+at /);
    const c = await run(['plan', '--steps', 'ten', '--memory', '5']);
    expect(c.code).toBe(EXIT.usage);
    expect(c.stderr).toContain('--steps "ten" is not a positive integer');
    const d = await run(['plan', '--steps', '10', '--memory', '64MiB']);
    expect(d.code).toBe(EXIT.usage);
    expect(d.stderr).toContain('--state-bytes');
  });

  it('plans a policy that verify accepts, through standard output and input', async () => {
    const planned = await run([
      'plan',
      '--steps',
      '200',
      '--memory',
      '10%',
      '--alpha',
      '2.5',
      '--strategy',
      'msm',
    ]);
    expect(planned.code).toBe(EXIT.ok);
    const policy = decodeJson(planned.stdout);
    expect(policy.strategy).toBe('msm');
    expect(policy.budget.slots).toBeCloseTo(0.1 * (1 + 200 * 2.5));
    const verified = await run(['verify', '-', '--json'], planned.stdout);
    expect(verified.code).toBe(EXIT.ok);
    const summary = JSON.parse(verified.text) as Record<string, unknown>;
    expect(summary).toMatchObject({ ok: true, format: 'json', steps: 200, forwards: policy.totals.forwards });
  });

  it('writes and reads the binary encoding', async () => {
    const files = new Map<string, Uint8Array>();
    const planned = await run(
      [
        'plan',
        '--steps',
        '1000',
        '--memory',
        '60',
        '--strategy',
        'hsm',
        '--format',
        'binary',
        '--out',
        'p.bin',
      ],
      undefined,
      files,
    );
    expect(planned.code).toBe(EXIT.ok);
    expect(planned.stderr).toContain('wrote p.bin');
    const bin = files.get('p.bin')!;
    expect(Array.from(bin.subarray(0, 4))).toEqual([0x52, 0x57, 0x50, 0x4c]);
    const verified = await run(['verify', 'p.bin'], undefined, files);
    expect(verified.code).toBe(EXIT.ok);
    expect(verified.text).toContain('valid binary policy: hsm, T=1000');
  });

  it('plans under a byte budget', async () => {
    const r = await run([
      'plan',
      '--steps',
      '100',
      '--memory',
      '1MiB',
      '--state-bytes',
      '4096:16384',
      '--alpha',
      '4',
    ]);
    expect(r.code).toBe(EXIT.ok);
    const p = decodeJson(r.stdout);
    expect(p.budget.bytes).toBe(1024 * 1024);
    expect(p.totals.peakBytes).toBeLessThanOrEqual(1024 * 1024);
  });

  it('reports the cost as one JSON object', async () => {
    const r = await run([
      'cost',
      '--steps',
      '1000',
      '--memory',
      '5%',
      '--alpha',
      '3',
      '--strategy',
      'msm',
      '--json',
    ]);
    expect(r.code).toBe(EXIT.ok);
    const c = JSON.parse(r.text) as Record<string, number | string>;
    expect(c).toMatchObject({ strategy: 'msm', steps: 1000, backwards: 1000 });
    for (const key of ['memory', 'forwards', 'peakMemory', 'timeRatio']) expect(typeof c[key]).toBe('number');
    expect(c['peakMemory']).toBeLessThanOrEqual(c['memory'] as number);
    expect(c['timeRatio']).toBeGreaterThan(1);
  });

  it('exits 3 with the minimum when the budget is too small', async () => {
    const r = await run(['plan', '--steps', '100', '--memory', '0.5', '--strategy', 'hsm']);
    expect(r.code).toBe(EXIT.infeasible);
    expect(r.stderr).toContain('E_BUDGET_TOO_SMALL');
  });

  it('reports an invalid policy with its code and path, exit 1', async () => {
    const planned = await run(['plan', '--steps', '20', '--memory', '8', '--strategy', 'hsm']);
    const policy = JSON.parse(planned.text) as { totals: { forwards: number } };
    policy.totals.forwards += 1;
    const bad = new TextEncoder().encode(JSON.stringify(policy));
    const r = await run(['verify', '-', '--json'], bad);
    expect(r.code).toBe(EXIT.invalid);
    expect(JSON.parse(r.text)).toMatchObject({
      ok: false,
      code: 'E_VERIFY_TOTALS',
      path: '/totals/forwards',
    });
    const garbage = await run(['verify', '-'], new TextEncoder().encode('{"format": 1'));
    expect(garbage.code).toBe(EXIT.invalid);
    expect(garbage.stderr).toContain('E_JSON');
    const missing = await run(['verify', 'nope.json']);
    expect(missing.code).toBe(EXIT.failure);
  });

  it('prints the frontier as a chart, JSON and CSV', async () => {
    const chart = await run(['frontier', '--steps', '100', '--alpha', '2', '--points', '12']);
    expect(chart.code).toBe(EXIT.ok);
    expect(chart.text).toContain('# chen-sqrt');
    const json = await run(['frontier', '--steps', '100', '--points', '12', '--json']);
    const parsed = JSON.parse(json.text) as { points: { strategy: string; timeRatio: number }[] };
    expect(new Set(parsed.points.map((p) => p.strategy))).toEqual(
      new Set(['chen-sqrt', 'hsm', 'ism', 'msm']),
    );
    const csv = await run(['frontier', '--steps', '50', '--points', '5', '--csv', '--strategies', 'msm']);
    expect(csv.text.split('\n')[0]).toBe('strategy,memory,forwards,timeRatio');
  });

  it('writes an HTML report with SVG figures, with and without measurements', async () => {
    const files = new Map<string, Uint8Array>();
    const plain = await run(['report', '--out', 'r', '--steps', '200', '--alpha', '3'], undefined, files);
    expect(plain.code).toBe(EXIT.ok);
    const html = new TextDecoder().decode(files.get('r/report.html'));
    expect(html).toContain('<svg');
    expect(html).toContain('No measurements were given');
    expect(new TextDecoder().decode(files.get('r/frontier.svg'))).toMatch(/^<svg/);
    expect(files.has('r/memory-profile.svg')).toBe(true);
    const bench = {
      machine: 'test machine',
      runs: [
        {
          backend: 'tfjs-wasm',
          cell: 'lstm',
          strategy: 'msm',
          steps: 200,
          budgetPercent: 5,
          predicted: { timeRatio: 1.3, memoryRatio: 0.05, forwards: 390 },
          measured: {
            msPerIteration: 100,
            peakCheckpointBytes: 1e6,
            storeAllBytes: 2e7,
            timeRatio: 1.28,
            memoryRatio: 0.05,
          },
        },
      ],
    };
    const train = {
      backend: 'tfjs-wasm',
      cell: 'lstm',
      steps: 200,
      strategy: 'msm',
      sparsity: { target: 0.8, achieved: 0.79 },
      history: [
        { iteration: 1, loss: 4.1 },
        { iteration: 2, loss: 3.5 },
      ],
      summary: {},
    };
    files.set('bench.json', new TextEncoder().encode(JSON.stringify(bench)));
    files.set('train.json', new TextEncoder().encode(JSON.stringify(train)));
    const full = await run(
      ['report', '--out', 'r2', '--steps', '200', '--bench', 'bench.json', '--train', 'train.json'],
      undefined,
      files,
    );
    expect(full.code).toBe(EXIT.ok);
    expect(full.text).toContain('loss.svg');
    expect(full.text).toContain('sparsity.svg');
    expect(new TextDecoder().decode(files.get('r2/report.html'))).toContain('test machine');
  });

  it('runs the demo: plans, trains under the budget and measures both schedules', async () => {
    const r = await run(['demo', '--iterations', '3', '--steps', '80', '--batch', '4', '--hidden', '16']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.text).toContain('the msm policy:');
    expect(r.text).toMatch(/Rewind kept \d+\.\d% of the checkpoint memory of standard BPTT/);
  });

  it('trains a language model on Moby-Dick under a budget and reports JSON', async () => {
    const files = new Map<string, Uint8Array>();
    const argv = [
      'train',
      '--steps',
      '40',
      '--batch',
      '4',
      '--hidden',
      '16',
      '--iterations',
      '4',
      '--memory',
      '25%',
    ];
    const r = await run(
      [...argv, '--json', '--json-out', 't.json', '--learning-rate', '0.02'],
      undefined,
      files,
    );
    expect(r.code).toBe(EXIT.ok);
    const s = JSON.parse(r.text) as Record<string, number | string | null>;
    expect(s).toMatchObject({
      backend: 'tfjs-wasm',
      cell: 'lstm',
      steps: 40,
      backwards: 40,
      strategy: 'msm',
    });
    expect(s['peakCheckpointBytes']).toBeLessThanOrEqual(s['budgetBytes'] as number);
    expect(s['memoryRatio']).toBeLessThanOrEqual(0.25);
    expect(s['forwards']).toBeGreaterThan(40);
    expect(s['loss']).toBeLessThan(s['initialLoss'] as number);
    const file = JSON.parse(new TextDecoder().decode(files.get('t.json'))) as { history: unknown[] };
    expect(file.history).toHaveLength(4);
  });

  it('trains with the sparsified backward and reports the sparsity reached', async () => {
    const argv = [
      'train',
      '--steps',
      '20',
      '--batch',
      '4',
      '--hidden',
      '16',
      '--iterations',
      '2',
      '--memory',
      '50%',
    ];
    const r = await run([...argv, '--sparsity', '0.7', '--cell', 'gru', '--json']);
    expect(r.code).toBe(EXIT.ok);
    const s = JSON.parse(r.text) as Record<string, number>;
    expect(s['sparsity']).toBeGreaterThan(0.6);
    expect(s['skippableShare']).toBeGreaterThan(0.3);
  });

  it('measures store-all against the planners on a backend', async () => {
    const argv = [
      'bench',
      '--steps',
      '40',
      '--batch',
      '4',
      '--hidden',
      '16',
      '--iterations',
      '1',
      '--budgets',
      '25',
    ];
    const r = await run([...argv, '--strategies', 'hsm,msm', '--json']);
    expect(r.code).toBe(EXIT.ok);
    const b = JSON.parse(r.text) as {
      runs: { strategy: string; measured: { memoryRatio: number; timeRatio: number } }[];
    };
    expect(b.runs.map((x) => x.strategy)).toEqual(['store-all', 'hsm', 'msm']);
    for (const x of b.runs) {
      if (x.strategy === 'store-all') expect(x.measured.memoryRatio).toBe(1);
      else expect(x.measured.memoryRatio).toBeLessThanOrEqual(0.25);
    }

    // Two backends side by side: the host is named once, then each backend.
    const two = await run([...argv, '--backend', 'tfjs-cpu,ort-cpu', '--strategies', 'msm', '--json']);
    expect(two.code).toBe(EXIT.ok);
    const both = JSON.parse(two.text) as {
      machine: string;
      runs: {
        backend: string;
        tf32?: boolean;
        measured: { transfers?: { runs: number; parameterBytesIn: number; bytesOut: number } };
      }[];
    };
    expect(both.runs.map((x) => x.backend)).toEqual(['tfjs-cpu', 'tfjs-cpu', 'ort-cpu', 'ort-cpu']);
    // ONNX Runtime says whether TF32 was allowed and counts its runs and transfers; the parameters cross
    // once per iteration, the same for every policy.
    const ort = both.runs.filter((x) => x.backend === 'ort-cpu');
    for (const x of ort) {
      expect(x.tf32).toBe(false);
      expect(x.measured.transfers?.runs).toBeGreaterThan(0);
      expect(x.measured.transfers?.bytesOut).toBeGreaterThan(0);
    }
    expect(ort[0]?.measured.transfers?.parameterBytesIn).toBe(ort[1]?.measured.transfers?.parameterBytesIn);
    for (const x of both.runs.filter((r) => r.backend !== 'ort-cpu'))
      expect(x.measured.transfers).toBeUndefined();
    expect(both.machine.match(/cores, Node/g)).toHaveLength(1);
    expect(both.machine).toMatch(/tfjs.*; .*onnxruntime/);
  });

  it('refuses, before any work, a schedule whose checkpoints exceed the wasm heap', async () => {
    const r = await run([
      'train',
      '--steps',
      '16000',
      '--memory',
      '100%',
      '--strategy',
      'store-all',
      '--iterations',
      '1',
    ]);
    expect(r.code).toBe(EXIT.failure);
    expect(r.stderr).toContain('E_MEMORY_LIMIT');
    expect(r.stderr).toContain('give a smaller --memory');
  });

  it('trains on ONNX Runtime (CPU) like on tfjs, and refuses CUDA without its libraries', async () => {
    const argv = [
      'train',
      '--backend',
      'ort-cpu',
      '--steps',
      '40',
      '--batch',
      '4',
      '--hidden',
      '16',
      '--iterations',
      '4',
    ];
    const r = await run([...argv, '--memory', '25%', '--learning-rate', '0.02', '--json']);
    expect(r.code).toBe(EXIT.ok);
    const s = JSON.parse(r.text) as Record<string, number | string>;
    expect(s).toMatchObject({ backend: 'ort-cpu', steps: 40, backwards: 40 });
    expect(s['peakCheckpointBytes']).toBeLessThanOrEqual(s['budgetBytes'] as number);
    expect(s['loss']).toBeLessThan(s['initialLoss'] as number);
    if (!existsSync('/dev/nvidia0')) {
      const cuda = await run([
        'train',
        '--backend',
        'ort-cuda',
        '--steps',
        '10',
        '--batch',
        '2',
        '--hidden',
        '4',
      ]);
      expect(cuda.code).toBe(EXIT.failure);
      expect(cuda.stderr).toMatch(
        /^rewind train: E_CUDA_UNAVAILABLE: the CUDA execution provider could not be loaded/m,
      );
    }
  });

  it('refuses unknown backends and cells', async () => {
    expect((await run(['train', '--backend', 'tpu'])).code).toBe(EXIT.usage);
    expect((await run(['train', '--cell', 'transformer'])).code).toBe(EXIT.usage);
    expect((await run(['train', '--sparsity', '1.5'])).code).toBe(EXIT.usage);
  });
});

describe('argument parsing', () => {
  it('reads memory as slots, bytes or a share of store-all', () => {
    expect(parseMemory('120')).toEqual({ kind: 'slots', slots: 120 });
    expect(parseMemory('37.5')).toEqual({ kind: 'slots', slots: 37.5 });
    expect(parseMemory('64MiB')).toEqual({ kind: 'bytes', bytes: 64 * 1024 * 1024 });
    expect(parseMemory('1.5GB')).toEqual({ kind: 'bytes', bytes: 1.5e9 });
    expect(parseMemory('5%')).toEqual({ kind: 'percent', percent: 5 });
    for (const bad of ['', '-1', '0', '5 parsecs', '150%', 'NaN', '1e3'])
      expect(() => parseMemory(bad)).toThrow(UsageError);
  });

  it('reads state sizes', () => {
    expect(parseStateBytes('100', 2.5)).toEqual({ hidden: 100, internal: 250 });
    expect(parseStateBytes('100:300', 2.5)).toEqual({ hidden: 100, internal: 300 });
    expect(() => parseStateBytes('0', 1)).toThrow(UsageError);
  });

  it('skips the banner a script runner prints before the output', () => {
    const text = '\n> rewind-monorepo@ rewind /x\n> node cli.js plan\n\n{"a":1}\n';
    expect(new TextDecoder().decode(skipRunnerBanner(new TextEncoder().encode(text)))).toBe('{"a":1}\n');
    const plain = new TextEncoder().encode('{"a":1}');
    expect(skipRunnerBanner(plain)).toBe(plain);
  });
});

describe('the built command', () => {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

  it('pipes plan into verify between two processes', () => {
    const policy = execFileSync('node', [
      cli,
      'plan',
      '--steps',
      '300',
      '--memory',
      '40',
      '--strategy',
      'msm',
      '--alpha',
      '2',
    ]);
    const r = spawnSync('node', [cli, 'verify', '-', '--json'], { input: policy });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ ok: true, steps: 300 });
    const dir = mkdtempSync(join(tmpdir(), 'rewind-'));
    writeFileSync(join(dir, 'p.json'), policy);
    expect(encodeJson(decodeJson(readFileSync(join(dir, 'p.json'))))).toBe(policy.toString().trim());
    const bad = spawnSync('node', [cli, 'plan', '--steps', 'x'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).not.toContain('    at ');
  });
});
