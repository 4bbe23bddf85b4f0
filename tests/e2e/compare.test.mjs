// Browser test of the run list's filters and the compare view against the
// real binaries: `stampede sweep` fires the original demo's four scenarios
// (reserved 5, 10, 50 and unreserved, 100 requests each) at stampede-lambda,
// setting each through its management API, and one plain run follows; then
// `stampede serve` on that database and headless Chromium. The list filters
// by outcome, text and date; four runs picked side by side show exactly
// 5/10/50/100 successful, their configured reserved concurrency, the
// overlaid charts and the success rate against reserved concurrency; a
// fifth pick is refused; a run whose detected and configured values differ
// shows both; no accessibility, console or CSP problem.
//
// Run by ctest with STAMPEDE_BIN (the build's bin/) in the environment.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BIN, STEP_MS, browser, check, checkAccessible, checkBinaries, checkClean, checkEqual, finish,
  loadChromium, log, run, runTest, start, stats,
} from './lib.mjs';

const chromium = loadChromium();
const SERVE_READY = /stampede serve: agents (tcp:\/\/127\.0\.0\.1:\d+) http (http:\/\/127\.0\.0\.1:\d+)/;

// The compare table as {metric: [cell per run]}.
async function compareTable(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#compare-body tr')]
    .map((tr) => [tr.querySelector('th').textContent, [...tr.querySelectorAll('td')].map((td) => td.textContent)])));
}

