// The dashboard's access to the controller's API: the token (taken from
// ?token= once, kept in memory only) and one fetch helper that turns an
// error answer into an Error carrying the API's message.

export const token = (() => {
  const params = new URLSearchParams(window.location.search);
  const value = params.get('token');
  if (value !== null) {
    params.delete('token');
    const rest = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (rest ? `?${rest}` : ''));
  }
  return value;
})();

export async function api(path, options = {}) {
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

// Saves what path answers as a file named filename: fetched with the
// token (a plain link could not send it), handed to the browser as a blob.
export async function download(path, filename) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(path, { headers, cache: 'no-store' });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      if (body && typeof body.error === 'string') message = body.error;
    } catch {
      // not JSON: keep the status
    }
    throw new Error(message);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export const $ = (id) => document.getElementById(id);

// Numbers with units. Unknown values (null, undefined, NaN) show as "–".
const known = (v) => typeof v === 'number' && Number.isFinite(v);

export function formatCount(v) {
  return known(v) ? String(v) : '–';
}

export function formatMs(ms) {
  if (!known(ms)) return '–';
  if (Math.abs(ms) >= 999.5) return `${(ms / 1000).toFixed(2)} s`;
  if (Math.abs(ms) >= 9.95) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function formatSeconds(s) {
  return known(s) ? formatMs(s * 1000) : '–';
}

export function formatPercent(p) {
  if (!known(p)) return '–';
  if (Number.isInteger(p)) return `${p} %`;
  // A tiny rate keeps two significant digits rather than reading as 0.
  return p > 0 && p < 0.1 ? `${p.toPrecision(2)} %` : `${p.toFixed(1)} %`;
}

export function formatWhen(ns) {
  if (!known(ns) || ns <= 0) return '';
  return new Date(ns / 1e6).toLocaleString();
}
