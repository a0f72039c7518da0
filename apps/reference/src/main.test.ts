import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJson, encodeJson } from '@rewind/policy';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { parseMemory, parseStateBytes, UsageError } from './args.js';
import { run } from './cli.test-util.js';
import { COMMANDS } from './commands/index.js';
import { describeFailure, EXIT, skipRunnerBanner } from './main.js';

describe('rewind command line', () => {
  it('prints help for the program and for every command', async () => {
    for (const argv of [[], ['--help'], ...COMMANDS.map((c) => [c.name, '--help'])]) {
      const r = await run(argv);
      expect(r.code).toBe(EXIT.ok);
      expect(r.text).toMatch(/Usage: rewind/);
    }
  });

  it('lists every command with its summary, and every option of a command in its help', async () => {
    const main = await run(['--help']);
    expect(COMMANDS).toHaveLength(9);
    for (const c of COMMANDS) {
      expect(main.text).toMatch(new RegExp(`^  ${c.name} +${c.summary.replace(/[()]/g, '.')}$`, 'm'));
      const own = await run([c.name, '--help']);
      for (const o of c.options) expect(own.text).toContain(`--${o.name}`);
      expect((await run(['help', c.name])).text).toBe(own.text);
    }
  });

  it('refuses an unknown command or option with exit code 2 and no stack trace', async () => {
    const a = await run(['nonsense']);
    expect(a.code).toBe(EXIT.usage);
    expect(a.stderr).toContain('unknown command "nonsense"');
    expect(a.stderr).toContain('plan, cost, verify, frontier, train, bench, report, demo');
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

  it('plans exactly what the former share-of-store-all arithmetic planned', async () => {
    for (const [steps, percent, alpha, strategy] of [
      [1000, 5, 1, 'msm'],
      [1000, 5, 4.5, 'msm'],
      [200, 10, 2.5, 'ism'],
      [777, 3, 3.25, 'hsm'],
      [1000, 20, 1.5, 'chen-sqrt'],
      [50, 50, 6, 'auto'],
    ] as const) {
      const r = await run([
        'plan',
        ...['--steps', String(steps), '--memory', `${percent}%`, '--alpha', String(alpha)],
        ...['--strategy', strategy],
      ]);
      const slots = (percent / 100) * (1 + steps * alpha);
      const former = plan({ steps, memory: { slots }, strategy, costModel: { alpha, backwardCost: 2 } });
      expect(r.text).toBe(`${encodeJson(former)}\n`);
    }
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

  it('takes alpha from --state-bytes when --alpha is not given', async () => {
    const r = await run([
      'plan',
      '--steps',
      '1000',
      '--memory',
      '5%',
      '--state-bytes',
      '65536:294912',
      '--strategy',
      'msm',
    ]);
    expect(r.code).toBe(EXIT.ok);
    const p = decodeJson(r.stdout);
    expect(p.costModel.alpha).toBe(4.5);
    expect(p.budget.bytes).toBe(Math.floor(0.05 * (65536 + 1000 * 294912)));
    const same = await run([
      ...['plan', '--steps', '1000', '--memory', '5%', '--state-bytes', '65536:294912'],
      ...['--strategy', 'msm', '--alpha', '4.5'],
    ]);
    expect(same.text).toBe(r.text);
    const cost = await run([
      'cost',
      '--steps',
      '1000',
      '--memory',
      '5%',
      '--state-bytes',
      '65536:294912',
      '--json',
    ]);
    expect(cost.code).toBe(EXIT.ok);
    expect(JSON.parse(cost.text)).toMatchObject({
      memory: null,
      memoryBytes: Math.floor(0.05 * (65536 + 1000 * 294912)),
    });
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
      '--rounds',
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
        measured: {
          minorPageFaults: number;
          transfers?: { runs: number; parameterBytesIn: number; bytesOut: number };
          dispatches?: { perForwardStep: number; perBackwardStep: number; readbacks: number };
        };
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
    for (const x of both.runs.filter((r) => r.backend !== 'ort-cpu')) {
      expect(x.measured.transfers).toBeUndefined();
      // tfjs counts its kernels: at most 6 per forward step and 10 per backward step, and a training step
      // reads back the loss and the gradient norm only.
      const d = x.measured.dispatches;
      expect(d?.perForwardStep).toBeGreaterThan(0);
      expect(d?.perForwardStep).toBeLessThanOrEqual(6);
      expect(d?.perBackwardStep).toBeGreaterThan(0);
      expect(d?.perBackwardStep).toBeLessThanOrEqual(10);
      expect(d?.readbacks).toBe(2);
    }
    for (const x of ort) expect(x.measured.dispatches).toBeUndefined();
    // Every run says how much memory its iterations touched for the first time.
    for (const x of both.runs) expect(Number.isInteger(x.measured.minorPageFaults)).toBe(true);
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

describe('errors that reach main', () => {
  it('map to one line and a documented exit code, whatever threw them', () => {
    expect(
      describeFailure(
        new TypeError("Cannot read properties of undefined (reading 'x')\n    at f (a.js:1:1)"),
      ),
    ).toEqual({
      code: 'E_INTERNAL',
      message: "TypeError: Cannot read properties of undefined (reading 'x')",
      exit: EXIT.failure,
    });
    const errno = Object.assign(new Error("EACCES: permission denied, open 'x'"), { code: 'EACCES' });
    expect(describeFailure(errno)).toEqual({
      code: 'EACCES',
      message: "permission denied, open 'x'",
      exit: EXIT.failure,
    });
    const backend = Object.assign(new Error('E_BACKEND_INIT: no wasm'), { code: 'E_BACKEND_INIT' });
    expect(describeFailure(backend)).toMatchObject({
      code: 'E_BACKEND_INIT',
      message: 'no wasm',
      exit: EXIT.failure,
    });
    expect(describeFailure('depth must be >=2')).toEqual({
      code: 'E_INTERNAL',
      message: 'depth must be >=2',
      exit: EXIT.failure,
    });
    expect(describeFailure(new UsageError('E_X', 'bad'))).toEqual({
      code: 'E_X',
      message: 'bad',
      exit: EXIT.usage,
    });
  });
});

describe('argument parsing', () => {
  it('reads memory as slots, bytes or a share of store-all', () => {
    expect(parseMemory('120')).toEqual({ kind: 'slots', slots: 120 });
    expect(parseMemory('37.5')).toEqual({ kind: 'slots', slots: 37.5 });
    expect(parseMemory('64MiB')).toEqual({ kind: 'bytes', bytes: 64 * 1024 * 1024 });
    expect(parseMemory('1.5GB')).toEqual({ kind: 'bytes', bytes: 1.5e9 });
    expect(parseMemory('5%')).toEqual({ kind: 'percent', percent: 5 });
    expect(parseMemory('1e3')).toEqual({ kind: 'slots', slots: 1000 });
    for (const bad of ['', '-1', '0', '5 parsecs', '150%', '0%', 'NaN', '1e400', '5 XB'])
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
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  const hasPnpm = spawnSync('pnpm', ['--version'], { encoding: 'utf8' }).status === 0;

  it.skipIf(!hasPnpm)("writes clean output through the README's form, pnpm -s rewind (no banner)", () => {
    const r = spawnSync(
      'pnpm',
      ['-s', 'rewind', 'plan', '--steps', '30', '--memory', '6', '--strategy', 'hsm'],
      {
        cwd: repo,
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith('{"budget"')).toBe(true);
    expect(decodeJson(new TextEncoder().encode(r.stdout)).steps).toBe(30);
  });

  it('stops a planning command at once on Ctrl-C, without a stack trace', async () => {
    const child = spawn('node', [cli, 'frontier', '--steps', '40000', '--alpha', '1.2', '--json'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const closed = new Promise<NodeJS.Signals | null>((ok) => child.on('close', (_code, s) => ok(s)));
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await new Promise((ok) => setTimeout(ok, 1000));
    child.kill('SIGINT');
    const signal = await closed;
    clearTimeout(guard);
    // Ended by the Ctrl-C itself: a command that kept planning would be ended by the guard's SIGKILL.
    expect(signal).toBe('SIGINT');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('keeps and writes the iterations that finished when training is interrupted (exit 130)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rewind-int-'));
    const out = join(dir, 't.json');
    const args = ['train', '--backend', 'tfjs-cpu', '--steps', '8', '--batch', '2', '--hidden', '4'];
    const child = spawn('node', [cli, ...args, '--iterations', '1000000', '--json-out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const started = new Promise<void>((ok) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('training ')) ok();
      }),
    );
    const closed = new Promise<number | null>((ok) => child.on('close', ok));
    // Never leave the child running, whatever happens to the test.
    const guard = setTimeout(() => child.kill('SIGKILL'), 45_000);
    await started;
    await new Promise((ok) => setTimeout(ok, 2000));
    child.kill('SIGINT');
    const code = await closed;
    clearTimeout(guard);
    expect(code).toBe(EXIT.interrupted);
    expect(stderr).toMatch(/rewind train: interrupted after \d+ of 1000000 iterations/);
    expect(stderr).not.toMatch(/\n\s+at /);
    const file = JSON.parse(readFileSync(out, 'utf8')) as {
      history: unknown[];
      summary: { interrupted: boolean };
    };
    expect(file.history.length).toBeGreaterThan(0);
    expect(file.summary.interrupted).toBe(true);
    expect(stdout).toContain(`${file.history.length} iterations (interrupted; 1000000 asked for)`);
  });

  it('maps an error thrown outside the command (e.g. from a backend callback) to one line and exit 4', () => {
    // Thrown from a timer while tfjs-wasm (whose own handler re-throws with a stack trace) is loaded.
    const boom = 'data:text/javascript,setTimeout(()=>{throw new Error("boom")},1500)';
    const args = ['train', '--steps', '50', '--batch', '2', '--hidden', '8', '--iterations', '1000000'];
    const r = spawnSync('node', ['--import', boom, cli, ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(EXIT.failure);
    expect(r.stderr).toMatch(/\nrewind train: E_INTERNAL: Error: boom\n$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!hasScript)('refuses a terminal as standard input of verify - instead of waiting on it', () => {
    // `script` gives the command a terminal; without the check it would wait for input until killed.
    const r = spawnSync('script', ['-qec', `node ${cli} verify -`, '/dev/null'], {
      encoding: 'utf8',
      timeout: 20_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(r.status).toBe(EXIT.usage);
    expect(r.stdout).toContain('rewind verify: E_TTY: standard input is a terminal');
  });

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
