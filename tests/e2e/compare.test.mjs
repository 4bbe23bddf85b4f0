// Browser test of the compare view and the run list's filters against the
// real binaries: stampede-lambda (reserved concurrency 5, account 1000)
//   <- 4 stampede-agents -> stampede serve -> headless Chromium.
// The original demo's sweep, driven through the APIs as a user would: for
// reserved 5, 10, 50 and unreserved, the function's reserved concurrency
// is set through the emulator's management API and a run of 100 started
// with POST /api/test; serve --function reads the setting before each run
// and records it (reserved_configured); exactly 5/10/50/100 succeed and
// 95/90/50/0 are throttled. A run of 10 at reserved 20 (nothing throttled,
// so no limit detected) follows. In the page: the list filters by outcome,
// text and day; a run shows configured beside detected only when they
// differ; four runs
// picked (one by keyboard) side by side show exactly their metrics, the
// overlaid charts drawn and the success rate against reserved concurrency
// (5,5) (10,10) (50,50) (unreserved,100); a fifth pick is refused; Close
// returns; the dark theme and 320 px pass too; no accessibility, console
// or CSP problem.
//
// Run by ctest with STAMPEDE_BIN (the build's bin/) in the environment.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BIN, STEP_MS, browser, check, checkAccessible, checkBinaries, checkClean, checkEqual, finish, launch,
  loadChromium, log, runTest, start, startLambda, stats,
} from './lib.mjs';

const chromium = loadChromium();
const SERVE_READY = /stampede serve: agents (tcp:\/\/127\.0\.0\.1:\d+) http (http:\/\/127\.0\.0\.1:\d+)/;
const AGENTS = 4;
const REQUESTS = 100;
const RUN_MS = 60000;
// The original demo's scenarios: configured reserved (-1 unreserved), and
// what 100 simultaneous requests then give.
const SWEEP = [
  { reserved: 5, ok: 5, throttled: 95 },
  { reserved: 10, ok: 10, throttled: 90 },
  { reserved: 50, ok: 50, throttled: 50 },
  { reserved: -1, ok: 100, throttled: 0 },
];
// Below its limit: detected nothing, configured 20. Its URL tells it apart.
const PLAIN = { reserved: 20, requests: 10, ok: 10, throttled: 0, query: '?run=plain' };

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// fetch with a deadline: {status, body} (body parsed when JSON, else null).
async function call(url, options = {}) {
  const response = await fetch(url, { ...options, signal: AbortSignal.timeout(10000) });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

// Polls until ready(value of get()) holds; throws with what it last saw.
async function until(what, get, ready, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await get();
    if (ready(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms (last ${JSON.stringify(last)})`);
    await sleep(250);
  }
}

// Sets demo's reserved concurrency (-1: none) through the management API.
async function setReserved(lambda, reserved) {
  const url = `${lambda}/2017-10-31/functions/demo/concurrency`;
  const reply = reserved === -1 ? await call(url, { method: 'DELETE' })
    : await call(url, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ReservedConcurrentExecutions: reserved }),
    });
  checkEqual(reply.status, reserved === -1 ? 204 : 200, `management API: reserved ${reserved}`);
}

// Starts a run through the dashboard's API and waits for its end: the
// finished run (GET /api/runs/<id>?requests=0).
async function burst(dashboard, command) {
  const started = await call(`${dashboard}/api/test`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(command),
  });
  if (started.status !== 202 || !started.body || typeof started.body.run_id !== 'number') {
    throw new Error(`POST /api/test ${JSON.stringify(command)}: ${started.status} ${JSON.stringify(started.body)}`);
  }
  const id = started.body.run_id;
  const done = await until(`run #${id} to end`, () => call(`${dashboard}/api/runs/${id}?requests=0`),
    (r) => r.status === 200 && !['pending', 'running'].includes(r.body.status), RUN_MS);
  return done.body;
}

// The compare table as {metric: [cell per run]}.
async function compareTable(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#compare-body tr')]
    .map((tr) => [tr.querySelector('th').textContent, [...tr.querySelectorAll('td')].map((td) => td.textContent)])));
}

