/**
 * Bad input for every command, as a table: values, files, output paths and streams. Each must be refused
 * before any work with one line on stderr, `rewind <command>: CODE: message`, naming what was found and
 * what is allowed, and the documented exit code; never a stack trace.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeJson } from '@rewind/policy';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { EXIT } from './args.js';
import { run } from './cli.test-util.js';
import { LIMITS } from './limits.js';

const enc = new TextEncoder();
const dir = mkdtempSync(join(tmpdir(), 'rewind-bad-'));
const policyJson = encodeJson(plan({ steps: 20, memory: { slots: 8 }, strategy: 'hsm' }));

/** Input files the cases read (from the in-memory file system). */
const FILES: Record<string, string | Uint8Array> = {
  'policy.json': policyJson,
  'empty.json': '{}',
  'not-json.txt': 'steps: 10',
  'one-char.txt': 'a'.repeat(5000),
  'short.txt': 'abcdef',
  'latin1.txt': Uint8Array.from([0x61, 0xe9, 0x62, 0xff, 0x63]),
  'bench-bad-run.json': JSON.stringify({ machine: 'm', runs: [{ backend: 'tfjs-wasm', strategy: 'msm' }] }),
  'train-no-history.json': JSON.stringify({ backend: 'tfjs-wasm', cell: 'lstm', steps: 10, strategy: 'msm' }),
};

interface Case {
  readonly argv: string[];
  readonly exit: number;
  readonly code: string;
  /** Strings the line must contain: the value found, what is allowed. */
  readonly says?: readonly string[];
  readonly stdin?: Uint8Array;
}