// Pixels of a canvas that are not transparent.
async function inked(page, id) {
  return page.evaluate((canvasId) => {
    const canvas = document.getElementById(canvasId);
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
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

async function main() {
  checkBinaries();
  const tmp = mkdtempSync(path.join(tmpdir(), 'stampede-e2e-compare-'));
  const db = path.join(tmp, 's.db');
  const keys = path.join(tmp, 'keys');
  let context = null;
  try {
    const lambda = await start('stampede-lambda', path.join(BIN, 'stampede-lambda'),
      ['--listen', '127.0.0.1:0', '--function', `demo=${path.join(BIN, 'bootstrap')}`, '--reserved', '5',
        '--account-concurrency', '1000'],
      /stampede-lambda listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const base = lambda.match[1];
    const target = `${base}/url/demo/`;
    const sweep = await run('stampede sweep', path.join(BIN, 'stampede'),
      ['sweep', '--url', target, '-n', '100', '--function', 'demo', '--lambda-endpoint', base,
        '--db', db, '--keys', keys, '--json'], 240000);
    checkEqual(sweep.code, 0, `stampede sweep exit status ${sweep.err.slice(-400)}`);
    const swept = JSON.parse(sweep.out);
    checkEqual(swept.runs.map((r) => `${r.reserved_configured}:${r.ok}/${r.throttled}`).join(' '),
      '5:5/95 10:10/90 50:50/50 -1:100/0', 'the sweep: configured reserved: ok/throttled');
    const plain = await run('stampede run', path.join(BIN, 'stampede'),
      ['run', '--url', target, '-n', '10', '--db', db, '--keys', keys, '--json'], 120000);
    checkEqual(plain.code, 0, 'a plain run after the sweep');

    const serve = await start('stampede serve', path.join(BIN, 'stampede'),
      ['serve', '--db', db, '--http', '127.0.0.1:0', '--listen', 'tcp://127.0.0.1:*', '--insecure', '--keys', keys],
      SERVE_READY);
    const dashboard = serve.match[2];
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
    await page.fill('#runs-q', 'RESERVED=1');
    await waitListed(page, '2');
    await page.fill('#runs-q', 'unreserved');
    await waitListed(page, '4');
    await page.fill('#runs-q', '');
    await page.fill('#runs-since', '2999-01-01');
    await page.dispatchEvent('#runs-since', 'change');
    await waitListed(page, '');
    await page.fill('#runs-since', '2000-01-01');
    await page.dispatchEvent('#runs-since', 'change');
    await waitListed(page, '5,4,3,2,1');

    // Detected and configured side by side only when they differ: the
    // unreserved run has no detected limit (nothing throttled).
    await page.click('#runs li button[data-run-id="4"]');
    await page.waitForFunction(() => document.querySelector('#run-title').textContent === 'Run #4'
      && document.querySelector('[data-stat="environments"]').textContent !== '–', null, { timeout: 15000 });
    checkEqual((await stats(page)).reserved_concurrency, '– (configured unreserved)', 'run 4: Reserved Concurrency');
    await page.click('#runs li button[data-run-id="2"]');
    await page.waitForFunction(() => document.querySelector('#run-title').textContent === 'Run #2'
      && document.querySelector('[data-stat="successful"]').textContent === '10', null, { timeout: 15000 });
    checkEqual((await stats(page)).reserved_concurrency, '10', 'run 2: Reserved Concurrency (configured the same)');

    // Pick 2 to 4 runs; a fifth is refused.
    checkEqual(await page.isDisabled('#compare-open'), true, 'Compare disabled with nothing picked');
    for (const id of [1, 2, 3, 4]) await page.check(`#runs li:has(button[data-run-id="${id}"]) input.pick`);
    checkEqual(await page.textContent('#compare-message'), '4 runs picked: #1, #2, #3, #4.', 'picked message');
    await page.click('#runs li:has(button[data-run-id="5"]) input.pick');
    checkEqual(await page.isChecked('#runs li:has(button[data-run-id="5"]) input.pick'), false, 'a fifth pick is undone');
    checkEqual(await page.textContent('#compare-message'), 'At most 4 runs can be compared.', 'a fifth pick refused');
    await page.click('#compare-open');
    await page.waitForFunction(() => !document.getElementById('compare-card').hidden
      && document.querySelectorAll('#compare-body tr').length > 0, null, { timeout: 15000 });
    const table = await compareTable(page);
    checkEqual(JSON.stringify(table['Reserved (configured)']), '["5","10","50","unreserved"]', 'compare: configured');
    checkEqual(JSON.stringify(table['Reserved (detected)']), '["5","10","50","–"]', 'compare: detected');
    checkEqual(JSON.stringify(table.Successful), '["5","10","50","100"]', 'compare: Successful');
    checkEqual(JSON.stringify(table.Throttled), '["95","90","50","0"]', 'compare: Throttled');
    checkEqual(JSON.stringify(table['Success Rate']), '["5 %","10 %","50 %","100 %"]', 'compare: Success Rate');
    checkEqual(JSON.stringify(table['Total Requests']), '["100","100","100","100"]', 'compare: Total Requests');
    checkEqual(await page.getAttribute('#compare-sweep', 'data-points'),
      '[["5",5],["10",10],["50",50],["unreserved",100]]', 'sweep chart: success rate against reserved');
    checkEqual(await page.isVisible('#compare-sweep-panel'), true, 'sweep chart shown');
    for (const id of ['compare-sweep', 'compare-latency', 'compare-concurrency']) {
      const n = await inked(page, id);
      check(n > 500, `${id} is drawn (${n} pixels)`);
    }
    await page.screenshot({ path: path.join(tmp, 'compare.png'), fullPage: true });
    // The top of the page: the run, the runs picked and their comparison.
    await page.screenshot({ path: path.join(tmp, 'compare-top.png'), fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1280 } });
    log(`# screenshot ${path.join(tmp, 'compare.png')}`);
    await checkAccessible(page, 'compare view');

    // Two runs without a configured value: no sweep chart.
    await page.click('#compare-close');
    checkEqual(await page.isHidden('#compare-card'), true, 'Close hides the compare view');
    for (const id of [1, 2, 3]) await page.uncheck(`#runs li:has(button[data-run-id="${id}"]) input.pick`);
    await page.check('#runs li:has(button[data-run-id="5"]) input.pick');
    await page.click('#compare-open');
    await page.waitForFunction(() => document.querySelectorAll('#compare-head th').length === 3, null, { timeout: 15000 });
    checkEqual(JSON.stringify((await compareTable(page))['Reserved (configured)']), '["unreserved","–"]',
      'compare 4 and 5: configured');
    checkEqual(await page.isVisible('#compare-sweep-panel'), false, 'no sweep chart with one configured run');

    // The charts follow the new width on their next frame.
    await page.setViewportSize({ width: 320, height: 800 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth, null,
      { timeout: 5000 }).catch(() => {});
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    check(widths[0] <= widths[1], `no horizontal overflow at 320 px with the compare view: ${widths}`);
    checkClean(b);
  } finally {
    await finish(context, tmp);
  }
}

runTest('compare', main);
