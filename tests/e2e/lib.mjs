// What the browser tests share: child processes started and stopped by
// pid, TAP-style checks, and a headless Chromium (Debian's) through
// playwright-core with every console error, failed request, HTTP error and
// CSP violation collected. Not a test itself (ctest runs *.test.mjs).
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// ESM ignores NODE_PATH: resolve from web/package.json, whose node_modules
// `make deps` fills.
export const require = createRequire(path.resolve(here, '../../web/package.json'));
export const BIN = process.env.STAMPEDE_BIN;
export const CHROMIUM = '/usr/bin/chromium';
export const SKIPPED = 77;
export const STEP_MS = 60000;
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// playwright-core, or exit 77 (skipped) with the reason.
export function loadChromium() {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch {
    process.stdout.write('# skipped: playwright-core is not installed in web/node_modules (make deps)\n');
    process.exit(SKIPPED);
  }
  if (!existsSync(CHROMIUM)) {
    process.stdout.write(`# skipped: ${CHROMIUM} is missing (make deps)\n`);
    process.exit(SKIPPED);
  }
  return chromium;
}

const children = new Set();
let failures = 0;

export function log(message) {
  process.stdout.write(`${message}\n`);
}

export function check(condition, message) {
  if (condition) {
    log(`ok - ${message}`);
  } else {
    failures += 1;
    log(`not ok - ${message}`);
  }
}

export function checkEqual(actual, expected, message) {
  check(actual === expected, `${message}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

export function failureCount() {
  return failures;
}

// Starts a process; resolves with {child, match} once `ready` matches its
// stdout, rejects if it exits first or stays silent past timeoutMs.
export function start(name, file, args, ready, timeoutMs = STEP_MS) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    let isReady = false;
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after ${timeoutMs} ms\n${err}`)), timeoutMs);
    child.stdout.on('data', (chunk) => {
      if (isReady) return;
      out += chunk;
      const match = out.match(ready);
      if (match) {
        isReady = true;
        clearTimeout(timer);
        resolve({ child, match });
      }
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
      if (err.length > 65536) err = err.slice(-32768);
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      if (!isReady) reject(new Error(`${name} exited (${code ?? signal}) before it was ready\n${err}`));
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${error.message}`));
    });
  });
}

// stampede-lambda on 127.0.0.1:0 with the demo function at reserved
// concurrency 5 (plus `extra` options); resolves with its base URL.
export async function startLambda(extra = []) {
  const lambda = await start('stampede-lambda', path.join(BIN, 'stampede-lambda'),
    ['--listen', '127.0.0.1:0', '--function', `demo=${path.join(BIN, 'bootstrap')}`, '--reserved', '5',
      ...extra],
    /stampede-lambda listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return lambda.match[1];
}

// A background process until stopAll; its stderr kept (bounded).
export function launch(file, args) {
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr.on('data', (chunk) => {
    err += chunk;
    if (err.length > 65536) err = err.slice(-32768);
  });
  child.on('exit', () => { children.delete(child); });
  child.on('error', (error) => { err += `\n${error.message}`; });
  return { child, stderr: () => err };
}

// Runs a process to completion (bounded by timeoutMs): {code, out, err}.
export function run(name, file, args, timeoutMs = STEP_MS) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name}: still running after ${timeoutMs} ms\n${err}`));
    }, timeoutMs);
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { err += chunk; });
    child.on('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${error.message}`));
    });
  });
}

