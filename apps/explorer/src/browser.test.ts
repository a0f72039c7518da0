/**
 * The page in a real browser: build it with Vite, serve the build on 127.0.0.1, drive Debian's Chromium
 * with playwright-core, and check what it shows against the solver run here in Node. Skipped when there is
 * no Chromium (CI installs it with apt before the tests).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJson, encodeBinary, encodeJson, verify } from '@rewind/policy';
import { plan, predict } from '@rewind/solver';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLORS } from './charts';
import { inputsToHash, type RawInputs } from './inputs';
import { decodePng, regionStats } from './png.test-util';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const APP = fileURLToPath(new URL('..', import.meta.url));
const SCREENSHOT = join(APP, 'screenshot.png');

if (!hasChromium) {
  console.warn(
    `[explorer] SKIPPING the browser test: no Chromium at ${CHROMIUM} ` +
      '(install it with `apt-get install chromium`, or set CHROMIUM_PATH).',
  );
}

const suite = hasChromium
  ? `the page in Chromium (${CHROMIUM})`
  : `the page in Chromium: SKIPPED, no Chromium at ${CHROMIUM} (apt-get install chromium)`;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** A static file server for `root` on 127.0.0.1 and a free port. */
async function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = resolve(root, `.${path.endsWith('/') ? `${path}index.html` : path}`);
    if (!file.startsWith(root + sep) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/` };
}

/** Fill the form (the page recomputes after its debounce) and wait until it shows these inputs. */
async function setInputs(page: Page, raw: RawInputs): Promise<void> {
  await page.selectOption('#budgetUnit', raw.budgetUnit);
  await page.selectOption('#strategy', raw.strategy);
  for (const f of ['steps', 'alpha', 'backwardCost', 'budget'] as const) await page.fill(`#${f}`, raw[f]);
  await settled(page, inputsToHash(raw));
}

/** Wait until the page has drawn everything for the inputs whose URL hash is `hash`. */
async function settled(page: Page, hash: string): Promise<void> {
  await page.waitForFunction(
    (h) =>
      location.hash === h &&
      document.body.dataset['state'] === 'ready' &&
      document.body.dataset['frontier'] === 'ready',
    hash,
    { timeout: 30_000 },
  );
}

async function cardValue(page: Page, id: string): Promise<string | null> {
  return page.getAttribute(`[data-testid="${id}"]`, 'data-value');
}

