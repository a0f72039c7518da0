/** The page: reads the form, asks the engine for results, draws them, loads and saves policy files. */
import './style.css';
import type { Policy } from '@rewind/policy';
import { barsSvg, frontierSvg, memorySvg, strategyColor, timelineSvg } from './charts';
import type { Comparison, Cost, Failure, FrontierResult, MainResult, Planned } from './compute';
import { Engine } from './engine';
import { encodePolicyFile, loadPolicyFile, policyFileName } from './files';
import {
  DEFAULT_INPUTS,
  type Field,
  inputsFromHash,
  inputsToHash,
  PAGE_STRATEGIES,
  parseInputs,
  type RawInputs,
  type Settings,
  storeAllSlots,
} from './inputs';
import { formatMs, formatNumber, formatPercent, formatSlots } from './scale';
import { esc } from './svg';
import { timelineOf } from './timeline';

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`explorer: no element #${id}`);
  return found as T;
}

const FIELDS: readonly Field[] = ['steps', 'alpha', 'backwardCost', 'budget', 'budgetUnit', 'strategy'];
const inputs = Object.fromEntries(
  FIELDS.map((f) => [f, byId<HTMLInputElement | HTMLSelectElement>(f)]),
) as Record<Field, HTMLInputElement | HTMLSelectElement>;

const ui = {
  status: byId<HTMLParagraphElement>('status'),
  problem: byId<HTMLDivElement>('problem'),
  banner: byId<HTMLDivElement>('loaded-banner'),
  summary: byId<HTMLElement>('summary'),
  timeline: byId<HTMLDivElement>('timeline'),
  timelineCaption: byId<HTMLElement>('timeline-caption'),
  memory: byId<HTMLDivElement>('memory'),
  compare: byId<HTMLTableElement>('compare'),
  bars: byId<HTMLDivElement>('bars'),
  frontier: byId<HTMLDivElement>('frontier'),
  frontierCaption: byId<HTMLElement>('frontier-caption'),
  budgetHint: byId<HTMLElement>('budget-hint'),
  file: byId<HTMLInputElement>('file'),
  fileStatus: byId<HTMLDivElement>('file-status'),
  downloadJson: byId<HTMLButtonElement>('download-json'),
  downloadBinary: byId<HTMLButtonElement>('download-binary'),
};

interface Loaded {
  readonly name: string;
  readonly format: 'json' | 'binary';
  readonly planned: Planned;
}

const state: {
  settings: Settings | undefined;
  main: MainResult | undefined;
  frontier: FrontierResult | undefined;
  loaded: Loaded | undefined;
  requestedAt: number;
  renders: number;
} = {
  settings: undefined,
  main: undefined,
  frontier: undefined,
  loaded: undefined,
  requestedAt: 0,
  renders: 0,
};

const engine = new Engine({
  main: (result) => {
    state.main = result;
    state.frontier = undefined;
    renderMain();
  },
  frontier: (result) => {
    state.frontier = result;
    renderFrontier();
  },
  error: (failure) => {
    setBusy(false);
    showProblem(`${failure.code}: ${failure.message}`);
    document.body.dataset['state'] = 'error';
  },
});

function readRaw(): RawInputs {
  return {
    steps: inputs.steps.value,
    alpha: inputs.alpha.value,
    backwardCost: inputs.backwardCost.value,
    budget: inputs.budget.value,
    budgetUnit: inputs.budgetUnit.value,
    strategy: inputs.strategy.value,
  };
}

function writeRaw(raw: RawInputs): void {
  for (const f of FIELDS) inputs[f].value = raw[f];
}

function setBusy(busy: boolean, message = 'Computing…'): void {
  ui.status.classList.toggle('busy', busy);
  if (busy) ui.status.textContent = message;
  document.body.dataset['busy'] = busy ? 'true' : 'false';
}

function showProblem(html: string | undefined): void {
  if (html === undefined) {
    ui.problem.hidden = true;
    ui.problem.innerHTML = '';
    return;
  }
  ui.problem.hidden = false;
  ui.problem.innerHTML = html;
}

