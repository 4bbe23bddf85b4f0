// stampede dashboard: shows the latest (or a chosen) run's totals and
// outcome chart, the list of past runs, and starts bursts.
//
// Every value from the API reaches the page through textContent or DOM
// properties, never as HTML. No inline code or style: the page runs under
// a strict Content-Security-Policy.
import { Chart, DoughnutController, ArcElement, Tooltip, Legend } from 'chart.js';

Chart.register(DoughnutController, ArcElement, Tooltip, Legend);

const POLL_MS = 500;
const RUNS_LIMIT = 50;
const COLORS = { ok: '#1f9d55', throttled: '#e08a00', errors: '#d64545', lost: '#8a94a3' };
const ACTIVE = new Set(['pending', 'running']);
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;

// A token given as ?token= is read once, kept in memory only, and taken
// out of the address bar so it does not linger in history or screenshots.
const token = (() => {
  const params = new URLSearchParams(window.location.search);
  const value = params.get('token');
  if (value !== null) {
    params.delete('token');
    const rest = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (rest ? `?${rest}` : ''));
  }
  return value;
})();

const $ = (id) => document.getElementById(id);
let chart = null;
let selectedRunId = null;
let pollTimer = null;

async function api(path, options = {}) {
  const headers = { Accept: 'application/json', ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers, cache: 'no-store' });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function showError(message) {
  const banner = $('error');
  banner.textContent = message || '';
  banner.hidden = !message;
}

// The numbers of a run: its summary object, with requested beside it.
function totals(run) {
  const s = run && typeof run.summary === 'object' && run.summary ? run.summary : run || {};
  const n = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    requested: n(s.requested ?? (run && run.requested)),
    ok: n(s.ok),
    throttled: n(s.throttled),
    errors: n(s.errors),
    lost: n(s.lost),
    environments: n(s.environments),
    cold_starts: n(s.cold_starts),
    p50_ms: n(s.p50_ms),
    p99_ms: n(s.p99_ms),
    spread_ms: n(s.spread_ms),
  };
}

function runId(run) {
  return run.run_id ?? run.id;
}

function statusOf(run) {
  const s = run.status ?? (run.summary && run.summary.status);
  return typeof s === 'string' ? s : 'unknown';
}

