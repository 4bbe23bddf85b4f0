// Browser test of the live dashboard against the real binaries:
//   stampede-lambda (reserved concurrency 5, each invocation held 2 s)
//   <- 4 stampede-agents -> stampede serve -> headless Chromium.
// A burst of 100 started from the page shows its progress as it happens
// (server-sent events: the start control disabled, 5 requests pending
// while their environments hold them, each agent's phase), then exactly
// Total Requests 100, Successful 5, Throttled 95, Success Rate 5 %,
// Reserved Concurrency 5; the per-request table sorts, filters and pages
// from the API; agents and history update without a reload; a run that a
// stopped controller ended shows why; 320 px wide has no horizontal
// overflow; a 100,000-row run shows its first view (its time is logged).
//
// Run by ctest with STAMPEDE_BIN (the build's bin/) in the environment.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BIN, STEP_MS, browser, check, checkAccessible, checkBinaries, checkClean, checkEqual, checkHeadline, finish, launch,
  loadChromium, log, run, runTest, start, startLambda, stats, stopChild, tableRows,
} from './lib.mjs';

const chromium = loadChromium();
const SERVE_READY = /stampede serve: agents (tcp:\/\/127\.0\.0\.1:\d+) http (http:\/\/127\.0\.0\.1:\d+)/;
const HOLD_MS = 2000;

// Inserts run `id` with n rows (the first `ok` ok in their own cold
// environments, the rest throttled) straight into the database, as a
// finished 100,000-request run would leave it.
const BIG_RUN = `
import sqlite3, sys
db, run_id, n, ok = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
con = sqlite3.connect(db)
t0 = 1700000000000000000
con.execute("INSERT OR IGNORE INTO agents (id, host, version, capacity, first_seen_ns, last_seen_ns)"
            " VALUES ('big-agent', 'h', '0', 1000000, 1, 1)")
con.execute("INSERT INTO runs (id, created_ns, started_ns, finished_ns, status, outcome, url, method,"
            " requested, agents) VALUES (?, ?, ?, ?, 'completed', 'completed',"
            " 'http://127.0.0.1:9/url/demo/', 'POST', ?, 1)", (run_id, t0, t0, t0 + 3 * 10**9, n))
con.execute("INSERT INTO run_agents (run_id, agent_id, first_index, count) VALUES (?, 'big-agent', 0, ?)",
            (run_id, n))
def rows():
    for i in range(n):
        good = i < ok
        yield (run_id, i, 'big-agent', 'ok' if good else 'throttled', 200 if good else 429, t0 + 1000,
               t0 + 1000 + (2 * 10**9 if good else 3 * 10**6 + i), t0 + 500000 + i * 10,
               'env-%d' % i if good else None, 1 if good else None, 0.12 if good else 0,
               'on-demand' if good else None)
con.executemany("INSERT INTO requests (run_id, request_index, agent_id, outcome, http_status, sent_ns,"
                " done_ns, received_ns, environment_id, cold_start, cold_start_time, initialization_type)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
con.commit()
`;

async function waitText(page, selector, text, timeout = 30000) {
  await page.waitForFunction(([s, t]) => {
    const el = document.querySelector(s);
    return el && el.textContent === t;
  }, [selector, text], { timeout });
}