function markStale(stale: boolean): void {
  for (const el of [ui.summary, ui.timeline, ui.memory, ui.compare, ui.bars, ui.frontier]) {
    el.classList.toggle('stale', stale);
  }
}

/** Read, check and (when valid) compute. */
function update(fromUser: boolean): void {
  if (fromUser && state.loaded !== undefined) {
    ui.fileStatus.textContent = `${state.loaded.name} is no longer on display: the page plans from the inputs again.`;
    ui.fileStatus.dataset['result'] = 'dropped';
    state.loaded = undefined;
    ui.banner.hidden = true;
  }
  const raw = readRaw();
  const parsed = parseInputs(raw);
  for (const f of FIELDS) {
    const err = parsed.ok ? undefined : parsed.errors.find((e) => e.field === f);
    byId(`${f}-error`).textContent = err?.message ?? '';
    inputs[f].setAttribute('aria-invalid', err === undefined ? 'false' : 'true');
  }
  if (!parsed.ok) {
    setBusy(false);
    if (state.main === undefined) {
      // Nothing valid was drawn yet (e.g. a link with #T=0): say what is wrong instead of waiting forever.
      const list = parsed.errors.map((e) => `<li>${esc(e.message)}</li>`).join('');
      showProblem(
        `<strong>The inputs cannot be planned</strong>: <ul>${list}</ul>Fix the highlighted input, or ` +
          '<a href="#" id="reset-inputs">start from the defaults</a>.',
      );
      document.getElementById('reset-inputs')?.addEventListener('click', (ev) => {
        ev.preventDefault();
        writeRaw(DEFAULT_INPUTS);
        update(true);
      });
      ui.frontier.innerHTML = '<p class="placeholder">No frontier: the inputs are not valid.</p>';
      ui.status.textContent = 'Fix the highlighted input to plan.';
    } else {
      ui.status.textContent =
        'Fix the highlighted input to plan again; the drawings show the last valid inputs.';
      markStale(true);
    }
    document.body.dataset['state'] = 'invalid';
    document.body.dataset['frontier'] = 'invalid';
    return;
  }
  if (state.main === undefined) showProblem(undefined);
  const s = parsed.settings;
  ui.budgetHint.textContent =
    s.budgetUnit === 'percent'
      ? `= ${formatNumber(s.budgetSlots)} slots`
      : `= ${formatPercent((100 * s.budgetSlots) / storeAllSlots(s.steps, s.alpha))} of store-all`;
  history.replaceState(null, '', inputsToHash(raw));
  state.settings = s;
  state.requestedAt = performance.now();
  document.body.dataset['state'] = 'computing';
  setBusy(true, `Planning ${s.strategy} for T = ${formatNumber(s.steps)}…`);
  markStale(true);
  engine.run(s);
}

let timer: ReturnType<typeof setTimeout> | undefined;
function scheduleUpdate(): void {
  if (timer !== undefined) clearTimeout(timer);
  // Not settled until the debounced update has run (what is drawn may be about to change).
  document.body.dataset['state'] = 'pending';
  timer = setTimeout(() => {
    timer = undefined;
    update(true);
  }, 250);
}

/** The policy on display: a loaded file's, or the planned one. */
function displayed(): Planned | undefined {
  if (state.loaded !== undefined) return state.loaded.planned;
  const p = state.main?.planned;
  return p?.ok ? p : undefined;
}

function card(id: string, label: string, value: string, raw: number | string, note = ''): string {
  return (
    `<div class="card" data-testid="${id}" data-value="${esc(String(raw))}">` +
    `<div class="label">${esc(label)}</div><div class="value">${esc(value)}</div>` +
    `<div class="note">${esc(note)}</div></div>`
  );
}