function formatMs(ms) {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

function formatWhen(ns) {
  if (typeof ns !== 'number' || ns <= 0) return '';
  return new Date(ns / 1e6).toLocaleString();
}

function renderChart(t) {
  const data = [t.ok, t.throttled, t.errors, t.lost];
  if (!chart) {
    chart = new Chart($('chart'), {
      type: 'doughnut',
      data: {
        labels: ['OK', 'Throttled', 'Errors', 'Lost'],
        datasets: [{
          data,
          backgroundColor: [COLORS.ok, COLORS.throttled, COLORS.errors, COLORS.lost],
          borderWidth: 2,
          borderColor: '#ffffff',
        }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: true,
        cutout: '62%',
        animation: reducedMotion ? false : { duration: 250 },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
      },
    });
  } else {
    chart.data.datasets[0].data = data;
    chart.update();
  }
  const recorded = t.requested - t.lost;
  $('chart-caption').textContent = t.requested
    ? `${t.ok} of ${t.requested} succeeded, ${t.throttled} throttled (${recorded} recorded)`
    : 'no requests';
}

function renderRun(run) {
  $('run-empty').hidden = true;
  $('run-body').hidden = false;
  const id = runId(run);
  $('run-title').textContent = `Run #${id}`;
  const status = statusOf(run);
  const badge = $('run-status');
  badge.hidden = false;
  badge.textContent = status;
  badge.className = `badge ${status}`;
  const meta = [run.method, run.url].filter((v) => typeof v === 'string' && v).join(' ');
  const when = formatWhen(run.created_ns);
  $('run-meta').textContent = [meta, when].filter(Boolean).join(' · ');

  const t = totals(run);
  for (const dd of document.querySelectorAll('[data-stat]')) {
    const key = dd.dataset.stat;
    dd.textContent = key.endsWith('_ms') ? formatMs(t[key]) : String(t[key]);
  }
  renderChart(t);
}

function renderEmpty() {
  $('run-title').textContent = 'Latest run';
  $('run-status').hidden = true;
  $('run-meta').textContent = '';
  $('run-body').hidden = true;
  $('run-empty').hidden = false;
}

function renderRuns(runs) {
  const list = $('runs');
  list.replaceChildren();
  $('runs-empty').hidden = runs.length > 0;
  for (const run of runs) {
    const id = runId(run);
    const t = totals(run);
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.runId = String(id);
    button.setAttribute('aria-current', String(id === selectedRunId));

    const idSpan = document.createElement('span');
    idSpan.className = 'run-id';
    idSpan.textContent = `#${id}`;
    const counts = document.createElement('span');
    counts.className = 'run-counts';
    const ok = document.createElement('span');
    ok.className = 'n-ok';
    ok.textContent = `${t.ok} ok`;
    const throttled = document.createElement('span');
    throttled.className = 'n-throttled';
    throttled.textContent = `${t.throttled} throttled`;
    counts.append(ok, ' · ', throttled, ` of ${t.requested}`);
    const badge = document.createElement('span');
    const status = statusOf(run);
    badge.className = `badge ${status}`;
    badge.textContent = status;
    const when = document.createElement('span');
    when.className = 'run-when';
    when.textContent = formatWhen(run.created_ns) || (typeof run.url === 'string' ? run.url : '');

    button.append(idSpan, badge, counts, when);
    button.addEventListener('click', () => selectRun(id));
    item.append(button);
    list.append(item);
  }
}

function markSelected() {
  for (const button of $('runs').querySelectorAll('button')) {
    button.setAttribute('aria-current', String(button.dataset.runId === String(selectedRunId)));
  }
}

async function loadRuns() {
  const body = await api(`/api/runs?limit=${RUNS_LIMIT}`);
  const runs = Array.isArray(body) ? body : Array.isArray(body && body.runs) ? body.runs : [];
  renderRuns(runs);
  return runs;
}

async function loadStatus() {
  const el = $('agents');
  try {
    const status = await api('/api/status');
    const agents = Array.isArray(status.agents) ? status.agents : [];
    el.textContent = agents.length === 1 ? '1 agent connected' : `${agents.length} agents connected`;
    el.classList.toggle('none', agents.length === 0);
    if (typeof status.default_url === 'string' && status.default_url) {
      $('burst-url').placeholder = status.default_url;
    }
  } catch (error) {
    el.textContent = `controller: ${error.message}`;
    el.classList.add('none');
  }
}

function stopPolling() {
  if (pollTimer !== null) {
    clearTimeout(pollTimer);
    pollTimer = null;
  }
}

// Shows run `id`; while it is pending or running, fetches it again every
// POLL_MS, then refreshes the runs list once it has finished.
async function selectRun(id) {
  stopPolling();
  selectedRunId = id;
  markSelected();
  let run;
  try {
    run = await api(`/api/runs/${encodeURIComponent(id)}?requests=0`);
  } catch (error) {
    showError(`run #${id}: ${error.message}`);
    return;
  }
  if (selectedRunId !== id) return;
  showError('');
  renderRun(run);
  if (ACTIVE.has(statusOf(run))) {
    pollTimer = setTimeout(() => {
      pollTimer = null;
      selectRun(id).catch((error) => showError(error.message));
    }, POLL_MS);
  } else {
    await loadRuns().catch((error) => showError(error.message));
    markSelected();
  }
}

async function submitBurst(event) {
  event.preventDefault();
  const message = $('burst-message');
  const submit = $('burst-submit');
  const url = $('burst-url').value.trim();
  const requests = Number($('burst-requests').value);
  if (!Number.isInteger(requests) || requests < 1 || requests > 1000000) {
    message.className = 'meta error';
    message.textContent = 'Requests must be a whole number from 1 to 1000000.';
    return;
  }
  const command = { requests };
  if (url) command.url = url;
  submit.disabled = true;
  message.className = 'meta';
  message.textContent = 'Starting…';
  try {
    const reply = await api('/api/test', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(command),
    });
    message.textContent = `Run #${reply.run_id} started.`;
    await loadRuns().catch(() => []);
    await selectRun(reply.run_id);
  } catch (error) {
    message.className = 'meta error';
    message.textContent = error.message;
  } finally {
    submit.disabled = false;
  }
}

async function main() {
  $('burst-form').addEventListener('submit', submitBurst);
  loadStatus();
  let runs;
  try {
    runs = await loadRuns();
  } catch (error) {
    showError(`cannot load runs: ${error.message}`);
    return;
  }
  if (runs.length === 0) {
    renderEmpty();
    return;
  }
  await selectRun(runId(runs[0]));
}

main();
