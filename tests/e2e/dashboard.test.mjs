// Browser test of the dashboard, against the real binaries:
//   stampede-lambda (reserved concurrency 5) <- stampede run (100 requests,
//   4 local agents) -> SQLite <- stampede serve -> headless Chromium.
// The page must show exactly 100 requested / 5 ok / 95 throttled, draw its
// chart, list exactly one run, and raise no console error or CSP
// violation. Then one agent joins `stampede serve` and a second burst is
// started from the page's form, which must poll until the run finishes and
// show it too.
//
// Run by ctest with STAMPEDE_BIN (the build's bin/) in the environment.
// Exits non-zero on failure. Every process it starts is killed by pid.
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BIN, CHROMIUM, STEP_MS, accessibilityViolations, browser, check, checkAccessible, checkBinaries, checkClean, checkEqual, checkHeadline, finish,
  launch, loadChromium, log, run, runTest, start, startLambda, stats, stopChild,
} from './lib.mjs';

// Without the browser or its driver the test cannot run: exit 77, which
// ctest reports as skipped (SKIP_RETURN_CODE) and `make test` refuses.
const chromium = loadChromium();

// Pixels of the chart canvas close to the ok and throttled colours.
async function chartPixels(page) {
  return page.evaluate(() => {
    const canvas = document.getElementById('chart');
    const { width, height } = canvas;
    const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    const near = (i, r, g, b) => Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24
      && Math.abs(data[i + 2] - b) < 24 && data[i + 3] > 200;
    let ok = 0;
    let throttled = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (near(i, 0x1f, 0x9d, 0x55)) ok += 1;
      if (near(i, 0xe0, 0x8a, 0x00)) throttled += 1;
    }
    return { width, height, ok, throttled };
  });
}