function renderSummary(p: Planned | undefined, budget: number): void {
  if (p === undefined) {
    ui.summary.innerHTML = '';
    return;
  }
  const c = p.cost;
  const recomputed = c.forwards - p.policy.steps;
  ui.summary.innerHTML =
    card(
      'strategy',
      'strategy',
      c.strategy,
      c.strategy,
      state.loaded ? `from ${state.loaded.name}` : 'planned',
    ) +
    card(
      'forwards',
      'forward steps',
      formatNumber(c.forwards),
      c.forwards,
      `${formatNumber(recomputed)} recomputed steps (beyond the first pass; ${formatPercent((100 * recomputed) / p.policy.steps)} of T)`,
    ) +
    card('backwards', 'backward steps', formatNumber(c.backwards), c.backwards, 'each exactly once') +
    card(
      'time',
      'time',
      formatNumber(c.time),
      c.time,
      `forwards + ${formatNumber(p.policy.costModel.backwardCost)} × backwards`,
    ) +
    card('ratio', 'time / store-all', `${formatNumber(c.timeRatio, 3)}×`, c.timeRatio, 'standard BPTT = 1×') +
    card(
      'peak',
      'peak memory',
      formatSlots(c.peakSlots),
      c.peakSlots,
      `budget ${formatNumber(budget)} · ${formatPercent(100 * c.memoryRatio)} of store-all`,
    );
}

function renderPolicy(p: Planned | undefined, why: string): number {
  const t0 = performance.now();
  if (p === undefined) {
    ui.timeline.innerHTML = `<p class="placeholder">${esc(why)}</p>`;
    ui.memory.innerHTML = `<p class="placeholder">${esc(why)}</p>`;
    ui.timelineCaption.textContent = '';
    ui.downloadJson.disabled = true;
    ui.downloadBinary.disabled = true;
    return 0;
  }
  const tl = timelineOf(p.policy);
  const view = timelineSvg(tl);
  ui.timeline.innerHTML = view.markup;
  ui.timelineCaption.textContent =
    `T = ${formatNumber(tl.steps)}: ${formatNumber(tl.forwards)} forward steps ` +
    `(${formatNumber(tl.recomputed)} recomputed steps beyond the first pass), ${formatNumber(tl.backwards)} backward steps, ` +
    `${formatNumber(p.policy.instructions.length)} instructions` +
    (view.mode === 'decimated' ? ' · drawn at pixel resolution' : '');
  ui.memory.innerHTML = memorySvg(
    p.profile,
    p.policy.costModel.alpha,
    tl.duration,
    p.policy.budget.slots,
    p.cost.peakSlots,
  );
  ui.downloadJson.disabled = false;
  ui.downloadBinary.disabled = false;
  return performance.now() - t0;
}

function failureText(strategy: string, f: Failure, settings: Settings | undefined): string {
  if (f.code === 'E_BUDGET_TOO_SMALL' && f.minimum !== undefined && settings !== undefined) {
    return `${strategy} needs at least ${formatNumber(f.minimum)} slots for T = ${formatNumber(settings.steps)}`;
  }
  return f.message;
}

function renderCompare(rows: readonly Comparison[], settings: Settings): void {
  const loaded = state.loaded;
  const head =
    '<thead><tr><th>strategy</th><th>forwards</th><th>time</th><th>× store-all</th><th>peak slots</th></tr></thead>';
  const line = (label: string, color: string, r: Cost | Failure, cls: string, strategy: string): string => {
    const name = `<td><span class="swatch" style="background:${color}"></span>${esc(label)}</td>`;
    if (!r.ok) {
      return `<tr class="${cls}" data-strategy="${esc(strategy)}">${name}<td class="na" colspan="4">${esc(failureText(strategy, r, settings))}</td></tr>`;
    }
    return (
      `<tr class="${cls}" data-strategy="${esc(strategy)}" data-forwards="${r.forwards}">${name}` +
      `<td>${formatNumber(r.forwards)}</td><td>${formatNumber(r.time)}</td>` +
      `<td>${formatNumber(r.timeRatio, 3)}</td><td>${formatNumber(r.peakSlots)}</td></tr>`
    );
  };
  let body = '';
  for (const row of rows) {
    const cls = row.strategy === settings.strategy && loaded === undefined ? 'current' : '';
    body += line(row.strategy, strategyColor(row.strategy), row.result, cls, row.strategy);
  }
  if (loaded !== undefined) {
    body += line(`file: ${loaded.planned.cost.strategy}`, '#1d4ed8', loaded.planned.cost, 'loaded', 'file');
  }
  ui.compare.innerHTML = `${head}<tbody>${body}</tbody>`;
  ui.bars.innerHTML = barsSvg(
    rows,
    settings.strategy,
    settings.budgetSlots,
    loaded === undefined ? undefined : { label: 'file', cost: loaded.planned.cost },
  );
}

