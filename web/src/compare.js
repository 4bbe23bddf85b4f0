// Runs side by side: a table of the original demo's metrics and ours, one
// column per run, and charts overlaid — latency of the successful requests,
// concurrency over time, and, when the runs know the reserved concurrency
// they were made with (`stampede sweep`, or run and serve with --function),
// the success rate against it.
// Every value is set as text; nothing from a run is inserted as HTML. The
// runs' colours are the stylesheet's --run-1..4, one set a theme.
import {
  Chart, LineController, LineElement, PointElement, LinearScale, CategoryScale, Tooltip, Legend,
} from 'chart.js';
import {
  $, api, formatCount, formatMs, formatPercent, formatSeconds,
} from './api.js';
import { chartOptions, concurrencySteps, drawChart } from './charts.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Tooltip, Legend);

export const COMPARE_MAX = 4;
// Fallbacks of --run-1..4 (the light theme's).
const RUN_COLORS = ['#2f6fdb', '#d9480f', '#2b8a3e', '#ae3ec9'];

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

// A configured reserved concurrency as the page names it: -1 is
// "unreserved", unknown is "–".
export function reservedName(value) {
  if (value === -1) return 'unreserved';
  return value === null || value === undefined ? '–' : String(value);
}

// The sweep chart's points: x the configured reserved concurrency (the
// unreserved run drawn right of the largest, labelled "unreserved"), y the
// success rate; sorted by x. Runs without a configured value or without a
// success rate (nothing recorded yet) are left out rather than drawn at 0.
export function sweepPoints(runs) {
  const known = runs.filter((r) => num(r.reserved_configured) !== null && num(r.success_rate) !== null);
  const largest = Math.max(0, ...known.map((r) => r.reserved_configured));
  const unreservedX = Math.max(largest * 1.25, largest + 10);
  return known
    .map((r) => ({
      x: r.reserved_configured === -1 ? unreservedX : r.reserved_configured,
      y: r.success_rate,
      label: reservedName(r.reserved_configured),
      run: r.run_id,
    }))
    .sort((a, b) => a.x - b.x);
}

const text = (v) => (typeof v === 'string' && v ? v : null);

// The table's rows: name, the cell's text from a run, and whether the
// cell may wrap (a long URL wraps rather than being cut).
const ROWS = [
  ['Outcome', (r) => (text(r.outcome) ?? text(r.status) ?? '–').replaceAll('_', ' ')],
  ['Target', (r) => text(r.url) ?? '–', true],
  ['Label', (r) => text(r.label) ?? '–', true],
  ['Reserved (configured)', (r) => reservedName(num(r.reserved_configured))],
  ['Reserved (detected)', (r) => formatCount(num(r.reserved_concurrency))],
  ['Total Requests', (r) => formatCount(num(r.total_requests))],
  ['Successful', (r) => formatCount(num(r.successful))],
  ['Throttled', (r) => formatCount(num(r.throttled))],
  ['Success Rate', (r) => formatPercent(num(r.success_rate))],
  ['Avg Response Time', (r) => formatMs(num(r.avg_response_time))],
  ['Cold Starts', (r) => formatCount(num(r.cold_starts))],
  ['Cold Start Time', (r) => formatSeconds(num(r.cold_start_time))],
  ['p50', (r) => formatMs(num(r.summary && r.summary.p50_ms))],
  ['p99', (r) => formatMs(num(r.summary && r.summary.p99_ms))],
  ['Arrival spread', (r) => formatMs(num(r.summary && r.summary.spread_ms))],
];

