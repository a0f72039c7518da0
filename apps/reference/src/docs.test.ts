/** The READMEs' command examples and tables stay true to the commands. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Command, parseOptions } from './commands/command.js';
import { COMMANDS } from './commands/index.js';

const root = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const app = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Every `rewind ...` command line of a README's shell blocks, split into words. */
function examples(markdown: string): string[][] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks
    .flatMap((b) => b.split('\n'))
    .flatMap((line) => line.split(/\s*\|\s*/))
    .map((part) => part.replace(/\s+#.*$/, '').replace(/\s*>\s*\S+$/, ''))
    .filter((part) => /(^| )rewind /.test(part))
    .map((part) =>
      part
        .slice(part.indexOf('rewind ') + 'rewind '.length)
        .trim()
        .split(/\s+/),
    );
}

describe('the READMEs', () => {
  it('show only command lines that parse against the commands option tables', () => {
    const lines = [...examples(root), ...examples(app)];
    expect(lines.length).toBeGreaterThanOrEqual(12);
    for (const [name, ...args] of lines) {
      const command = COMMANDS.find((c) => c.name === name) as Command;
      expect(command, `rewind ${name}`).toBeDefined();
      expect(() => parseOptions(command, args), `rewind ${name} ${args.join(' ')}`).not.toThrow();
    }
  });

  it('write the plan command in a form whose output is clean (pnpm -s, or node)', () => {
    for (const md of [root, app]) {
      const plans = md.split('\n').filter((l) => /rewind plan .*(>|\|)/.test(l));
      expect(plans.length).toBeGreaterThan(0);
      for (const l of plans) expect(l).toMatch(/^(pnpm -s rewind|node apps\/reference\/dist\/cli\.js) plan/);
    }
  });

  it('list every command with the summary of rewind --help', () => {
    for (const c of COMMANDS) {
      expect(app).toMatch(
        new RegExp(`^\\| \`${c.name}\` +\\| ${c.summary.replace(/[()]/g, '\\$&')} +\\|$`, 'm'),
      );
      expect(root).toContain(`\`${c.name}\``);
    }
  });
});