async function main() {
  checkBinaries();
  const tmp = mkdtempSync(path.join(tmpdir(), 'stampede-e2e-live-'));
  const db = path.join(tmp, 's.db');
  const keys = path.join(tmp, 'keys');
  const shots = path.join(tmp, 'screenshots');
  let context = null;
  try {
    const target = `${await startLambda(['--env', `STAMPEDE_HOLD_MS=${HOLD_MS}`])}/url/demo/`;
    const serveArgs = ['serve', '--db', db, '--http', '127.0.0.1:0', '--listen', 'tcp://127.0.0.1:*',
      '--insecure', '--keys', keys, '--target', target];
    let serve = await start('stampede serve', path.join(BIN, 'stampede'), serveArgs, SERVE_READY);
    let [, agentsEndpoint, dashboard] = serve.match;
    const agent = (i) => launch(path.join(BIN, 'stampede-agent'),
      ['--controller', agentsEndpoint, '--insecure', '--id', `live-${i}`]);
    const agents = [1, 2, 3].map(agent);

    const b = await browser(chromium, path.join(tmp, 'profile'));
    context = b.context;
    const { page } = b;
    await page.goto(`${dashboard}/`, { waitUntil: 'load', timeout: STEP_MS });
    await waitText(page, '#agents', '3 agents connected');
    check(await page.isVisible('#run-empty'), 'no runs yet');
    // An agent joins: the header follows without a reload.
    agents.push(agent(4));
    await waitText(page, '#agents', '4 agents connected');
    log('ok - agent count updated live');

    // A burst from the page, watched live.
    await page.fill('#burst-requests', '100');
    await page.click('#burst-submit');
    await waitText(page, '#burst-submit', 'Run #1 running…', 10000);
    checkEqual(await page.isDisabled('#burst-submit'), true, 'start control disabled while the run runs');
    await waitText(page, '[data-stat="pending"]', '5', 10000);
    log('ok - 5 requests pending while their environments hold them');
    checkEqual(await page.isVisible('#run-live'), true, 'live marker shown');
    const live = await stats(page);
    checkEqual(live.throttled, '95', 'throttles counted as they arrived');
    checkEqual(live.successful, '0', 'no success before the function answers');
    checkEqual(live.lost, '0', 'pending requests are not lost');
    const phases = await page.$$eval('#progress .phase', (els) => els.map((e) => e.textContent));
    checkEqual(phases.length, 4, 'a phase per agent');
    check(phases.every((p) => ['released', 'collecting', 'done'].includes(p)), `phases while collecting: ${phases}`);
    await page.screenshot({ path: path.join(shots, 'live-running.png'), fullPage: true });
    await checkAccessible(page, 'a run in progress');

    await waitText(page, '#run-status', 'completed', 30000);
    await waitText(page, '[data-stat="successful"]', '5', 10000).catch(async (error) => {
      log(`# stats: ${JSON.stringify(await stats(page))} ${await page.textContent('#run-title')}`);
      await page.screenshot({ path: path.join(shots, 'debug.png'), fullPage: true });
      throw error;
    });
    const done = await stats(page);
    checkHeadline(done, 'live run');
    check(/^\d\.\d\d s$/.test(done.avg_response_time) && Number(done.avg_response_time.slice(0, 4)) >= HOLD_MS / 1000,
      `Avg Response Time holds the ${HOLD_MS} ms of the function: ${done.avg_response_time}`);
    check(/ (ms|s)$/.test(done.cold_start_time), `Cold Start Time has a unit: ${done.cold_start_time}`);
    checkEqual(await page.isVisible('.stat.pending'), false, 'pending hidden once the run ended');
    await waitText(page, '#burst-submit', 'Run burst');
    checkEqual(await page.isDisabled('#burst-submit'), false, 'start control enabled again');
    checkEqual(await page.locator('#runs li').count(), 1, 'history updated without a reload');
    const phasesDone = await page.$$eval('#progress .phase', (els) => els.map((e) => e.textContent));
    checkEqual(phasesDone.join(','), 'done,done,done,done', 'every agent done');

    // The Lambda picture: 5 environments, each one cold invocation, the
    // 95 throttles in their lane, concurrency peaking at the limit.
    await page.waitForFunction(() => !document.querySelector('#charts-card').hidden
      && document.querySelector('#charts-note').textContent !== '', null, { timeout: 10000 });
    const note = await page.textContent('#charts-note');
    check(note.startsWith('5 environments, 5 invocations (5 cold), peak concurrency 5; 95 throttled, arriving '),
      `charts summary: ${note}`);
    const canvases = await page.$$eval('#charts-card canvas', (els) => els.map((c) => [c.id, c.width > 0 && c.height > 0]));
    checkEqual(JSON.stringify(canvases),
      '[["chart-timeline",true],["chart-concurrency",true],["chart-arrivals",true],["chart-latency",true]]',
      'four charts drawn');
    await page.screenshot({ path: path.join(shots, 'live-done.png'), fullPage: true });

    // The table: paged, sorted and filtered by the API.
    await waitText(page, '#rows-range', '1–50 of 100');
    let rows = await tableRows(page);
    checkEqual(rows.length, 50, 'first page of rows');
    checkEqual(rows[0][0], '0', 'first row is index 0');
    await page.click('#rows th[data-sort="latency"] button');
    await page.click('#rows th[data-sort="latency"] button');
    await page.waitForFunction(() => document.querySelector('#rows th[data-sort="latency"]').getAttribute('aria-sort') === 'descending'
      && document.querySelector('#rows-body tr td.outcome').textContent === 'ok');
    rows = await tableRows(page);
    checkEqual(rows.slice(0, 5).map((r) => r[2]).join(','), 'ok,ok,ok,ok,ok', 'slowest five are the successes');
    checkEqual(rows[5][2], 'throttled', 'then the throttles');
    await page.selectOption('#rows-outcome', 'ok');
    await waitText(page, '#rows-range', '1–5 of 5');
    rows = await tableRows(page);
    checkEqual(rows.length, 5, 'filtered to the successes');
    checkEqual(new Set(rows.map((r) => r[5])).size, 5, 'five distinct environments');
    checkEqual(rows.every((r) => r[6] === 'yes' && r[7] === 'on-demand' && r[3] === '200'), true, 'each cold, on-demand, 200');
    const env = rows[2][5];
    await page.fill('#rows-q', env);
    await waitText(page, '#rows-range', '1–1 of 1');
    checkEqual((await tableRows(page))[0][5], env, 'filtered by environment');
    await page.fill('#rows-q', '');
    await page.selectOption('#rows-outcome', '');
    await page.click('#rows th[data-sort="index"] button');
    await waitText(page, '#rows-range', '1–50 of 100');
    await page.click('#rows-next');
    await waitText(page, '#rows-range', '51–100 of 100');
    checkEqual((await tableRows(page))[0][0], '50', 'second page starts at index 50');
    checkEqual(await page.isDisabled('#rows-next'), true, 'no page after the last');

    // A run started elsewhere appears without a reload.
    const started = await page.evaluate(async (url) => {
      const r = await fetch('/api/test', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ url, num_requests: 10 }) });
      return [r.status, await r.json()];
    }, target);
    checkEqual(JSON.stringify(started), '[202,{"run_id":2}]', 'a run started through the original API');
    await waitText(page, '#run-title', 'Run #2', 10000);
    await waitText(page, '#run-status', 'completed', 30000);
    await page.waitForFunction(() => document.querySelectorAll('#runs li').length === 2);
    log('ok - history and selected run followed the new run');

    // 320 px: nothing wider than the screen.
    await page.setViewportSize({ width: 320, height: 800 });
    await page.waitForTimeout(300);
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, document.body.scrollWidth,
      window.innerWidth]);
    check(widths[0] <= widths[2] && widths[1] <= widths[2], `no horizontal overflow at 320 px: ${widths}`);
    await page.screenshot({ path: path.join(shots, 'live-320.png'), fullPage: true });
    await checkAccessible(page, '320 px');
    await page.setViewportSize({ width: 1280, height: 860 });

    // A run the controller could not finish says why.
    await page.fill('#burst-requests', '20');
    await page.click('#burst-submit');
    await waitText(page, '#run-title', 'Run #3', 10000);
    await waitText(page, '#run-status', 'running', 10000);
    b.serverStopping();
    await stopChild(serve.child);
    serve = await start('stampede serve again', path.join(BIN, 'stampede'), serveArgs, SERVE_READY);
    [, agentsEndpoint, dashboard] = serve.match;
    b.serverBack();
    await page.goto(`${dashboard}/`, { waitUntil: 'load', timeout: STEP_MS });
    await waitText(page, '#run-title', 'Run #3');
    await page.waitForFunction(() => !document.querySelector('#run-reason').hidden);
    checkEqual(await page.textContent('#run-reason'), 'interrupted: controller stopped', 'the reason of a run the controller could not finish');
    checkEqual((await stats(page)).lost, String(20 - Number((await stats(page)).successful) - Number((await stats(page)).throttled)),
      'its unanswered requests are lost');

    // A 100,000-row run: time to the first view.
    b.serverStopping();
    await stopChild(serve.child);
    const made = await run('python3 big run', 'python3', ['-c', BIG_RUN, db, '4', '100000', '5'], 120000);
    if (made.code !== 0) throw new Error(`making the 100,000-row run failed\n${made.err}`);
    serve = await start('stampede serve (big)', path.join(BIN, 'stampede'), serveArgs, SERVE_READY);
    [, agentsEndpoint, dashboard] = serve.match;
    b.serverBack();
    const t0 = Date.now();
    await page.goto(`${dashboard}/`, { waitUntil: 'load', timeout: STEP_MS });
    await waitText(page, '#rows-range', '1–50 of 100000', 30000);
    await waitText(page, '[data-stat="total_requests"]', '100000', 30000);
    const firstView = Date.now() - t0;
    log(`# first view of a 100,000-row run: ${firstView} ms`);
    const big = await stats(page);
    checkEqual(big.successful, '5', '100,000-row run: Successful');
    checkEqual(big.throttled, '99995', '100,000-row run: Throttled');
    checkEqual(big.success_rate, '0.0050 %', '100,000-row run: Success Rate');
    checkEqual(big.reserved_concurrency, '5', '100,000-row run: Reserved Concurrency');
    await page.click('#rows th[data-sort="index"] button');
    await waitText(page, '#rows th[data-sort="index"] button', '#');
    await page.waitForFunction(() => document.querySelector('#rows-body tr td').textContent === '99999', null, { timeout: 10000 });
    log('ok - 100,000-row run sorted descending by index');
    await page.screenshot({ path: path.join(shots, 'big-run.png'), fullPage: true });

    checkClean(b);
  } finally {
    await finish(context, tmp);
  }
}

runTest('dashboard_live', main);