describe.skipIf(!hasChromium)(suite, () => {
  let dist = '';
  let server: Server | undefined;
  let url = '';
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dist = mkdtempSync(join(tmpdir(), 'rewind-explorer-'));
    const vite = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
    const built = spawnSync(
      process.execPath,
      [vite, 'build', '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'],
      {
        cwd: APP,
        env: { ...process.env, NODE_ENV: 'production' },
        encoding: 'utf8',
      },
    );
    if (built.status !== 0) throw new Error(`vite build failed:\n${built.stdout}\n${built.stderr}`);
    ({ server, url } = await serve(dist));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
    if (dist !== '') rmSync(dist, { recursive: true, force: true });
  });

  it('opens on the default view, says what it is and credits the paper', async () => {
    await page.waitForFunction(() => document.body.dataset['frontier'] === 'ready', undefined, {
      timeout: 30_000,
    });
    const header = (await page.textContent('header')) ?? '';
    expect(header).toContain('Rewind explorer');
    expect(header).toContain('Gruslys');
    expect(header).toContain('NeurIPS 2016');
    expect(await page.locator('#timeline svg.timeline').count()).toBe(1);
    expect(await page.textContent('#status')).toMatch(/planned in .* ms/);
  });

  it('plans what the inputs say and shows the totals that predict gives', async () => {
    const raw: RawInputs = {
      steps: '60',
      alpha: '1.5',
      backwardCost: '3',
      budget: '12',
      budgetUnit: 'slots',
      strategy: 'msm',
    };
    await setInputs(page, raw);
    const expected = predict({
      steps: 60,
      memory: { slots: 12 },
      strategy: 'msm',
      costModel: { alpha: 1.5, backwardCost: 3 },
    });
    expect(Number(await cardValue(page, 'forwards'))).toBe(expected.forwards);
    expect(Number(await cardValue(page, 'backwards'))).toBe(60);
    expect(Number(await cardValue(page, 'time'))).toBe(expected.time);
    expect(Number(await cardValue(page, 'ratio'))).toBeCloseTo(expected.timeRatio, 12);
    expect(Number(await cardValue(page, 'peak'))).toBeCloseTo(expected.peakSlots, 12);
    expect(await page.textContent('[data-testid="forwards"] .value')).toBe(
      expected.forwards.toLocaleString('en-US'),
    );

    // The timeline: drawn exactly, with backward runs that descend from 60 to 1 without a gap.
    const svg = page.locator('#timeline svg.timeline');
    expect(await svg.getAttribute('data-mode')).toBe('exact');
    expect(await svg.getAttribute('data-backward-steps')).toBe('60');
    expect(Number(await svg.getAttribute('data-duration'))).toBe(expected.forwards + 60);
    const runs = await page.$$eval('#timeline path.bwd', (els) =>
      els.map((e) => [Number(e.getAttribute('data-from')), Number(e.getAttribute('data-to'))]),
    );
    let next = 60;
    for (const [from, to] of runs) {
      expect(from).toBe(next);
      next = (to as number) - 1;
    }
    expect(next).toBe(0);
    expect(runs.reduce((n, [a, b]) => n + (a as number) - (b as number) + 1, 0)).toBe(60);

    // The memory profile with its budget line, and the frontier with the current point.
    expect(await page.locator('#memory svg .budget-line').count()).toBe(1);
    expect(Number(await page.getAttribute('#memory svg', 'data-peak'))).toBeCloseTo(expected.peakSlots, 12);
    expect(await page.locator('#frontier svg .current-point').count()).toBe(1);

    // Every strategy at the same budget, as predict says here.
    for (const strategy of [
      'msm',
      'hsm',
      'ism',
      'chen-sqrt',
      'chen-recursive',
      'recompute-all',
      'store-all',
    ] as const) {
      const row = page.locator(`#compare tr[data-strategy="${strategy}"]`);
      let p: ReturnType<typeof predict> | undefined;
      try {
        p = predict({
          steps: 60,
          memory: { slots: 12 },
          strategy,
          costModel: { alpha: 1.5, backwardCost: 3 },
        });
      } catch {
        p = undefined;
      }
      if (p === undefined) expect(await row.textContent()).toMatch(/needs at least/);
      else expect(Number(await row.getAttribute('data-forwards'))).toBe(p.forwards);
    }
    expect(await page.locator('#bars svg .bar-time').count()).toBeGreaterThanOrEqual(5);
  });

  it('takes a budget in percent of store-all', async () => {
    await setInputs(page, {
      steps: '60',
      alpha: '1.5',
      backwardCost: '3',
      budget: '20',
      budgetUnit: 'percent',
      strategy: 'hsm',
    });
    expect(await page.textContent('#budget-hint')).toBe('= 18.2 slots');
    const expected = predict({
      steps: 60,
      memory: { slots: 18.2 },
      strategy: 'hsm',
      costModel: { alpha: 1.5, backwardCost: 3 },
    });
    expect(Number(await cardValue(page, 'forwards'))).toBe(expected.forwards);
  });

  it('says what is wrong with a link whose inputs are invalid, instead of computing forever', async () => {
    const fresh = await browser!.newPage();
    try {
      await fresh.goto(`${url}#T=0`);
      await fresh.waitForFunction(() => document.body.dataset['state'] === 'invalid', undefined, {
        timeout: 30_000,
      });
      expect(await fresh.textContent('#steps-error')).toMatch(/T must be a whole number/);
      expect(await fresh.isHidden('#problem')).toBe(false);
      expect(await fresh.textContent('#problem')).toMatch(/The inputs cannot be planned/);
      expect(await fresh.textContent('#frontier')).not.toMatch(/Computing/);
      expect(await fresh.textContent('#frontier')).toMatch(/No frontier: the inputs are not valid/);
      await fresh.goto(`${url}#T=100&budget=150&unit=percent`);
      await fresh.reload();
      await fresh.waitForFunction(() => document.body.dataset['state'] === 'invalid', undefined, {
        timeout: 30_000,
      });
      expect(await fresh.textContent('#budget-error')).toMatch(/> 0% and <= 100%/);
      await fresh.click('#reset-inputs');
      await fresh.waitForFunction(() => document.body.dataset['frontier'] === 'ready', undefined, {
        timeout: 30_000,
      });
      expect(await fresh.isHidden('#problem')).toBe(true);
    } finally {
      await fresh.close();
    }
  });

  it('explains bad input inline and never blanks the page', async () => {
    await page.fill('#steps', 'abc');
    await page.waitForFunction(() => document.body.dataset['state'] === 'invalid');
    expect(await page.textContent('#steps-error')).toMatch(/T must be a whole number/);
    expect(await page.getAttribute('#steps', 'aria-invalid')).toBe('true');
    expect(await page.locator('#timeline svg.timeline').count()).toBe(1);

    const raw: RawInputs = {
      steps: '60',
      alpha: '1.5',
      backwardCost: '3',
      budget: '12',
      budgetUnit: 'slots',
      strategy: 'store-all',
    };
    await setInputs(page, raw);
    expect(await page.textContent('#steps-error')).toBe('');
    const problem = (await page.textContent('#problem')) ?? '';
    expect(problem).toContain('E_BUDGET_TOO_SMALL');
    expect(problem).toContain('store-all needs at least 91 slots');
    expect(await page.textContent('#timeline')).toMatch(/No policy/);
    await page.click('#use-minimum');
    await settled(page, inputsToHash({ ...raw, budget: '91' }));
    expect(await page.isHidden('#problem')).toBe(true);
    expect(Number(await cardValue(page, 'forwards'))).toBe(60);
  });

  it('stays responsive for T = 10^4 by decimating the timeline', async () => {
    // Responsiveness is pinned by what the page draws (a decimated timeline of a few hundred elements),
    // not by a clock.
    await setInputs(page, {
      steps: '10000',
      alpha: '1',
      backwardCost: '2',
      budget: '100',
      budgetUnit: 'slots',
      strategy: 'msm',
    });
    const svg = page.locator('#timeline svg.timeline');
    expect(await svg.getAttribute('data-mode')).toBe('decimated');
    expect(await svg.getAttribute('data-backward-steps')).toBe('10000');
    const expected = predict({
      steps: 10_000,
      memory: { slots: 100 },
      strategy: 'msm',
      costModel: { alpha: 1, backwardCost: 2 },
    });
    expect(Number(await cardValue(page, 'forwards'))).toBe(expected.forwards);
    expect(await page.locator('#timeline svg *').count()).toBeLessThan(400);
  });

  it('loads policy files, verifies them, and reports errors with code and path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rewind-files-'));
    try {
      const policy = plan({
        steps: 40,
        memory: { slots: 6 },
        strategy: 'hsm',
        costModel: { alpha: 1, backwardCost: 2 },
      });
      const bin = join(dir, 'hsm-40.rwpl');
      writeFileSync(bin, encodeBinary(policy));
      await page.setInputFiles('#file', bin);
      await page.waitForFunction(() => document.getElementById('file-status')?.dataset['result'] === 'ok');
      await settled(
        page,
        inputsToHash({
          steps: '40',
          alpha: '1',
          backwardCost: '2',
          budget: '6',
          budgetUnit: 'slots',
          strategy: 'hsm',
        }),
      );
      expect(await page.textContent('#file-status')).toContain('hsm-40.rwpl');
      expect(await page.isVisible('#loaded-banner')).toBe(true);
      expect(Number(await cardValue(page, 'forwards'))).toBe(policy.totals.forwards);
      expect(await page.getAttribute('#timeline svg.timeline', 'data-steps')).toBe('40');
      expect(await page.locator('#compare tr.loaded').count()).toBe(1);

      const bad = join(dir, 'tampered.json');
      writeFileSync(
        bad,
        encodeJson({ ...policy, totals: { ...policy.totals, forwards: policy.totals.forwards + 1 } }),
      );
      await page.setInputFiles('#file', bad);
      await page.waitForFunction(() => document.getElementById('file-status')?.dataset['result'] === 'error');
      const status = (await page.textContent('#file-status')) ?? '';
      expect(status).toContain('E_VERIFY_TOTALS');
      expect(status).toContain('/totals/forwards');

      const junk = join(dir, 'junk.rwpl');
      writeFileSync(junk, Uint8Array.from([0x52, 0x57, 0x50, 0x4c, 1, 0, 5]));
      await page.setInputFiles('#file', junk);
      await page.waitForFunction(() => {
        const el = document.getElementById('file-status');
        return el?.dataset['result'] === 'error' && (el.textContent ?? '').includes('junk.rwpl');
      });
      expect(await page.textContent('#file-status')).toMatch(/E_BINARY_\w+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('downloads the policy on display as JSON and binary', async () => {
    const raw: RawInputs = {
      steps: '100',
      alpha: '2',
      backwardCost: '2',
      budget: '16',
      budgetUnit: 'slots',
      strategy: 'msm',
    };
    await setInputs(page, raw);
    const expected = plan({
      steps: 100,
      memory: { slots: 16 },
      strategy: 'msm',
      costModel: { alpha: 2, backwardCost: 2 },
    });
    const [json] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
    expect(json.suggestedFilename()).toBe('rewind-msm-T100-M16.json');
    const text = readFileSync((await json.path()) ?? '', 'utf8');
    expect(text).toBe(encodeJson(expected));
    expect(verify(decodeJson(text)).ok).toBe(true);
    const [binary] = await Promise.all([page.waitForEvent('download'), page.click('#download-binary')]);
    expect(binary.suggestedFilename()).toBe('rewind-msm-T100-M16.rwpl');
    const bytes = readFileSync((await binary.path()) ?? '');
    expect(Buffer.from(bytes).equals(Buffer.from(encodeBinary(expected)))).toBe(true);
  });

  it('renders a screenshot that shows the timeline', async () => {
    const raw: RawInputs = {
      steps: '100',
      alpha: '2',
      backwardCost: '2',
      budget: '16',
      budgetUnit: 'slots',
      strategy: 'msm',
    };
    await setInputs(page, raw);
    // Earlier tests click buttons lower down; the boxes below are read at the top of the page, where a
    // full-page screenshot's coordinates start.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const png = decodePng(readFileSync(SCREENSHOT));
    expect(png.width).toBe(1280);
    expect(png.height).toBeGreaterThan(1200);
    const box = await page.locator('#timeline svg').boundingBox();
    if (box === null) throw new Error('no timeline box');
    expect(box.width).toBeGreaterThan(800);
    const stats = regionStats(png, box, {
      forward: COLORS.forward,
      backward: COLORS.backward,
      recompute: COLORS.recompute,
      hidden: COLORS.hidden,
    });
    expect(stats.variance).toBeGreaterThan(100);
    // Each kind of mark is visible: a few hundred pixels of each colour at least.
    for (const [name, pixels] of Object.entries(stats.near)) expect(pixels, name).toBeGreaterThan(150);
    // The memory chart is not blank either.
    const mem = await page.locator('#memory svg').boundingBox();
    if (mem === null) throw new Error('no memory box');
    expect(regionStats(png, mem).variance).toBeGreaterThan(100);
    expect(pageErrors).toEqual([]);
  });
});
