// The Lambda picture of a finished run, from GET /api/runs/<id>/charts:
// one lane per execution environment (its invocations as bars from the
// function's start to its end, cold starts darker) with the throttles in
// their own lane, concurrency over time against the detected reserved
// concurrency, and the latency histogram split ok / throttled / error.
import {
  Chart, BarController, BarElement, LineController, LineElement, PointElement, LinearScale,
  CategoryScale, Tooltip, Legend,
} from 'chart.js';
import { $, api, formatMs } from './api.js';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, LinearScale,
  CategoryScale, Tooltip, Legend);

const COLORS = {
  cold: '#1b7a45', warm: '#5cc48a', throttled: '#e08a00', error: '#d64545', line: '#5b7bd5', limit: '#8a94a3',
};

// Concurrency steps from the invocations' intervals: +1 at a start, -1
// at an end, ends first at the same instant (half-open intervals).
export function concurrencySteps(invocations) {
  const events = [];
  for (const inv of invocations) {
    events.push([inv.start_ms, 1], [inv.end_ms, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const points = [{ x: 0, y: 0 }];
  let level = 0;
  let peak = 0;
  for (const [x, d] of events) {
    level += d;
    peak = Math.max(peak, level);
    points.push({ x, y: level });
  }
  return { points, peak };
}

// Draws config on canvas id, replacing the chart charts[id] held.
export function drawChart(charts, id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart($(id), config);
}

// Options every chart shares: no animation, the theme's text colour, the
// legend below, titled axes (the y title only when given).
export function chartOptions(color, xTitle, yTitle) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { position: 'bottom', labels: { boxWidth: 12, color } } },
    scales: {
      x: { title: { display: true, text: xTitle, color }, ticks: { color } },
      y: { title: { display: !!yTitle, text: yTitle, color }, ticks: { color } },
    },
  };
}

export class RunCharts {
  constructor(onError) {
    this.onError = onError;
    this.charts = {};
    this.seq = 0;
    this.textColor = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#4f5a68';
  }

  hide() {
    $('charts-card').hidden = true;
  }

  async show(runId, reserved) {
    const seq = ++this.seq;
    let data;
    try {
      data = await api(`/api/runs/${encodeURIComponent(runId)}/charts`);
    } catch (error) {
      this.onError(`charts of run #${runId}: ${error.message}`);
      return;
    }
    if (seq !== this.seq) return;
    $('charts-card').hidden = false;
    const invocations = Array.isArray(data.invocations) ? data.invocations : [];
    this.timeline(invocations, data.throttles || {});
    const { peak } = this.concurrency(invocations, reserved);
    this.latency(data.latency || {});
    this.arrivals(Array.isArray(data.agents) ? data.agents : []);
    const envs = new Set(invocations.map((i) => i.environment_id));
    const cold = invocations.filter((i) => i.cold_start === true).length;
    const t = data.throttles || {};
    const parts = [`${envs.size} environments, ${invocations.length} invocations (${cold} cold), peak concurrency ${peak}`];
    if (t.count) parts.push(`${t.count} throttled, arriving ${formatMs(t.first_ms)} to ${formatMs(t.last_ms)} after the start`);
    $('charts-note').textContent = parts.join('; ');
  }

  draw(id, config) {
    drawChart(this.charts, id, config);
  }

  base(xTitle, yTitle) {
    return chartOptions(this.textColor, xTitle, yTitle);
  }