function renderMain(): void {
  const main = state.main;
  if (main === undefined) return;
  const settings = main.settings;
  const planned = main.planned;
  let problem: string | undefined;
  if (!planned.ok && state.loaded === undefined) {
    const text = esc(failureText(settings.strategy, planned, settings));
    const detail =
      planned.code === 'E_BUDGET_TOO_SMALL'
        ? `; the budget is ${esc(formatNumber(settings.budgetSlots))} slots.`
        : planned.code === 'E_TOO_LARGE'
          ? '. Try hsm (a closed form, any size) or a smaller budget.'
          : '.';
    const fix =
      planned.minimum !== undefined
        ? ` <button type="button" id="use-minimum" data-slots="${planned.minimum}">Use ${esc(formatNumber(planned.minimum))} slots</button>`
        : '';
    problem = `<strong>${esc(planned.code)}</strong>: ${text}${detail}${fix}`;
  }
  showProblem(problem);
  const useMin = document.getElementById('use-minimum');
  if (useMin !== null && !planned.ok && planned.minimum !== undefined) {
    const slots = planned.minimum;
    useMin.addEventListener('click', () => {
      inputs.budgetUnit.value = 'slots';
      inputs.budget.value = String(Number(slots.toFixed(6)));
      update(true);
    });
  }
  const shown = displayed();
  const budget = shown?.policy.budget.slots ?? settings.budgetSlots;
  renderSummary(shown, budget);
  const drawMs = renderPolicy(
    shown,
    planned.ok ? '' : `No policy: ${failureText(settings.strategy, planned, settings)}.`,
  );
  renderCompare(main.comparisons, settings);
  ui.frontier.innerHTML = '<p class="placeholder">Computing the frontier…</p>';
  ui.frontierCaption.textContent = '';
  markStale(false);
  ui.frontier.classList.add('stale');
  const t = main.timings;
  const others = PAGE_STRATEGIES.length - 1;
  ui.status.textContent =
    `${state.loaded ? `Loaded ${state.loaded.name}; ` : ''}${settings.strategy}: planned in ${formatMs(t.plan)}` +
    (planned.ok ? `, verified in ${formatMs(t.verify)}` : '') +
    ` · ${others} other strategies in ${formatMs(t.compare)} · drawn in ${formatMs(drawMs)}` +
    ` · ${formatMs(performance.now() - state.requestedAt)} in all${engine.threaded ? ' (in a worker)' : ''}` +
    ' · frontier…';
  state.renders++;
  document.body.dataset['renders'] = String(state.renders);
  document.body.dataset['state'] = 'ready';
  document.body.dataset['frontier'] = 'computing';
}

function renderFrontier(): void {
  const fr = state.frontier;
  const main = state.main;
  if (fr === undefined || main === undefined) return;
  const s = fr.settings;
  const shown = displayed();
  const current =
    shown !== undefined
      ? { strategy: shown.cost.strategy, budget: shown.policy.budget.slots, timeRatio: shown.cost.timeRatio }
      : undefined;
  ui.frontier.innerHTML = frontierSvg(fr.points, s.steps, s.alpha, current, fr.capped, s.budgetSlots);
  ui.frontier.classList.remove('stale');
  const failed = fr.failures.map((f) => `${f.strategy}: ${f.failure.code}`).join(', ');
  const cap = fr.capped[0];
  ui.frontierCaption.textContent =
    `${fr.points.length} plans at ${fr.budgets.length} budgets` +
    (cap !== undefined ? `; ism and msm up to ${formatNumber(cap.upTo)} slots (table size)` : '') +
    (failed ? ` (failed: ${failed})` : '');
  ui.status.textContent = ui.status.textContent.replace(/ · frontier…$/, ` · frontier in ${formatMs(fr.ms)}`);
  setBusy(false);
  document.body.dataset['frontier'] = 'ready';
}