const CASES: Record<string, readonly Case[]> = {
  main: [{ argv: ['compile'], exit: EXIT.usage, code: 'E_COMMAND', says: ['"compile"', 'plan, cost'] }],
  plan: [
    { argv: ['plan'], exit: EXIT.usage, code: 'E_MISSING', says: ['--steps is required'] },
    { argv: ['plan', '--steps', '10'], exit: EXIT.usage, code: 'E_MISSING', says: ['--memory'] },
    {
      argv: ['plan', '--steps', '-5', '--memory', '5%'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"-5"', 'from 1 to 10000000'],
    },
    {
      argv: ['plan', '--steps', '1.5', '--memory', '5%'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"1.5"'],
    },
    {
      argv: ['plan', '--steps', '2e7', '--memory', '5%'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"2e7"', 'to 10000000'],
    },
    {
      argv: ['plan', '--steps', 'ten', '--memory', '5%'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"ten"'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '150%'],
      exit: EXIT.usage,
      code: 'E_MEMORY',
      says: ['"150%"', '> 0% and <= 100%'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '0%'],
      exit: EXIT.usage,
      code: 'E_MEMORY',
      says: ['"0%"', '> 0% and <= 100%'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '-3'],
      exit: EXIT.usage,
      code: 'E_MEMORY',
      says: ['"-3"', 'slots > 0'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5 parsecs'],
      exit: EXIT.usage,
      code: 'E_MEMORY',
      says: ['parsecs', 'KiB'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '64MiB'],
      exit: EXIT.usage,
      code: 'E_STATE_BYTES',
      says: ['--state-bytes'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--state-bytes', '0'],
      exit: EXIT.usage,
      code: 'E_STATE_BYTES',
      says: ['"0"'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--state-bytes', '100:50'],
      exit: EXIT.usage,
      code: 'E_STATE_BYTES',
      says: ['INTERNAL must be >= HIDDEN'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--state-bytes', '65536:294912', '--alpha', '2'],
      exit: EXIT.usage,
      code: 'E_ALPHA',
      says: ['--alpha 2', '4.5'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--alpha', '0.5'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"0.5"', '>= 1'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--backward-cost', '-1'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"-1"', '>= 0'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--strategy', 'fastest'],
      exit: EXIT.usage,
      code: 'E_STRATEGY',
      says: ['"fastest"', 'msm'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--format', 'yaml'],
      exit: EXIT.usage,
      code: 'E_FORMAT',
      says: ['"yaml"', 'json, binary'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--out', '/nonexistent/p.json'],
      exit: EXIT.usage,
      code: 'E_OUTPUT',
      says: ['/nonexistent', 'does not exist'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--out', dir],
      exit: EXIT.usage,
      code: 'E_OUTPUT',
      says: ['is a directory'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', '--bogus'],
      exit: EXIT.usage,
      code: 'E_OPTION',
      says: ['--bogus', '--steps'],
    },
    {
      argv: ['plan', '--memory', '5%', '--steps'],
      exit: EXIT.usage,
      code: 'E_OPTION',
      says: ['--steps needs a value'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '5%', 'extra'],
      exit: EXIT.usage,
      code: 'E_OPTION',
      says: ['"extra"'],
    },
    {
      argv: ['plan', '--steps', '100', '--memory', '0.5', '--strategy', 'hsm'],
      exit: EXIT.infeasible,
      code: 'E_BUDGET_TOO_SMALL',
      says: ['at least 1 slot ', '0.5 slots'],
    },
    {
      argv: [
        'plan',
        '--steps',
        String(LIMITS.planInstructions * 2),
        '--memory',
        '1',
        '--strategy',
        'recompute-all',
        '--format',
        'binary',
        '--out',
        'x.bin',
      ],
      exit: EXIT.usage,
      code: 'E_TOO_LARGE',
      says: [`more than ${LIMITS.planInstructions} instructions`],
    },
  ],
  cost: [
    {
      argv: ['cost', '--steps', '1000', '--memory', '5%', '--strategy', 'store-all'],
      exit: EXIT.infeasible,
      code: 'E_BUDGET_TOO_SMALL',
      says: ['50.05 slots', '1001 slots'],
    },
    {
      argv: ['cost', '--steps', '1000', '--memory', '101%'],
      exit: EXIT.usage,
      code: 'E_MEMORY',
      says: ['"101%"'],
    },
    { argv: ['cost', '--steps', '0', '--memory', '5%'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"0"'] },
  ],
  verify: [
    { argv: ['verify'], exit: EXIT.usage, code: 'E_MISSING', says: ['one FILE', 'found 0'] },
    { argv: ['verify', 'a.json', 'b.json'], exit: EXIT.usage, code: 'E_MISSING', says: ['found 2'] },
    { argv: ['verify', 'missing.json'], exit: EXIT.failure, code: 'ENOENT', says: ['missing.json'] },
    { argv: ['verify', 'not-json.txt'], exit: EXIT.invalid, code: 'E_JSON', says: ['invalid policy'] },
    {
      argv: ['verify', '-'],
      stdin: enc.encode('{"format": 1'),
      exit: EXIT.invalid,
      code: 'E_JSON',
      says: ['invalid policy'],
    },
    {
      argv: ['verify', '-'],
      stdin: Uint8Array.from([0x52, 0x57, 0x50, 0x4c, 1]),
      exit: EXIT.invalid,
      code: 'E_BINARY',
      says: ['invalid policy'],
    },
    { argv: ['verify', 'empty.json'], exit: EXIT.invalid, code: 'E_', says: ['invalid policy'] },
  ],
  frontier: [
    { argv: ['frontier'], exit: EXIT.usage, code: 'E_MISSING', says: ['--steps is required'] },
    {
      argv: ['frontier', '--steps', '100', '--points', '1'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"1"', 'from 2 to 1000'],
    },
    {
      argv: ['frontier', '--steps', '100', '--points', '5000'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"5000"'],
    },
    {
      argv: ['frontier', '--steps', '100', '--strategies', 'auto'],
      exit: EXIT.usage,
      code: 'E_STRATEGIES',
      says: ['"auto"'],
    },
    {
      argv: ['frontier', '--steps', '100', '--strategies', 'msm,quick'],
      exit: EXIT.usage,
      code: 'E_STRATEGIES',
      says: ['"quick"'],
    },
    {
      argv: ['frontier', '--steps', '100', '--strategies', 'msm,,hsm'],
      exit: EXIT.usage,
      code: 'E_LIST',
      says: ['empty item'],
    },
    {
      argv: ['frontier', '--steps', '100', '--json', '--csv'],
      exit: EXIT.usage,
      code: 'E_OPTION',
      says: ['--json and --csv'],
    },
    {
      argv: ['frontier', '--steps', '1000000'],
      exit: EXIT.usage,
      code: 'E_TOO_LARGE',
      says: ['--steps 1000000', 'the limit is', '--steps <= 44720'],
    },
    {
      argv: ['frontier', '--steps', '2000000', '--strategies', 'chen-sqrt'],
      exit: EXIT.usage,
      code: 'E_TOO_LARGE',
      says: ['chen-sqrt', '1000000'],
    },
    {
      argv: ['frontier', '--steps', '100', '--json=yes'],
      exit: EXIT.usage,
      code: 'E_OPTION',
      says: ['--json is a flag'],
    },
  ],
  train: [
    { argv: ['train', '--clip', '0'], exit: EXIT.usage, code: 'E_NUMBER', says: ['--clip "0"', '> 0'] },
    {
      argv: ['train', '--learning-rate', '1e9'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"1e9"', '<= 1'],
    },
    { argv: ['train', '--steps', '-5'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"-5"'] },
    { argv: ['train', '--steps', '1e6'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"1e6"', 'to 100000'] },
    { argv: ['train', '--iterations', '0'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"0"'] },
    { argv: ['train', '--iterations', '1e7'], exit: EXIT.usage, code: 'E_NUMBER', says: ['to 1000000'] },
    { argv: ['train', '--batch', '5000'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"5000"', 'to 4096'] },
    { argv: ['train', '--hidden', '0'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"0"'] },
    { argv: ['train', '--seed', '0'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"0"'] },
    {
      argv: ['train', '--backend', 'tpu'],
      exit: EXIT.usage,
      code: 'E_BACKEND',
      says: ['"tpu"', 'tfjs-wasm'],
    },
    {
      argv: ['train', '--cell', 'transformer'],
      exit: EXIT.usage,
      code: 'E_CELL',
      says: ['"transformer"', 'lstm'],
    },
    { argv: ['train', '--sparsity', '1.5'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"1.5"', '[0, 1)'] },
    { argv: ['train', '--threads', '9'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"9"', 'from 1 to 8'] },
    {
      argv: ['train', '--threads', 'two'],
      exit: EXIT.usage,
      code: 'E_NUMBER',
      says: ['"two"', 'from 1 to 8'],
    },
    { argv: ['train', '--memory', '150%'], exit: EXIT.usage, code: 'E_MEMORY', says: ['> 0% and <= 100%'] },
    { argv: ['train', '--strategy', 'none'], exit: EXIT.usage, code: 'E_STRATEGY', says: ['"none"'] },
    {
      argv: ['train', '--json-out', '/nonexistent/t.json'],
      exit: EXIT.usage,
      code: 'E_OUTPUT',
      says: ['/nonexistent'],
    },
    { argv: ['train', '--json-out', dir], exit: EXIT.usage, code: 'E_OUTPUT', says: ['is a directory'] },
    { argv: ['train', '--text', 'missing.txt'], exit: EXIT.failure, code: 'ENOENT', says: ['missing.txt'] },
    {
      argv: ['train', '--text', 'one-char.txt'],
      exit: EXIT.usage,
      code: 'E_VOCABULARY',
      says: ['1 distinct character', 'at least 2'],
    },
    {
      argv: ['train', '--text', 'short.txt', '--steps', '100'],
      exit: EXIT.usage,
      code: 'E_TEXT',
      says: ['6 characters', '101'],
    },
    { argv: ['train', '--text', 'latin1.txt'], exit: EXIT.usage, code: 'E_TEXT', says: ['not UTF-8'] },
  ],
  bench: [
    { argv: ['bench', '--rounds', '0'], exit: EXIT.usage, code: 'E_NUMBER', says: ['--rounds "0"'] },
    { argv: ['bench', '--budgets', '150'], exit: EXIT.usage, code: 'E_MEMORY', says: ['"150%"', '<= 100%'] },
    { argv: ['bench', '--budgets', '0'], exit: EXIT.usage, code: 'E_MEMORY', says: ['> 0%'] },
    { argv: ['bench', '--budgets', 'abc'], exit: EXIT.usage, code: 'E_MEMORY', says: ['"abc%"'] },
    { argv: ['bench', '--backend', 'tfjs-wasm,tpu'], exit: EXIT.usage, code: 'E_BACKEND', says: ['"tpu"'] },
    { argv: ['bench', '--steps', '100,-5'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"-5"'] },
    { argv: ['bench', '--strategies', 'msm,foo'], exit: EXIT.usage, code: 'E_STRATEGIES', says: ['"foo"'] },
    {
      argv: ['bench', '--out', '/nonexistent/b.json'],
      exit: EXIT.usage,
      code: 'E_OUTPUT',
      says: ['/nonexistent'],
    },
    {
      argv: ['bench', '--iterations', '2'],
      exit: EXIT.usage,
      code: 'E_OPTION',
      says: ['--iterations', '--rounds'],
    },
  ],
  report: [
    {
      argv: ['report', '--bench', 'policy.json'],
      exit: EXIT.usage,
      code: 'E_INPUT',
      says: ["policy.json is not a 'rewind bench --out' file", '/machine'],
    },
    {
      argv: ['report', '--bench', 'empty.json'],
      exit: EXIT.usage,
      code: 'E_INPUT',
      says: ['at /machine expected a string, found nothing'],
    },
    {
      argv: ['report', '--bench', 'bench-bad-run.json'],
      exit: EXIT.usage,
      code: 'E_INPUT',
      says: ['/runs/0/cell'],
    },
    {
      argv: ['report', '--train', 'empty.json'],
      exit: EXIT.usage,
      code: 'E_INPUT',
      says: ["'rewind train --json-out' file", '/backend'],
    },
    {
      argv: ['report', '--train', 'train-no-history.json'],
      exit: EXIT.usage,
      code: 'E_INPUT',
      says: ['/history expected an array'],
    },
    { argv: ['report', '--bench', 'not-json.txt'], exit: EXIT.usage, code: 'E_INPUT', says: ['is not JSON'] },
    {
      argv: ['report', '--bench', 'missing.json'],
      exit: EXIT.failure,
      code: 'ENOENT',
      says: ['missing.json'],
    },
    {
      argv: ['report', '--steps', '100000'],
      exit: EXIT.usage,
      code: 'E_TOO_LARGE',
      says: ['--steps <= 21081'],
    },
    { argv: ['report', '--alpha', '0'], exit: EXIT.usage, code: 'E_NUMBER', says: ['--alpha "0"'] },
    {
      argv: ['report', '--out', '/etc/passwd'],
      exit: EXIT.usage,
      code: 'E_OUTPUT',
      says: ['not a directory'],
    },
  ],
  demo: [
    { argv: ['demo', '--iterations', '0'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"0"'] },
    { argv: ['demo', '--steps', 'abc'], exit: EXIT.usage, code: 'E_NUMBER', says: ['"abc"'] },
    { argv: ['demo', '--rounds', '0'], exit: EXIT.usage, code: 'E_NUMBER', says: ['--rounds "0"'] },
    { argv: ['demo', '--backend', 'tfjs-cpu'], exit: EXIT.usage, code: 'E_OPTION', says: ['--backend'] },
  ],
};

function files(): Map<string, Uint8Array> {
  return new Map(Object.entries(FILES).map(([k, v]) => [k, typeof v === 'string' ? enc.encode(v) : v]));
}

describe('bad input, every command', () => {
  for (const [command, cases] of Object.entries(CASES)) {
    it(`${command}: refuses each with one typed line and its exit code, before any work`, async () => {
      for (const c of cases) {
        const r = await run(c.argv, c.stdin, files());
        const what = `rewind ${c.argv.join(' ')}`;
        expect(r.code, what).toBe(c.exit);
        if (c.exit === EXIT.invalid && command === 'verify') {
          expect(r.stderr, what).toMatch(new RegExp(`^rewind verify: invalid policy: ${c.code}`));
        } else {
          expect(r.stderr, what).toMatch(new RegExp(`^rewind( ${command})?: ${c.code}[A-Z_]*: `));
        }
        // One line, no stack trace, and no work started (no progress, no training).
        expect(r.stderr.trimEnd().split('\n'), what).toHaveLength(1);
        expect(r.stderr, what).not.toMatch(/\n\s+at |training |\[#*\.*\]/);
        for (const s of c.says ?? []) expect(r.stderr, what).toContain(s);
      }
    });
  }

  it('cuts off an endless standard input at the size limit (verify), reading no further', async () => {
    const chunk = new Uint8Array(1 << 20).fill(0x20);
    let read = 0;
    const endless = async function* () {
      for (;;) {
        read += chunk.length;
        yield chunk;
      }
    };
    const r = await run(['verify', '-'], endless);
    expect(r.code).toBe(EXIT.invalid);
    expect(r.stderr).toMatch(
      /^rewind verify: invalid policy: E_LIMIT: standard input is larger than the limit/,
    );
    expect(read).toBe(LIMITS.policyBytes + chunk.length);
  });

  it('refuses an endless stream and a directory in a real process, exit codes and one line', async () => {
    const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    const endless = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = spawn('node', [cli, 'verify', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const block = Buffer.alloc(1 << 20, 0x20);
      const pump = (): void => {
        while (child.stdin.writable && child.stdin.write(block)) {
          /* until the pipe is full */
        }
      };
      child.stdin.on('drain', pump);
      child.stdin.on('error', () => {});
      pump();
      child.on('close', (code) => done({ code, stderr }));
    });
    expect(endless.code).toBe(EXIT.invalid);
    expect(endless.stderr).toContain('E_LIMIT');
    const asFile = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = spawn('node', [cli, 'verify', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('close', (code) => done({ code, stderr }));
    });
    expect(asFile.code).toBe(EXIT.usage);
    expect(asFile.stderr).toMatch(/^rewind verify: E_INPUT: .* is a directory, not a file[^\n]*\n$/);
  });
});