async function main() {
  checkBinaries();
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run make deps`);
  const tmp = mkdtempSync(path.join(tmpdir(), 'stampede-e2e-'));
  const db = path.join(tmp, 's.db');
  const keys = path.join(tmp, 'keys');
  let context = null;
  try {
    const target = `${await startLambda()}/url/demo/`;
    log(`# lambda ${target}`);

    const burst = await run('stampede run', path.join(BIN, 'stampede'),
      ['run', '--url', target, '-n', '100', '--local-agents', '4', '--db', db, '--keys', keys, '--json'],
      120000);
    if (burst.code !== 0) throw new Error(`stampede run exited ${burst.code}\n${burst.err}`);
    log(`# stampede run: ${burst.out.trim().slice(0, 400)}`);

    const serve = await start('stampede serve', path.join(BIN, 'stampede'),
      ['serve', '--db', db, '--http', '127.0.0.1:0', '--listen', 'tcp://127.0.0.1:*', '--insecure', '--keys', keys],
      /stampede serve: agents (tcp:\/\/127\.0\.0\.1:\d+) http (http:\/\/127\.0\.0\.1:\d+)/);
    const [, agentsEndpoint, dashboard] = serve.match;
    log(`# dashboard ${dashboard}`);

    const b = await browser(chromium, path.join(tmp, 'profile'));
    context = b.context;
    const { page } = b;

    const response = await page.goto(`${dashboard}/`, { waitUntil: 'load', timeout: STEP_MS });
    checkEqual(response.status(), 200, 'GET / status');
    const headers = response.headers();
    checkEqual(headers['content-security-policy'],
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
      + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'", 'Content-Security-Policy');
    checkEqual(headers['x-content-type-options'], 'nosniff', 'X-Content-Type-Options');

    // The first event shows the run's counts at once; the summary (its
    // environments) follows with the full run.
    await page.waitForFunction(() => document.querySelector('#runs li')
      && document.querySelector('[data-stat="total_requests"]').textContent !== '–'
      && document.querySelector('[data-stat="environments"]').textContent !== '–', null, { timeout: 15000 });
    const first = await stats(page);
    checkHeadline(first, 'first run');
    checkEqual(first.environments, '5', 'environments');
    checkEqual(await page.textContent('#run-title'), 'Run #1', 'run title');
    checkEqual(await page.textContent('#run-status'), 'completed', 'run status');
    checkEqual(await page.locator('#runs li').count(), 1, 'runs listed');
    checkEqual(await page.textContent('#runs li .run-counts'), '5 ok · 95 throttled of 100', 'runs list entry');
    const pixels = await chartPixels(page);
    check(pixels.width > 0 && pixels.height > 0, `chart canvas has a size (${pixels.width}x${pixels.height})`);
    check(pixels.ok > 0 && pixels.throttled > 0, `chart drew ok (${pixels.ok} px) and throttled (${pixels.throttled} px) arcs`);
    check(pixels.throttled > 5 * pixels.ok, 'throttled arc is the larger one (95 vs 5)');
    checkEqual(await page.textContent('#chart-caption'), '5 of 100 succeeded, 95 throttled (100 recorded)', 'chart caption');
    checkEqual(await page.textContent('#agents'), '0 agents connected', 'agents shown');
    // Accessible in both themes: the whole page, the run's charts and
    // table included.
    await page.waitForFunction(() => !document.getElementById('charts-card').hidden
      && document.querySelectorAll('#rows-body tr').length > 0, null, { timeout: 15000 });
    await checkAccessible(page, 'light theme');
    await page.emulateMedia({ colorScheme: 'dark' });
    await checkAccessible(page, 'dark theme');
    await page.emulateMedia({ colorScheme: 'light' });
    // The check sees what it should: a planted low-contrast line fails it.
    await page.evaluate(() => {
      const p = document.createElement('p');
      p.id = 'planted';
      p.textContent = 'low contrast';
      p.style.color = '#999999';
      p.style.background = '#aaaaaa';
      document.querySelector('main').append(p);
    });
    const planted = (await accessibilityViolations(page)).find((v) => v.id === 'color-contrast');
    checkEqual(planted && planted.nodes.map((n) => n.target.join(' ')).join(), '#planted',
      'axe-core reports a planted contrast failure');
    await page.evaluate(() => document.getElementById('planted').remove());
    await page.screenshot({ path: path.join(tmp, 'dashboard.png'), fullPage: true });
    log(`# screenshot ${path.join(tmp, 'dashboard.png')}`);

    // Clicking the run in the list shows it (again).
    await page.click('#runs li button');
    await page.waitForFunction(() => document.querySelector('#runs li button').getAttribute('aria-current') === 'true');
    checkEqual((await stats(page)).successful, '5', 'Successful after selecting the run');

    // The run as files: CSV (a header and one line per request, in index
    // order) and JSON (the run with its rows), as the browser saves them.
    const saved = async (button) => {
      const [file] = await Promise.all([page.waitForEvent('download', { timeout: STEP_MS }),
        page.click(button)]);
      return { name: file.suggestedFilename(), text: readFileSync(await file.path(), 'utf8') };
    };
    const csv = await saved('#download-csv');
    checkEqual(csv.name, 'run-1.csv', 'CSV file name');
    const lines = csv.text.split('\r\n');
    checkEqual(lines.length, 102, 'CSV lines: header, 100 rows, the final line end');
    checkEqual(lines[0].split(',').slice(0, 4).join(','), 'index,agent_id,outcome,http_status', 'CSV header');
    checkEqual(lines.slice(1, 101).map((line) => Number(line.split(',')[0])).join(),
      [...Array(100).keys()].join(), 'CSV rows in index order');
    const outcomes = lines.slice(1, 101).map((line) => line.split(',')[2]);
    checkEqual(outcomes.filter((o) => o === 'ok').length, 5, 'CSV ok rows');
    checkEqual(outcomes.filter((o) => o === 'throttled').length, 95, 'CSV throttled rows');
    const json = await saved('#download-json');
    checkEqual(json.name, 'run-1.json', 'JSON file name');
    const file = JSON.parse(json.text);
    checkEqual([file.run_id, file.requests.length, file.successful, file.throttled].join(),
      '1,100,5,95', 'JSON file: run, rows, successful, throttled');

    // A second burst from the form, through one agent joining serve.
    const agent = launch(path.join(BIN, 'stampede-agent'),
      ['--controller', agentsEndpoint, '--insecure', '--id', 'e2e-agent']);
    const deadline = Date.now() + 30000;
    let agents = 0;
    while (Date.now() < deadline) {
      const status = await page.evaluate(async () => (await fetch('/api/status')).json());
      agents = Array.isArray(status.agents) ? status.agents.length : 0;
      if (agents === 1) break;
      await new Promise((resolve) => { setTimeout(resolve, 200); });
    }
    checkEqual(agents, 1, 'agents connected to serve');
    if (agents !== 1) throw new Error(`the agent did not join serve\n${agent.stderr()}`);
    await page.reload({ waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelector('#agents').textContent === '1 agent connected', null, { timeout: 10000 });
    await page.fill('#burst-url', target);
    await page.fill('#burst-requests', '100');
    await page.click('#burst-submit');
    await page.waitForFunction(() => document.querySelector('#run-title').textContent === 'Run #2'
      && document.querySelector('#run-status').textContent === 'completed'
      && document.querySelectorAll('#runs li').length === 2, null, { timeout: 90000 });
    const second = await stats(page);
    checkEqual(second.total_requests, '100', 'second run Total Requests');
    checkEqual(second.successful, '5', 'second run Successful');
    checkEqual(second.throttled, '95', 'second run throttled');
    checkEqual(second.lost, '0', 'second run lost');
    checkEqual(await page.textContent('#burst-message'), 'Run #2 started.', 'form message');
    checkEqual(await page.getAttribute('#runs li:first-child button', 'aria-current'), 'true', 'new run selected in the list');
    await page.screenshot({ path: path.join(tmp, 'dashboard-second.png'), fullPage: true });

    // One controller per database: a second serve on the same file is
    // refused with the holder named; once the first has stopped, one starts.
    const rival = await run('second stampede serve', path.join(BIN, 'stampede'),
      ['serve', '--db', db, '--http', '127.0.0.1:0', '--listen', 'tcp://127.0.0.1:*', '--insecure', '--keys', keys]);
    checkEqual(rival.code, 1, 'second controller on the database: exit status');
    checkEqual(/^stampede serve: results database .* is in use by another controller \(pid \d+ on host .* since .*\)$/m.test(rival.err),
      true, `second controller refused with the holder named: ${JSON.stringify(rival.err.slice(-300))}`);
    b.serverStopping();
    await stopChild(serve.child);

    // With a token: the API refuses requests without it, and the page
    // takes it from ?token= once, sends it as a header and drops it from
    // the address bar.
    const guarded = await start('stampede serve --token', path.join(BIN, 'stampede'),
      ['serve', '--db', db, '--http', '127.0.0.1:0', '--listen', 'tcp://127.0.0.1:*', '--insecure', '--keys', keys,
        '--token', 'e2e-token'],
      /stampede serve: agents (tcp:\/\/127\.0\.0\.1:\d+) http (http:\/\/127\.0\.0\.1:\d+)/);
    const guardedUrl = guarded.match[2];
    const refused = await fetch(`${guardedUrl}/api/runs`);
    checkEqual(refused.status, 401, 'API without the token');
    checkEqual(JSON.stringify(await refused.json()), '{"error":"missing or wrong bearer token"}', 'API refusal body');
    await page.goto(`${guardedUrl}/?token=e2e-token`, { waitUntil: 'load', timeout: STEP_MS });
    await page.waitForFunction(() => document.querySelectorAll('#runs li').length === 2
      && document.querySelector('#run-title').textContent === 'Run #2', null, { timeout: 15000 });
    checkEqual(new URL(page.url()).search, '', 'token removed from the address bar');
    checkEqual((await stats(page)).throttled, '95', 'run shown with the token');

    checkClean(b);
  } finally {
    await finish(context, tmp);
  }
}

runTest('dashboard', main);
