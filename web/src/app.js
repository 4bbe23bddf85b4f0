// stampede dashboard: the selected run's metrics (named as the original
// demo named them), its outcome chart, live progress per agent, the
// per-request table, the run history and the burst form.
//
// Live updates come as server-sent events (GET /api/events): the
// controller's status and the active (else newest) run's progress. With a
// token the page polls instead (EventSource cannot send the header).
//
// Every value from the API reaches the page through textContent or DOM
// properties, never as HTML. No inline code or style: the page runs under
// a strict Content-Security-Policy.
import { Chart, DoughnutController, ArcElement, Tooltip, Legend } from 'chart.js';
import {
  $, api, download, token, formatCount, formatMs, formatPercent, formatSeconds, formatWhen,
} from './api.js';
import { RunCharts } from './charts.js';
import { COMPARE_MAX, CompareView, reservedName } from './compare.js';
import { RowsTable } from './table.js';

Chart.register(DoughnutController, ArcElement, Tooltip, Legend);

const POLL_MS = 500;
const RUNS_LIMIT = 50;
const COLORS = { ok: '#1f9d55', throttled: '#e08a00', errors: '#d64545', lost: '#8a94a3', pending: '#5b7bd5' };
const ACTIVE = new Set(['pending', 'running']);
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;

let chart = null;
let selectedRunId = null;
let followLatest = true; // show the newest run as runs start
let pollTimer = null;
let activeRunId = null;
let lastRunsKey = '';
const table = new RowsTable(showError);
const charts = new RunCharts(showError);
const compare = new CompareView(showError);
const picked = new Set(); // runs ticked for comparison

function showError(message) {
  const banner = $('error');
  banner.textContent = message || '';
  banner.hidden = !message;
}

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

// The numbers the page shows, from a run object (GET /api/runs/<id>:
// original metrics at the top, ours in summary) and, when live, the
// progress of an event (exact pending and lost counts).
function figures(run, progress) {
  const s = run && typeof run.summary === 'object' && run.summary ? run.summary : {};
  const m = progress && progress.metrics ? progress.metrics : run || {};
  const active = ACTIVE.has(statusOf(progress || run || {}));
  const requested = num(m.total_requests) ?? num(run && run.requested) ?? 0;
  let lost = num(s.lost) ?? 0;
  let pending = 0;
  if (progress && progress.counts) {
    lost = num(progress.counts.lost) ?? 0;
    pending = num(progress.counts.pending) ?? 0;
  } else if (active) {
    // Without the live counts, what has no row yet is pending, not lost.
    pending = lost;
    lost = 0;
  }
  const errors = progress && progress.counts ? num(progress.counts.errors) : num(s.errors);
  return {
    total_requests: requested,
    successful: num(m.successful) ?? 0,
    throttled: num(m.throttled) ?? 0,
    success_rate: num(m.success_rate),
    reserved_concurrency: num(m.reserved_concurrency),
    reserved_configured: run ? num(run.reserved_configured) : null,
    avg_response_time: num(m.avg_response_time),
    cold_starts: num(m.cold_starts),
    cold_start_time: num(m.cold_start_time),
    errors: errors ?? 0,
    lost,
    pending,
    environments: num(s.environments),
    p50_ms: num(s.p50_ms),
    p99_ms: num(s.p99_ms),
    spread_ms: num(s.spread_ms),
  };
}

const FORMAT = {
  success_rate: formatPercent,
  avg_response_time: formatMs,
  cold_start_time: formatSeconds,
  p50_ms: formatMs,
  p99_ms: formatMs,
  spread_ms: formatMs,
};

function runId(run) {
  return run.run_id ?? run.id;
}

function statusOf(run) {
  const s = run.status ?? (run.summary && run.summary.status);
  return typeof s === 'string' ? s : 'unknown';
}

