// Runs side by side: a table of the original demo's metrics and ours, one
// column per run, and charts overlaid — latency of the successful requests,
// concurrency over time, and, when the runs know the reserved concurrency
// they were made with (a `stampede sweep`), the success rate against it.
// Every value is set as text; nothing from a run is inserted as HTML.
import {
  Chart, LineController, LineElement, PointElement, LinearScale, CategoryScale, Tooltip, Legend,
} from 'chart.js';
import {
  $, api, formatCount, formatMs, formatPercent, formatSeconds,
} from './api.js';
import { chartOptions, concurrencySteps, drawChart } from './charts.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Tooltip, Legend);

export const COMPARE_MAX = 4;
// One colour a run, distinguishable in both themes.
const RUN_COLORS = ['#2f6fdb', '#d9480f', '#2b8a3e', '#ae3ec9'];

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function reservedName(value) {
  if (value === -1) return 'unreserved';
  return value === null || value === undefined ? '–' : String(value);
}

// The sweep chart's points: x the configured reserved concurrency (the
// unreserved run drawn right of the largest, labelled "unreserved"), y the
// success rate; sorted by x. Runs without a configured value are left out.
export function sweepPoints(runs) {
  const known = runs.filter((r) => num(r.reserved_configured) !== null);
  const largest = Math.max(0, ...known.map((r) => r.reserved_configured));
  const unreservedX = Math.max(largest * 1.25, largest + 10);
  return known
    .map((r) => ({
      x: r.reserved_configured === -1 ? unreservedX : r.reserved_configured,
      y: num(r.success_rate) ?? 0,
      label: reservedName(r.reserved_configured),
      run: r.run_id,
    }))
    .sort((a, b) => a.x - b.x);
}

const ROWS = [
  ['Outcome', (r) => r.outcome || r.status || '–'],
  ['Target', (r) => (typeof r.url === 'string' ? r.url : '–')],
  ['Label', (r) => (typeof r.label === 'string' && r.label ? r.label : '–')],
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

// One run's line on an overlaid chart.
function runLine(run, i, data, extra = {}) {
  return {
    label: `#${run.run_id}`, data, borderColor: RUN_COLORS[i], backgroundColor: RUN_COLORS[i], borderWidth: 2, ...extra,
  };
}

export class CompareView {
  constructor(onError) {
    this.onError = onError;
    this.charts = {};
    this.seq = 0;
    this.textColor = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#4f5a68';
  }

  hide() {
    this.seq += 1;
    $('compare-card').hidden = true;
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
    const rows = ROWS.map(([name, value]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = name;
      tr.append(th);
      for (const run of runs) {
        const td = document.createElement('td');
        td.textContent = value(run);
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
    const options = chartOptions(this.textColor, xTitle, yTitle);
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
    this.draw('compare-sweep', {
      type: 'line',
      data: {
        datasets: [{
          label: 'success rate', data: points.map((p) => ({ x: p.x, y: p.y })), borderColor: RUN_COLORS[0],
          backgroundColor: RUN_COLORS[0], pointRadius: 5, borderWidth: 2, clip: 8,
        }],
      },
      options,
    });
  }
}