// Pixels of a canvas that are not transparent (its background), read from
// a copy: reading the chart's own canvas twice makes Chromium warn.
async function inked(page, id) {
  return page.evaluate((canvasId) => {
    const canvas = document.getElementById(canvasId);
    const copy = document.createElement('canvas');
    copy.width = canvas.width;
    copy.height = canvas.height;
    const context = copy.getContext('2d', { willReadFrequently: true });
    context.drawImage(canvas, 0, 0);
    const data = context.getImageData(0, 0, copy.width, copy.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n += 1;
    return n;
  }, id);
}

async function listed(page) {
  return page.evaluate(() => [...document.querySelectorAll('#runs li button')].map((b) => b.dataset.runId).join(','));
}

async function waitListed(page, ids) {
  await page.waitForFunction((want) => [...document.querySelectorAll('#runs li button')]
    .map((b) => b.dataset.runId).join(',') === want, ids, { timeout: 10000 })
    .catch(() => {});
  checkEqual(await listed(page), ids, `runs listed: ${ids}`);
}

const pick = (id) => `#runs li:has(button[data-run-id="${id}"]) input.pick`;

// Shows run id and returns its Reserved Concurrency card once loaded.
async function reservedShown(page, id) {
  await page.click(`#runs li button[data-run-id="${id}"]`);
  await page.waitForFunction((want) => document.querySelector('#run-title').textContent === `Run #${want}`
    && document.querySelector('[data-stat="environments"]').textContent !== '–', id, { timeout: 15000 });
  return (await stats(page)).reserved_concurrency;
}

async function openCompare(page, columns) {
  await page.click('#compare-open');
  await page.waitForFunction((n) => !document.getElementById('compare-card').hidden
    && document.querySelectorAll('#compare-head th').length === n + 1, columns, { timeout: 15000 });
}

async function main() {
  checkBinaries();
  const tmp = mkdtempSync(path.join(tmpdir(), 'stampede-e2e-compare-'));
  const db = path.join(tmp, 's.db');
  const keys = path.join(tmp, 'keys');
  const shots = path.join(tmp, 'screenshots');
  let context = null;
  try {
    const base = await startLambda(['--account-concurrency', '1000']);
    const target = `${base}/url/demo/`;
    const serve = await start('stampede serve', path.join(BIN, 'stampede'),
      ['serve', '--db', db, '--http', '127.0.0.1:0', '--listen', 'tcp://127.0.0.1:*', '--insecure', '--keys', keys,
        '--target', target, '--function', 'demo', '--lambda-endpoint', base], SERVE_READY);
    const [, agentsEndpoint, dashboard] = serve.match;
    for (let i = 1; i <= AGENTS; i += 1) {
      launch(path.join(BIN, 'stampede-agent'), ['--controller', agentsEndpoint, '--insecure', '--id', `compare-${i}`]);
    }
    await until(`${AGENTS} agents to join`, () => call(`${dashboard}/api/status`),
      (r) => r.status === 200 && Array.isArray(r.body.agents) && r.body.agents.length === AGENTS, 30000);

    // The sweep, a run per scenario, each recorded with its setting.
    const swept = [];
    for (const scenario of SWEEP) {
      await setReserved(base, scenario.reserved);
      const name = scenario.reserved === -1 ? 'unreserved' : String(scenario.reserved);
      const run = await burst(dashboard, { url: target, requests: REQUESTS });
      swept.push(run);
      log(`# run #${run.run_id} reserved ${name}: ${run.successful} ok, ${run.throttled} throttled`);
      checkEqual(run.status, 'completed', `reserved ${name}: status`);
      checkEqual(run.reserved_configured, scenario.reserved, `reserved ${name}: reserved_configured recorded`);
      checkEqual(run.total_requests, REQUESTS, `reserved ${name}: Total Requests`);
      checkEqual(run.successful, scenario.ok, `reserved ${name}: Successful`);
      checkEqual(run.throttled, scenario.throttled, `reserved ${name}: Throttled`);
    }
    checkEqual(swept.map((r) => r.run_id).join(','), '1,2,3,4', 'the sweep made runs 1 to 4');
    await setReserved(base, PLAIN.reserved);
    const plain = await burst(dashboard, { url: `${target}${PLAIN.query}`, requests: PLAIN.requests });
    checkEqual(plain.run_id, 5, 'the plain run is run 5');
    checkEqual(plain.reserved_configured, PLAIN.reserved, 'plain run: reserved_configured recorded');
    checkEqual(`${plain.successful}/${plain.throttled}`, `${PLAIN.ok}/${PLAIN.throttled}`, 'plain run: ok/throttled');

    const b = await browser(chromium, path.join(tmp, 'profile'));
    context = b.context;
    const { page } = b;
    await page.goto(`${dashboard}/`, { waitUntil: 'load', timeout: STEP_MS });
    await waitListed(page, '5,4,3,2,1');

    // Filters: outcome, text (URL or label), day.
    await page.selectOption('#runs-outcome', 'failed');
    await waitListed(page, '');
    await page.selectOption('#runs-outcome', 'completed');
    await waitListed(page, '5,4,3,2,1');
    await page.fill('#runs-q', 'RUN=PLAIN');
    await waitListed(page, '5');
    await page.fill('#runs-q', 'no such target');
    await waitListed(page, '');
    await page.fill('#runs-q', '');
    await page.fill('#runs-since', '2999-01-01');
    await page.dispatchEvent('#runs-since', 'change');
    await waitListed(page, '');
    await page.fill('#runs-since', '2000-01-01');
    await page.dispatchEvent('#runs-since', 'change');
    await waitListed(page, '5,4,3,2,1');

    // Detected and configured side by side only when they differ: 5, 10
    // and 50 were detected as configured; runs 4 and 5 throttled nothing,
    // so no limit was detected.
    const shown = [];
    for (const id of [1, 2, 3, 4, 5]) shown.push(await reservedShown(page, id));
    checkEqual(JSON.stringify(shown), '["5","10","50","– (configured unreserved)","– (configured 20)"]',
      'Reserved Concurrency of runs 1 to 5');

    // Pick 2 to 4 runs (one by keyboard); a fifth is refused.
    checkEqual(await page.isDisabled('#compare-open'), true, 'Compare disabled with nothing picked');
    checkEqual(await page.getAttribute(pick(1), 'aria-label'), 'Compare run #1', 'pick box named');
    await page.focus(pick(1));
    await page.keyboard.press('Space');
    checkEqual(await page.isChecked(pick(1)), true, 'picked by keyboard');
    checkEqual(await page.isDisabled('#compare-open'), true, 'Compare disabled with one picked');
    await page.check(pick(2));
    checkEqual(await page.isDisabled('#compare-open'), false, 'Compare enabled with two picked');
    for (const id of [3, 4]) await page.check(pick(id));
    checkEqual(await page.textContent('#compare-message'), '4 runs picked: #1, #2, #3, #4.', 'picked message');
    await page.click(pick(5));
    checkEqual(await page.isChecked(pick(5)), false, 'a fifth pick is undone');
    checkEqual(await page.textContent('#compare-message'), 'At most 4 runs can be compared.', 'a fifth pick refused');
    checkEqual(await page.isVisible('#compare-message'), true, 'the refusal is visible');
    checkEqual(await page.isDisabled('#compare-open'), false, 'Compare still enabled with four picked');

    await openCompare(page, 4);
    checkEqual(await page.evaluate(() => document.activeElement.id), 'compare-title', 'focus moves to the comparison');
    const heads = await page.$$eval('#compare-head th', (els) => els.map((e) => e.textContent));
    checkEqual(JSON.stringify(heads), '["Metric","#1","#2","#3","#4"]', 'compare: a column per run');
    const table = await compareTable(page);
    const expected = {
      Outcome: ['completed', 'completed', 'completed', 'completed'],
      Target: [target, target, target, target],
      'Reserved (configured)': ['5', '10', '50', 'unreserved'],
      'Reserved (detected)': ['5', '10', '50', '–'],
      'Total Requests': ['100', '100', '100', '100'],
      Successful: ['5', '10', '50', '100'],
      Throttled: ['95', '90', '50', '0'],
      'Success Rate': ['5 %', '10 %', '50 %', '100 %'],
    };
    for (const [metric, cells] of Object.entries(expected)) {
      checkEqual(JSON.stringify(table[metric]), JSON.stringify(cells), `compare: ${metric}`);
    }
    checkEqual(JSON.stringify(table['Cold Starts']), JSON.stringify(swept.map((r) => String(r.cold_starts))),
      'compare: Cold Starts as the API gives them');
    for (const metric of ['Avg Response Time', 'Cold Start Time', 'p50', 'p99', 'Arrival spread']) {
      check(table[metric].length === 4 && table[metric].every((v) => /^\d+(\.\d+)? (ms|s)$/.test(v)),
        `compare: ${metric} has a unit in every column ${JSON.stringify(table[metric])}`);
    }
    checkEqual(await page.getAttribute('#compare-sweep', 'data-points'),
      '[["5",5],["10",10],["50",50],["unreserved",100]]', 'sweep chart: success rate against reserved');
    checkEqual(await page.isVisible('#compare-sweep-panel'), true, 'sweep chart shown');
    for (const id of ['compare-sweep', 'compare-latency', 'compare-concurrency']) {
      const n = await inked(page, id);
      check(n > 2000, `${id} is drawn (${n} pixels)`);
    }
    await page.screenshot({ path: path.join(shots, 'compare.png'), fullPage: true });
    await page.locator('#compare-card').screenshot({ path: path.join(shots, 'compare-card.png') });
    await checkAccessible(page, 'compare view');

    // Close returns to the run's view.
    await page.click('#compare-close');
    checkEqual(await page.isHidden('#compare-card'), true, 'Close hides the compare view');
    checkEqual(await page.isVisible('#run-body'), true, 'the run is shown again');
    checkEqual(await page.evaluate(() => document.activeElement.id), 'compare-open', 'focus back on Compare');

    // Dark theme, runs 5 and 4: the sweep in order of x, not of the runs.
    await page.emulateMedia({ colorScheme: 'dark' });
    for (const id of [1, 2, 3]) await page.uncheck(pick(id));
    checkEqual(await page.isDisabled('#compare-open'), true, 'Compare disabled with one picked');
    await page.check(pick(5));
    await openCompare(page, 2);
    const two = await compareTable(page);
    checkEqual(JSON.stringify(two['Reserved (configured)']), '["unreserved","20"]', 'compare 4 and 5: configured');
    checkEqual(JSON.stringify(two.Target), JSON.stringify([target, `${target}${PLAIN.query}`]), 'compare 4 and 5: Target');
    checkEqual(await page.getAttribute('#compare-sweep', 'data-points'), '[["20",100],["unreserved",100]]',
      'compare 4 and 5: sweep sorted by reserved');
    for (const id of ['compare-sweep', 'compare-latency', 'compare-concurrency']) {
      check(await inked(page, id) > 2000, `dark: ${id} drawn`);
    }
    await page.screenshot({ path: path.join(shots, 'compare-dark.png'), fullPage: true });
    await page.locator('#compare-card').screenshot({ path: path.join(shots, 'compare-card-dark.png') });
    await checkAccessible(page, 'compare view, dark');

    // 320 px: the table scrolls in its box, the page does not.
    await page.setViewportSize({ width: 320, height: 800 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth, null,
      { timeout: 5000 }).catch(() => {});
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, document.body.scrollWidth,
      window.innerWidth]);
    check(widths[0] <= widths[2] && widths[1] <= widths[2], `no horizontal overflow at 320 px with the compare view: ${widths}`);
    await page.screenshot({ path: path.join(shots, 'compare-320.png'), fullPage: true });
    await page.locator('#compare-card').screenshot({ path: path.join(shots, 'compare-card-320.png') });
    await checkAccessible(page, 'compare view, 320 px');
    checkClean(b);
  } finally {
    await finish(context, tmp);
  }
}

runTest('compare', main);