function renderChart(f) {
  const data = [f.successful, f.throttled, f.errors, f.lost, f.pending];
  if (!chart) {
    chart = new Chart($('chart'), {
      type: 'doughnut',
      data: {
        labels: ['Successful', 'Throttled', 'Errors', 'Lost', 'Pending'],
        datasets: [{
          data,
          backgroundColor: [COLORS.ok, COLORS.throttled, COLORS.errors, COLORS.lost, COLORS.pending],
          borderWidth: 2,
          borderColor: getComputedStyle(document.documentElement).getPropertyValue('--card').trim() || '#ffffff',
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
  const recorded = f.total_requests - f.lost - f.pending;
  $('chart-caption').textContent = f.total_requests
    ? `${f.successful} of ${f.total_requests} succeeded, ${f.throttled} throttled (${recorded} recorded)`
    : 'no requests';
}

// Reserved concurrency into dd: as detected from the results and, when
// the run knows it and it differs, as configured on the function ("5
// (configured 10)", the second part on its own line in smaller type).
function renderReserved(dd, f) {
  const detected = formatCount(f.reserved_concurrency);
  const configured = f.reserved_configured;
  if (configured === null || configured === f.reserved_concurrency) {
    dd.textContent = detected;
    return;
  }
  const note = document.createElement('span');
  note.className = 'configured';
  note.textContent = `(configured ${reservedName(configured)})`;
  dd.replaceChildren(detected, ' ', note);
}

function renderFigures(f) {
  for (const dd of document.querySelectorAll('[data-stat]')) {
    const key = dd.dataset.stat;
    if (key === 'reserved_concurrency') renderReserved(dd, f);
    else dd.textContent = (FORMAT[key] || formatCount)(f[key]);
  }
  document.querySelector('.stat.pending').hidden = f.pending === 0;
  renderChart(f);
}

function renderHead(run) {
  $('run-empty').hidden = true;
  $('run-body').hidden = false;
  $('run-downloads').hidden = false;
  $('run-title').textContent = `Run #${runId(run)}`;
  const status = statusOf(run);
  const badge = $('run-status');
  badge.hidden = false;
  badge.textContent = status;
  badge.className = `badge ${status}`;
  $('run-live').hidden = !ACTIVE.has(status);
  const meta = [run.method, run.url].filter((v) => typeof v === 'string' && v).join(' ');
  const when = formatWhen(run.created_ns);
  $('run-meta').textContent = [meta, when].filter(Boolean).join(' · ');
  const reason = $('run-reason');
  const outcome = typeof run.outcome === 'string' ? run.outcome : '';
  const error = typeof run.error === 'string' ? run.error : '';
  reason.hidden = !error || ACTIVE.has(status);
  reason.textContent = error ? `${outcome.replaceAll('_', ' ') || status}: ${error}` : '';
}

function renderProgress(progress) {
  const list = $('progress');
  const agents = progress && Array.isArray(progress.agents) ? progress.agents : [];
  const items = agents.map((agent) => {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'agent';
    name.textContent = agent.agent_id ?? '';
    const phase = document.createElement('span');
    phase.className = `phase ${agent.phase}`;
    phase.textContent = agent.phase ?? '';
    const counts = document.createElement('span');
    counts.className = 'agent-counts';
    counts.textContent = `${agent.recorded} of ${agent.count} recorded${agent.lost ? `, ${agent.lost} lost` : ''}`;
    li.append(name, phase, counts);
    return li;
  });
  list.replaceChildren(...items);
  $('progress-title').parentElement.hidden = items.length === 0;
}

let shownRun = null; // the last full run object shown

function renderRun(run, progress) {
  shownRun = run;
  renderHead(progress ? { ...run, ...progress } : run);
  renderFigures(figures(run, progress));
}

function renderEmpty() {
  $('run-title').textContent = 'Latest run';
  $('run-status').hidden = true;
  $('run-live').hidden = true;
  $('run-meta').textContent = '';
  $('run-reason').hidden = true;
  $('run-body').hidden = true;
  $('run-downloads').hidden = true;
  $('rows-card').hidden = true;
  charts.hide();
  $('run-empty').hidden = false;
}

function renderRuns(runs) {
  const list = $('runs');
  $('runs-empty').hidden = runs.length > 0;
  const items = runs.map((run) => {
    const id = runId(run);
    const s = run.summary || {};
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
    ok.textContent = `${s.ok ?? 0} ok`;
    const throttled = document.createElement('span');
    throttled.className = 'n-throttled';
    throttled.textContent = `${s.throttled ?? 0} throttled`;
    counts.append(ok, ' · ', throttled, ` of ${run.requested ?? 0}`);
    const badge = document.createElement('span');
    const status = statusOf(run);
    badge.className = `badge ${status}`;
    badge.textContent = status;
    const when = document.createElement('span');
    when.className = 'run-when';
    when.textContent = formatWhen(run.created_ns) || (typeof run.url === 'string' ? run.url : '');
    button.append(idSpan, badge, counts, when);
    button.addEventListener('click', () => {
      followLatest = false;
      selectRun(id);
    });
    const pick = document.createElement('input');
    pick.type = 'checkbox';
    pick.className = 'pick';
    pick.checked = picked.has(id);
    pick.setAttribute('aria-label', `Compare run #${id}`);
    pick.addEventListener('change', () => pickRun(id, pick));
    item.append(pick, button);
    return item;
  });
  list.replaceChildren(...items);
}

// Ticks or unticks run id for comparison; a fifth is refused.
function pickRun(id, box) {
  const message = $('compare-message');
  if (box.checked && picked.size >= COMPARE_MAX) {
    box.checked = false;
    message.textContent = `At most ${COMPARE_MAX} runs can be compared.`;
    return;
  }
  if (box.checked) picked.add(id);
  else picked.delete(id);
  const n = picked.size;
  $('compare-open').disabled = n < 2;
  message.textContent = n < 2 ? 'Tick 2 to 4 runs to compare them.'
    : `${n} runs picked: ${[...picked].sort((a, b) => a - b).map((r) => `#${r}`).join(', ')}.`;
}

// The run list's query from its filter form: outcome, target or label,
// and the day it starts from (local midnight, in ns since the epoch).
function runsQuery() {
  const params = new URLSearchParams({ limit: String(RUNS_LIMIT) });
  const outcome = $('runs-outcome').value;
  const q = $('runs-q').value.trim();
  const since = $('runs-since').value;
  if (outcome) params.set('outcome', outcome);
  if (q) params.set('q', q);
  if (since) {
    const ms = new Date(`${since}T00:00`).getTime();
    if (Number.isFinite(ms) && ms >= 0) {
      // Past the API's largest instant (int64 ns, year 2262) nothing matches.
      const ns = BigInt(ms) * 1000000n;
      const max = 9223372036854775807n;
      params.set('since', (ns > max ? max : ns).toString());
    }
  }
  return params.toString();
}

function markSelected() {
  for (const button of $('runs').querySelectorAll('button')) {
    button.setAttribute('aria-current', String(button.dataset.runId === String(selectedRunId)));
  }
}

async function loadRuns() {
  const body = await api(`/api/runs?${runsQuery()}`);
  const runs = Array.isArray(body) ? body : [];
  renderRuns(runs);
  return runs;
}

function renderAgents(status) {
  const el = $('agents');
  if (!status) {
    el.textContent = 'controller: not reachable';
    el.classList.add('none');
    return;
  }
  const agents = Array.isArray(status.agents) ? status.agents : [];
  el.textContent = agents.length === 1 ? '1 agent connected' : `${agents.length} agents connected`;
  el.classList.toggle('none', agents.length === 0);
  if (typeof status.default_url === 'string' && status.default_url) {
    $('burst-url').placeholder = status.default_url;
  }
  setActive(typeof status.active_run === 'number' ? status.active_run : null);
}

// Controls follow the controller: no second start while a run runs.
function setActive(id) {
  activeRunId = id;
  const submit = $('burst-submit');
  submit.disabled = id !== null;
  submit.textContent = id !== null ? `Run #${id} running…` : 'Run burst';
}

async function loadStatus() {
  try {
    renderAgents(await api('/api/status'));
  } catch (error) {
    $('agents').textContent = `controller: ${error.message}`;
    $('agents').classList.add('none');
  }
}

function stopPolling() {
  if (pollTimer !== null) {
    clearTimeout(pollTimer);
    pollTimer = null;
  }
}

let latestProgress = null; // the newest event's run

// Fetches run `id` whole (summary, shares, the original's metrics) and
// shows it, with the live counts while it is active.
async function fetchFull(id) {
  let run;
  try {
    run = await api(`/api/runs/${encodeURIComponent(id)}?requests=0`);
  } catch (error) {
    showError(`run #${id}: ${error.message}`);
    return null;
  }
  if (selectedRunId !== id) return null;
  showError('');
  const p = latestProgress && latestProgress.run_id === id ? latestProgress : null;
  renderRun(run, p && ACTIVE.has(statusOf(p)) ? p : null);
  renderProgress(p);
  if (ACTIVE.has(statusOf(run))) charts.hide();
  else charts.show(id, typeof run.reserved_concurrency === 'number' ? run.reserved_concurrency : null);
  return run;
}

// Shows run `id` (its full object and first page of rows). Without live
// events, a run that is still active is fetched again every POLL_MS.
async function selectRun(id) {
  stopPolling();
  selectedRunId = id;
  markSelected();
  table.show(id);
  const run = await fetchFull(id);
  if (!run) return;
  if (ACTIVE.has(statusOf(run)) && !live) {
    pollTimer = setTimeout(() => {
      pollTimer = null;
      loadStatus();
      selectRun(id).catch((error) => showError(error.message));
    }, POLL_MS);
  } else if (!ACTIVE.has(statusOf(run)) && !live) {
    await loadRuns().catch((error) => showError(error.message));
    markSelected();
  }
}

// One event: the controller's status and the active (else newest) run.
async function onProgress(data) {
  renderAgents(data.status);
  const progress = data.run;
  if (!progress) return;
  latestProgress = progress;
  const id = progress.run_id;
  const key = `${id}:${progress.status}`;
  const changed = key !== lastRunsKey;
  lastRunsKey = key;
  if (selectedRunId === null || (followLatest && id !== selectedRunId)) {
    // The first view, or a newer run to follow: shown from the event at
    // once, completed by the full run and the history in the background.
    stopPolling();
    selectedRunId = id;
    shownRun = null;
    renderRun(null, progress);
    renderProgress(progress);
    table.show(id);
    loadRuns().then(markSelected, () => []);
    await fetchFull(id);
    return;
  }
  if (id !== selectedRunId) {
    if (changed) loadRuns().then(markSelected, () => []);
    return;
  }
  if (changed) {
    // Started or ended: the full object, the history and the table.
    loadRuns().then(markSelected, () => []);
    await fetchFull(id);
    table.load();
    return;
  }
  renderRun(shownRun, ACTIVE.has(progress.status) || !shownRun ? progress : null);
  renderProgress(progress);
  if (ACTIVE.has(progress.status)) table.load();
}

let live = false;

function startEvents() {
  if (token || typeof EventSource === 'undefined') return false;
  const source = new EventSource('/api/events');
  source.addEventListener('progress', (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    onProgress(data).catch((error) => showError(error.message));
  });
  return true;
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
    followLatest = true;
    setActive(reply.run_id);
    await loadRuns().catch(() => []);
    await selectRun(reply.run_id);
  } catch (error) {
    message.className = 'meta error';
    message.textContent = error.message;
    submit.disabled = activeRunId !== null;
  }
}

// The selected run as a file: every row as CSV, or the run with its rows
// as JSON (the original demo's results file).
async function downloadRun(kind) {
  const id = selectedRunId;
  if (id === null) return;
  const path = kind === 'csv' ? `/api/runs/${encodeURIComponent(id)}/requests.csv`
    : `/api/results/file/run-${encodeURIComponent(id)}.json`;
  try {
    await download(path, `run-${id}.${kind}`);
  } catch (error) {
    showError(`download of run #${id}: ${error.message}`);
  }
}

async function main() {
  $('burst-form').addEventListener('submit', submitBurst);
  $('download-csv').addEventListener('click', () => downloadRun('csv'));
  $('compare-open').addEventListener('click', () => compare.show([...picked].sort((a, b) => a - b)));
  $('compare-close').addEventListener('click', () => compare.hide());
  const refilter = () => loadRuns().then(markSelected, (error) => showError(error.message));
  $('runs-filter').addEventListener('submit', (event) => { event.preventDefault(); refilter(); });
  $('runs-outcome').addEventListener('change', refilter);
  $('runs-since').addEventListener('change', refilter);
  let typing = null;
  $('runs-q').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(refilter, 250);
  });
  $('download-json').addEventListener('click', () => downloadRun('json'));
  live = startEvents();
  if (!live) loadStatus();
  let runs;
  try {
    runs = await loadRuns();
  } catch (error) {
    showError(`cannot load runs: ${error.message}`);
    return;
  }
  if (selectedRunId !== null) return; // an event showed a run already
  if (runs.length === 0) {
    renderEmpty();
    return;
  }
  lastRunsKey = `${runId(runs[0])}:${statusOf(runs[0])}`;
  await selectRun(runId(runs[0]));
}

main();