function download(policy: Policy, format: 'json' | 'binary'): void {
  const { bytes, type } = encodePolicyFile(policy, format);
  const blob = new Blob([bytes as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = policyFileName(policy, format === 'json' ? 'json' : 'rwpl');
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function loadFile(file: File): Promise<void> {
  ui.fileStatus.textContent = `Reading ${file.name}…`;
  ui.fileStatus.dataset['result'] = 'reading';
  const bytes = new Uint8Array(await file.arrayBuffer());
  const result = loadPolicyFile(bytes);
  if (!result.ok) {
    const items = result.issues
      .slice(0, 20)
      .map(
        (i) =>
          `<li><code>${esc(i.code)}</code> at <code>${esc(i.path === '' ? '(root)' : i.path)}</code>: ${esc(i.message)}</li>`,
      )
      .join('');
    const more = result.issues.length > 20 ? `<li>and ${result.issues.length - 20} more</li>` : '';
    ui.fileStatus.innerHTML =
      `<strong>${esc(file.name)}</strong> (${result.format}) was rejected ` +
      `${result.stage === 'decode' ? 'while decoding' : 'by verification'}:<ul>${items}${more}</ul>`;
    ui.fileStatus.dataset['result'] = 'error';
    return;
  }
  const p = result.planned;
  state.loaded = { name: file.name, format: result.format, planned: p };
  ui.fileStatus.innerHTML =
    `<span class="ok">✓ ${esc(file.name)}</span> (${result.format}): a valid ${esc(p.policy.strategy)} policy ` +
    `for T = ${formatNumber(p.policy.steps)}, ${formatNumber(p.cost.forwards)} forwards, peak ${formatNumber(p.cost.peakSlots)} ` +
    `of ${formatNumber(p.policy.budget.slots)} slots: verified and drawn above.`;
  ui.fileStatus.dataset['result'] = 'ok';
  ui.banner.hidden = false;
  ui.banner.innerHTML =
    `Showing the policy loaded from <strong>${esc(file.name)}</strong>. The comparisons use its T, α, ` +
    'backward cost and budget. Change any input to plan again.';
  const cm = p.policy.costModel;
  const strategy = (PAGE_STRATEGIES as readonly string[]).includes(p.policy.strategy)
    ? p.policy.strategy
    : inputs.strategy.value;
  writeRaw({
    steps: String(p.policy.steps),
    alpha: String(cm.alpha),
    backwardCost: String(cm.backwardCost),
    budget: String(p.policy.budget.slots),
    budgetUnit: 'slots',
    strategy,
  });
  update(false);
  if (document.body.dataset['state'] === 'invalid') {
    // Inputs the page cannot plan for (e.g. a very long sequence): draw the file alone.
    renderSummary(p, p.policy.budget.slots);
    renderPolicy(p, '');
    markStale(false);
  }
}

function init(): void {
  writeRaw(inputsFromHash(location.hash));
  const form = byId<HTMLFormElement>('controls');
  form.addEventListener('input', scheduleUpdate);
  form.addEventListener('change', scheduleUpdate);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    update(true);
  });
  ui.file.addEventListener('change', () => {
    const file = ui.file.files?.[0];
    // Clear the input so that choosing the same file again loads it again.
    if (file === undefined) return;
    loadFile(file)
      .catch((e: unknown) => {
        ui.fileStatus.textContent = `${file.name} could not be read: ${e instanceof Error ? e.message : String(e)}`;
        ui.fileStatus.dataset['result'] = 'error';
      })
      .finally(() => {
        ui.file.value = '';
      });
  });
  ui.downloadJson.addEventListener('click', () => {
    const p = displayed();
    if (p !== undefined) download(p.policy, 'json');
  });
  ui.downloadBinary.addEventListener('click', () => {
    const p = displayed();
    if (p !== undefined) download(p.policy, 'binary');
  });
  window.addEventListener('hashchange', () => {
    const raw = inputsFromHash(location.hash);
    if (FIELDS.some((f) => raw[f] !== inputs[f].value)) {
      writeRaw(raw);
      update(true);
    }
  });
  update(false);
}

init();