  timeline(invocations, throttles) {
    const lanes = [...new Set(invocations.map((i) => i.environment_id))];
    const throttleLane = throttles.count ? `throttled (${throttles.count})` : null;
    if (throttleLane) lanes.push(throttleLane);
    const bar = (inv) => ({ x: [inv.start_ms, inv.end_ms], y: inv.environment_id });
    const datasets = [
      { label: 'cold start', data: invocations.filter((i) => i.cold_start === true).map(bar), backgroundColor: COLORS.cold },
      { label: 'warm', data: invocations.filter((i) => i.cold_start !== true).map(bar), backgroundColor: COLORS.warm },
    ];
    if (throttleLane) {
      const last = Math.max(throttles.last_ms ?? 0, (throttles.first_ms ?? 0) + 0.5);
      datasets.push({ label: 'throttled', data: [{ x: [throttles.first_ms ?? 0, last], y: throttleLane }], backgroundColor: COLORS.throttled });
    }
    const options = this.base('ms since the start instant', '');
    options.indexAxis = 'y';
    options.scales.y = { type: 'category', labels: lanes, stacked: true, ticks: { color: this.textColor, autoSkip: false } };
    options.scales.x.type = 'linear';
    options.scales.x.min = 0;
    $('chart-timeline').parentElement.classList.toggle('many', lanes.length > 8);
    this.draw('chart-timeline', { type: 'bar', data: { labels: lanes, datasets }, options });
  }

  concurrency(invocations, reserved) {
    const { points, peak } = concurrencySteps(invocations);
    const end = points.length ? points[points.length - 1].x : 0;
    const datasets = [{
      label: 'concurrent invocations', data: points, stepped: true, borderColor: COLORS.line,
      backgroundColor: COLORS.line, pointRadius: 0, borderWidth: 2,
    }];
    if (typeof reserved === 'number') {
      datasets.push({
        label: `reserved concurrency (detected ${reserved})`, data: [{ x: 0, y: reserved }, { x: end, y: reserved }],
        borderColor: COLORS.limit, borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5,
      });
    }
    const options = this.base('ms since the start instant', 'invocations');
    options.scales.x.type = 'linear';
    options.scales.x.min = 0;
    options.scales.y.beginAtZero = true;
    options.scales.y.ticks.precision = 0;
    this.draw('chart-concurrency', { type: 'line', data: { datasets }, options });
    return { peak };
  }

  // Each agent's arrivals at the target: a bar from the first to the last,
  // the median as a point.
  arrivals(agents) {
    const withArrivals = agents.filter((a) => a.arrivals > 0);
    const labels = withArrivals.map((a) => a.agent_id);
    const options = this.base('ms after the start instant (target clock)', '');
    options.indexAxis = 'y';
    options.scales.y = { type: 'category', labels, ticks: { color: this.textColor, autoSkip: false } };
    options.scales.x.type = 'linear';
    this.draw('chart-arrivals', {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: 'first to last', data: withArrivals.map((a) => ({ x: [a.first_ms, Math.max(a.last_ms, a.first_ms + 0.01)], y: a.agent_id })), backgroundColor: COLORS.line },
          { type: 'line', label: 'median', data: withArrivals.map((a) => ({ x: a.median_ms, y: a.agent_id })), showLine: false, pointRadius: 5, pointStyle: 'rectRot', backgroundColor: COLORS.throttled, borderColor: COLORS.throttled },
        ],
      },
      options,
    });
  }

  latency(latency) {
    const bin = typeof latency.bin_ms === 'number' ? latency.bin_ms : 1;
    const n = Array.isArray(latency.ok) ? latency.ok.length : 0;
    const labels = Array.from({ length: n }, (_, i) => (i === n - 1 ? `≥ ${formatMs(i * bin)}` : formatMs(i * bin)));
    const set = (label, data, color) => ({ label, data: Array.isArray(data) ? data : [], backgroundColor: color });
    const options = this.base('latency (bin start)', 'requests');
    options.scales.x.stacked = true;
    options.scales.y.stacked = true;
    options.scales.y.ticks.precision = 0;
    this.draw('chart-latency', {
      type: 'bar',
      data: {
        labels,
        datasets: [set('ok', latency.ok, COLORS.warm), set('throttled', latency.throttled, COLORS.throttled),
          set('error', latency.error, COLORS.error)],
      },
      options,
    });
  }
}
