// The per-request table of one run: pages of rows from
// GET /api/runs/<id>/rows, sorted and filtered by the server, so a
// 100,000-row run never reaches the page whole. Every value goes into the
// page as text.
import { $, api, formatMs } from './api.js';

const PAGE = 50;
const OUTCOME_CLASS = { ok: 'ok', throttled: 'throttled', lost: 'lost' };

export class RowsTable {
  constructor(onError) {
    this.onError = onError;
    this.runId = null;
    this.offset = 0;
    this.total = 0;
    this.sort = 'index';
    this.desc = false;
    this.outcome = '';
    this.q = '';
    this.seq = 0;
    this.timer = null;
    for (const th of document.querySelectorAll('#rows th[data-sort]')) {
      th.querySelector('button').addEventListener('click', () => this.sortBy(th.dataset.sort));
    }
    $('rows-outcome').addEventListener('change', (event) => {
      this.outcome = event.target.value;
      this.offset = 0;
      this.load();
    });
    $('rows-q').addEventListener('input', (event) => {
      this.q = event.target.value.trim();
      this.offset = 0;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.load(), 200);
    });
    $('rows-prev').addEventListener('click', () => {
      this.offset = Math.max(0, this.offset - PAGE);
      this.load();
    });
    $('rows-next').addEventListener('click', () => {
      if (this.offset + PAGE < this.total) this.offset += PAGE;
      this.load();
    });
    this.markSort();
  }

  show(runId) {
    if (runId !== this.runId) {
      this.runId = runId;
      this.offset = 0;
    }
    $('rows-card').hidden = false;
    return this.load();
  }

  sortBy(key) {
    if (this.sort === key) this.desc = !this.desc;
    else {
      this.sort = key;
      this.desc = false;
    }
    this.offset = 0;
    this.markSort();
    this.load();
  }

  markSort() {
    for (const th of document.querySelectorAll('#rows th[data-sort]')) {
      const active = th.dataset.sort === this.sort;
      th.setAttribute('aria-sort', active ? (this.desc ? 'descending' : 'ascending') : 'none');
    }
  }

  async load() {
    if (this.runId === null) return;
    const seq = ++this.seq;
    const params = new URLSearchParams({
      offset: String(this.offset), limit: String(PAGE), sort: this.sort, order: this.desc ? 'desc' : 'asc',
    });
    if (this.outcome) params.set('outcome', this.outcome);
    if (this.q) params.set('q', this.q);
    let page;
    try {
      page = await api(`/api/runs/${encodeURIComponent(this.runId)}/rows?${params}`);
    } catch (error) {
      this.onError(`requests of run #${this.runId}: ${error.message}`);
      return;
    }
    if (seq !== this.seq) return;
    this.render(page);
  }

  render(page) {
    const rows = Array.isArray(page.rows) ? page.rows : [];
    this.total = typeof page.total === 'number' ? page.total : 0;
    const body = $('rows-body');
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      const tr = document.createElement('tr');
      const outcome = typeof row.outcome === 'string' ? row.outcome : '';
      const cls = OUTCOME_CLASS[outcome] || 'error';
      const cells = [
        String(row.index),
        row.agent_id ?? '',
        outcome === cls ? outcome : `error (${outcome})`,
        row.http_status ? String(row.http_status) : '–',
        formatMs(row.latency_ms),
        row.environment_id ?? '',
        row.cold_start === true ? 'yes' : row.cold_start === false ? 'no' : '',
        row.initialization_type ?? '',
        formatMs(row.sent_offset_ms),
        formatMs(row.arrival_offset_ms),
      ];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (i === 2) td.className = `outcome ${cls}`;
        tr.append(td);
      });
      fragment.append(tr);
    }
    body.replaceChildren(fragment);
    const first = rows.length ? this.offset + 1 : 0;
    const last = this.offset + rows.length;
    $('rows-range').textContent = `${first}–${last} of ${this.total}`;
    $('rows-caption').textContent = `Requests of run #${this.runId}, sorted by ${this.sort} ${this.desc ? 'descending' : 'ascending'}`;
    $('rows-prev').disabled = this.offset === 0;
    $('rows-next').disabled = last >= this.total;
  }
}