// A colour of the theme in force (read at each drawing: the theme may
// have changed since the page loaded).
function themeColor(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

const runColor = (i) => themeColor(`--run-${i + 1}`, RUN_COLORS[i]);

// One run's line on an overlaid chart.
function runLine(run, i, data, extra = {}) {
  const color = runColor(i);
  return {
    label: `#${run.run_id}`, data, borderColor: color, backgroundColor: color, borderWidth: 2, ...extra,
  };
}

export class CompareView {
  constructor(onError) {
    this.onError = onError;
    this.charts = {};
    this.seq = 0;
  }

  // Back to the run's view; the keyboard goes back to the Compare button.
  hide() {
    this.seq += 1;
    $('compare-card').hidden = true;
    if (!$('compare-open').disabled) $('compare-open').focus();
  }

  async show(ids) {
    const seq = ++this.seq;
    let runs;
    let charts;
    try {
      runs = await Promise.all(ids.map((id) => api(`/api/runs/${encodeURIComponent(id)}?requests=0`)));
      charts = await Promise.all(ids.map((id) => api(`/api/runs/${encodeURIComponent(id)}/charts`)));
    } catch (error) {
      this.onError(`compare: ${error.message}`);
      return;
    }
    if (seq !== this.seq) return;
    $('compare-card').hidden = false;
    this.table(runs);
    this.latency(runs, charts);
    this.concurrency(runs, charts);
    this.sweep(runs);
    $('compare-title').focus();
  }

  table(runs) {
    const head = document.createElement('tr');
    const corner = document.createElement('th');
    corner.scope = 'col';
    corner.textContent = 'Metric';
    head.append(corner);
    for (const run of runs) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = `#${run.run_id}`;
      head.append(th);
    }
    $('compare-head').replaceChildren(head);
    const rows = ROWS.map(([name, value, wraps]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = name;
      tr.append(th);
      for (const run of runs) {
        const td = document.createElement('td');
        td.textContent = value(run);
        if (wraps) td.className = 'wrap';
        tr.append(td);
      }
      return tr;
    });
    $('compare-body').replaceChildren(...rows);
  }

  draw(id, config) {
    drawChart(this.charts, id, config);
  }

  // Linear x, y from 0.
  options(xTitle, yTitle) {
    const options = chartOptions(themeColor('--muted', '#4f5a68'), xTitle, yTitle);
    options.scales.x.type = 'linear';
    options.scales.y.beginAtZero = true;
    return options;
  }

  // The successful requests' latency histogram of each run, as lines over
  // the bins' starts.
  latency(runs, charts) {
    const datasets = runs.map((run, i) => {
      const latency = charts[i].latency || {};
      const bin = num(latency.bin_ms) ?? 1;
      const ok = Array.isArray(latency.ok) ? latency.ok : [];
      return runLine(run, i, ok.map((count, b) => ({ x: b * bin, y: count })), { pointRadius: 2 });
    });
    const options = this.options('latency, ms (bin start)', 'successful requests');
    options.scales.y.ticks.precision = 0;
    this.draw('compare-latency', { type: 'line', data: { datasets }, options });
  }

  concurrency(runs, charts) {
    const datasets = runs.map((run, i) => runLine(run, i,
      concurrencySteps(Array.isArray(charts[i].invocations) ? charts[i].invocations : []).points,
      { stepped: true, pointRadius: 0 }));
    const options = this.options('ms since the start instant', 'concurrent invocations');
    options.scales.y.ticks.precision = 0;
    this.draw('compare-concurrency', { type: 'line', data: { datasets }, options });
  }

  // Success rate against configured reserved concurrency: how a sweep is read.
  sweep(runs) {
    const points = sweepPoints(runs);
    const panel = $('compare-sweep-panel');
    const canvas = $('compare-sweep');
    canvas.dataset.points = JSON.stringify(points.map((p) => [p.label, p.y]));
    panel.hidden = points.length < 2;
    if (panel.hidden) return;
    const labels = new Map(points.map((p) => [p.x, p.label]));
    const options = this.options('reserved concurrency (configured)', 'success rate, %');
    options.scales.y.max = 100;
    options.scales.x.ticks.callback = (value) => labels.get(value) ?? '';
    options.scales.x.afterBuildTicks = (axis) => { axis.ticks = points.map((p) => ({ value: p.x })); };
    options.plugins.tooltip = {
      callbacks: {
        title: (items) => items.map((item) => `reserved ${points[item.dataIndex].label} (run #${points[item.dataIndex].run})`),
        label: (item) => formatPercent(item.parsed.y),
      },
    };
    const color = runColor(0);
    this.draw('compare-sweep', {
      type: 'line',
      data: {
        datasets: [{
          label: 'success rate', data: points.map((p) => ({ x: p.x, y: p.y })), borderColor: color,
          backgroundColor: color, pointRadius: 5, borderWidth: 2, clip: 8,
        }],
      },
      options,
    });
  }
}