// SIGTERM one child and wait for it (SIGKILL after 5 s).
export function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function stopAll() {
  await Promise.all([...children].map(stopChild));
  children.clear();
}

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// A headless Chromium context; `problems` collects console errors and
// warnings, page errors, failed requests (an aborted event stream
// excepted: navigation ends it) and HTTP errors; `violations` CSP reports.
export async function browser(chromium, profileDir, viewport = { width: 1280, height: 860 }) {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    reducedMotion: 'reduce',
    viewport,
  });
  const violations = [];
  await context.exposeBinding('reportCspViolation', (source, text) => { violations.push(text); });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.reportCspViolation(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  const state = { streamMayEnd: false };
  page.on('console', (message) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return;
    // The event stream reconnecting to a server the test stopped.
    if (state.streamMayEnd && message.text().includes('net::ERR_CONNECTION_REFUSED')) return;
    problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const failure = request.failure() ? request.failure().errorText : '';
    if (new URL(request.url()).pathname === '/api/events'
      && (failure === 'net::ERR_ABORTED' || state.streamMayEnd)) return;
    problems.push(`request failed: ${request.url()} ${failure}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
  });
  // Call before stopping the server the page is on: its event stream
  // then fails, as it should.
  const serverStopping = () => { state.streamMayEnd = true; };
  const serverBack = () => { state.streamMayEnd = false; };
  return { context, page, problems, violations, serverStopping, serverBack };
}

// The text of every [data-stat] element, by key.
export async function stats(page) {
  return page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('[data-stat]')].map((dd) => [dd.dataset.stat, dd.textContent])));
}

// The cells of the table's body rows, as text.
export async function tableRows(page) {
  return page.evaluate(() => [...document.querySelectorAll('#rows-body tr')]
    .map((tr) => [...tr.children].map((td) => td.textContent)));
}

// Throws unless STAMPEDE_BIN holds every binary the browser tests start.
export function checkBinaries() {
  if (!BIN) throw new Error('STAMPEDE_BIN is not set (ctest sets it to the build bin/ directory)');
  for (const binary of ['stampede', 'stampede-lambda', 'stampede-agent', 'bootstrap']) {
    if (!existsSync(path.join(BIN, binary))) throw new Error(`${path.join(BIN, binary)} is missing: build the project first`);
  }
}

// The headline run's cards: 100 requested at reserved concurrency 5.
export function checkHeadline(cards, label) {
  const expected = {
    total_requests: '100', successful: '5', throttled: '95', success_rate: '5 %',
    reserved_concurrency: '5', cold_starts: '5', errors: '0', lost: '0',
  };
  for (const [key, value] of Object.entries(expected)) checkEqual(cards[key], value, `${label}: ${key}`);
}

// No CSP violation, console error, failed request or HTTP error in b
// (what browser() returned).
export function checkClean(b) {
  checkEqual(b.violations.length, 0, `CSP violations ${JSON.stringify(b.violations)}`);
  checkEqual(b.problems.length, 0, `console errors, failed requests ${JSON.stringify(b.problems)}`);
}

// The end of a test's main(): closes the browser, stops every child and
// removes tmp unless a check failed (or STAMPEDE_KEEP_TMP is set).
export async function finish(context, tmp) {
  if (context) await context.close().catch(() => {});
  await stopAll();
  if (failureCount() === 0 && !process.env.STAMPEDE_KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
  else log(`# files kept in ${tmp}`);
}

// Runs main and exits 0 when every check passed, else 1.
export function runTest(name, main) {
  main().then(() => {
    log(failureCount() === 0 ? `# ${name}: all checks passed` : `# ${name}: ${failureCount()} checks failed`);
    process.exit(failureCount() === 0 ? 0 : 1);
  }, async (error) => {
    log(`not ok - ${error.stack || error.message}`);
    await stopAll();
    process.exit(1);
  });
}

// axe-core over the page as it stands (WCAG 2.0/2.1 A and AA rules): no
// serious or critical violation; the lesser ones are logged. Returns the
// number of serious or critical violations.
export async function accessibilityViolations(page) {
  const { AxeBuilder } = require('@axe-core/playwright');
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  return results.violations;
}

export async function checkAccessible(page, label) {
  const violations = await accessibilityViolations(page);
  const grave = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of violations.filter((x) => !grave.includes(x))) {
    log(`# axe (${label}): ${v.impact} ${v.id}: ${v.nodes.length} nodes`);
  }
  const described = grave.map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.slice(0, 3)
    .map((n) => n.target.join(' ')).join('; ')}`);
  checkEqual(described.length, 0, `axe-core, ${label}: no serious or critical violation ${JSON.stringify(described)}`);
  return grave.length;
}
