// Sluice dashboard — shared helpers: DOM building, formatting, the admin API
// client, polling, sparklines and charts, tables, the dialog and toasts.
// Plain browser JavaScript, no dependencies, no build step. The page modules
// (pages.js, dlq.js) and the router (app.js) hang off the global S.
//
// Safety: everything shown comes from the broker and may come from a message
// producer (bodies, attributes, error texts), so text is only ever put into
// the DOM as text nodes — never through innerHTML.
'use strict';

const S = (window.S = {});

// ---------------------------------------------------------------- DOM

const SVGNS = 'http://www.w3.org/2000/svg';

function setAttrs(el, attrs) {
  if (!attrs) return el;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'indeterminate') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

// h('a', {href: '#/', class: 'x'}, 'text', child…) builds an element.
S.h = (tag, attrs, ...kids) => append(setAttrs(document.createElement(tag), attrs), kids);
S.svg = (tag, attrs, ...kids) => append(setAttrs(document.createElementNS(SVGNS, tag), attrs), kids);
S.replace = (el, ...kids) => { el.replaceChildren(); return append(el, kids); };
S.$ = (sel, root = document) => root.querySelector(sel);

// ---------------------------------------------------------------- formatting

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const DASH = '—';

S.num = (n) => (n === null || n === undefined || Number.isNaN(n) ? DASH : intFmt.format(n));
// Rates in records (or messages) per second: one decimal below 10.
S.rate = (r) => {
  if (r === null || r === undefined || Number.isNaN(r)) return DASH;
  if (r === 0) return '0';
  return r < 10 ? dec1.format(r) : intFmt.format(r);
};
S.bytes = (b) => {
  if (b === null || b === undefined) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i === 0 ? intFmt.format(b) : dec1.format(b)) + ' ' + units[i];
};
// Durations in seconds, two units at most: 45s, 12m 3s, 3h 12m, 2d 4h.
S.dur = (s) => {
  if (s === null || s === undefined || Number.isNaN(s)) return DASH;
  s = Math.max(0, Math.floor(s));
  if (s < 60) return s + 's';
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return d + 'd' + (h ? ' ' + h + 'h' : '');
  if (h) return h + 'h' + (m ? ' ' + m + 'm' : '');
  return m + 'm' + (s % 60 ? ' ' + (s % 60) + 's' : '');
};
// Timestamps arrive as epoch milliseconds or RFC 3339 strings.
S.toDate = (t) => {
  if (t === null || t === undefined || t === '') return null;
  const d = new Date(typeof t === 'number' ? t : String(t));
  return Number.isNaN(d.getTime()) || d.getTime() <= 0 ? null : d;
};
const pad = (n) => String(n).padStart(2, '0');
S.time = (t) => {
  const d = S.toDate(t);
  if (!d) return DASH;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};
// ago is coarser than dur: seconds only under a minute ("12m ago", not
// "12m 3s ago"), so that columns of ages stay readable.
S.ago = (t) => {
  const d = S.toDate(t);
  if (!d) return DASH;
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  return (s < 60 ? S.dur(s) : s < 3600 ? Math.floor(s / 60) + 'm' : S.dur(Math.floor(s / 60) * 60)) + ' ago';
};
// A <time> element: relative text, absolute time on hover.
S.when = (t) => {
  const d = S.toDate(t);
  return d ? S.h('time', { datetime: d.toISOString(), title: S.time(d) }, S.ago(d)) : DASH;
};
S.truncate = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s);
S.plural = (n, one, many) => S.num(n) + ' ' + (n === 1 ? one : many || one + 's');

// ---------------------------------------------------------------- routes

S.enc = encodeURIComponent;
S.link = {
  topic: (n) => '#/topics/' + S.enc(n),
  queue: (n) => '#/queues/' + S.enc(n),
  group: (n) => '#/groups/' + S.enc(n),
  dlq: (n) => '#/dlq/' + S.enc(n),
};

// ---------------------------------------------------------------- API client

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
S.ApiError = ApiError;

const TOKEN_KEY = 'sluice.token';
let tokenPrompt = null; // one pending prompt shared by all requests that got 401

// api(path, {method, body, signal}) returns the decoded JSON. A 401 asks once
// for a bearer token (kept for the browser session) and retries; basic auth
// is handled by the browser itself.
S.api = async function api(path, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method: opts.method || 'GET', headers, signal: opts.signal, cache: 'no-store',
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'cannot reach the broker');
    }
    if (res.status === 401 && attempt === 0 && !res.headers.get('WWW-Authenticate')?.startsWith('Basic')) {
      if (!tokenPrompt) tokenPrompt = askToken().finally(() => { tokenPrompt = null; });
      if (await tokenPrompt) continue;
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!res.ok) {
      const e = data && data.error;
      throw new ApiError(res.status, (e && e.code) || 'http_' + res.status,
        (e && e.message) || text.trim() || res.statusText);
    }
    return data;
  }
};

async function askToken() {
  const input = S.h('input', { type: 'password', class: 'input wide', autocomplete: 'current-password', placeholder: 'token' });
  const ok = await S.dialog({
    title: 'Access token',
    body: [S.h('p', null, 'The admin API asks for a bearer token (http.auth.token).'), input],
    confirm: 'Sign in',
    onOpen: () => input.focus(),
  });
  if (ok && input.value) { sessionStorage.setItem(TOKEN_KEY, input.value); return true; }
  return false;
}

// History keeps the sparkline points of one page. load(names) asks the
// broker only for what it lacks: a series seen before is fetched with
// since_ms (new points only), a new one in full; points older than an hour
// are dropped. Many series go in several requests to keep URLs short.
class History {
  constructor(page) {
    this.page = page;
    this.data = new Map(); // series name -> [[ts_ms, value], …]
  }
  get(name) { return this.data.get(name) || []; }
  async load(names) {
    const uniq = [...new Set(names)];
    const fresh = uniq.filter((n) => !this.data.has(n));
    const known = uniq.filter((n) => this.data.has(n));
    let since = Infinity;
    for (const n of known) {
      const pts = this.data.get(n);
      since = Math.min(since, pts.length ? pts[pts.length - 1][0] : 0);
    }
    await this.fetch(fresh, 0);
    await this.fetch(known, since === Infinity ? 0 : since);
  }
  async fetch(names, since) {
    for (let i = 0; i < names.length; i += 40) {
      let q = names.slice(i, i + 40).map((n) => 'series=' + S.enc(n)).join('&');
      if (since) q += '&since_ms=' + since;
      const r = await this.page.api('/api/history?' + q);
      const series = (r && r.series) || {};
      for (const n of names.slice(i, i + 40)) {
        const have = this.data.get(n) || [];
        const lastTs = have.length ? have[have.length - 1][0] : -Infinity;
        const add = (series[n] || []).filter((p) => p[0] > lastTs);
        const all = since ? have.concat(add) : add;
        const cut = all.length ? all[all.length - 1][0] - 3600 * 1000 : 0;
        this.data.set(n, all.filter((p) => p[0] >= cut));
      }
    }
  }
}
S.History = History;

// ---------------------------------------------------------------- polling

// live reflects the last poll: "live" or the error, in the top bar.
let lastOk = 0;
S.markOk = () => {
  lastOk = Date.now();
  const el = S.$('#live');
  el.className = 'live ok';
  el.textContent = 'Live';
  el.title = 'Updated ' + S.time(lastOk);
};
S.markError = (err) => {
  const el = S.$('#live');
  el.className = 'live err';
  el.textContent = err.status === 0 ? 'Broker unreachable — retrying' : 'Error: ' + err.message;
  el.title = lastOk ? 'Last update ' + S.time(lastOk) : '';
};

// A Page context: the root element, an AbortSignal, and timers; stop()
// cancels them all when the route changes, so a page never updates the DOM
// of the next one.
class Page {
  constructor(root) {
    this.root = root;
    this.ctl = new AbortController();
    this.signal = this.ctl.signal;
    this.timers = [];
    this.stopped = false;
  }
  // every(ms, fn) runs fn now and then every ms while the tab is visible,
  // never two at once; the returned function runs it again immediately.
  every(ms, fn) {
    let busy = false, again = false;
    const run = async () => {
      if (this.stopped) return;
      if (busy) { again = true; return; }
      busy = true;
      try {
        await fn();
        S.markOk();
      } catch (e) {
        if (e.name !== 'AbortError' && !this.stopped) { S.markError(e); console.error(e); }
      } finally {
        busy = false;
        if (again && !this.stopped) { again = false; run(); }
      }
    };
    const tick = () => { if (document.visibilityState === 'visible') run(); };
    this.timers.push(setInterval(tick, ms));
    run();
    return run;
  }
  api(path, opts = {}) { return S.api(path, { ...opts, signal: this.signal }); }
  stop() {
    this.stopped = true;
    this.timers.forEach(clearInterval);
    this.ctl.abort();
  }
}
S.Page = Page;

// ---------------------------------------------------------------- sparklines

// Points are [[ts_ms, value], …]. The x axis spans the points' own time range
// (at most the broker's hour): a series that started a few samples ago fills
// the width rather than being squeezed into a sliver at the right edge, and
// the axis label (or the tooltip) says how long it covers. The y axis runs
// from 0 to the max.
function scale(points, w, h, padY) {
  const last = points.length ? points[points.length - 1][0] : Date.now();
  const first = points.length ? points[0][0] : last;
  const span = Math.max(last - first, 1000);
  const t0 = last - span;
  let max = 0;
  for (const p of points) if (p[1] > max) max = p[1];
  const top = max > 0 ? max : 1;
  const x = (t) => ((t - t0) / span) * w;
  const y = (v) => h - padY - (Math.max(0, v) / top) * (h - 2 * padY);
  return { x, y, max, t0, span };
}

function paths(points, sc, h) {
  let line = '';
  for (const [t, v] of points) line += (line ? 'L' : 'M') + sc.x(t).toFixed(1) + ' ' + sc.y(v).toFixed(1);
  const area = points.length ? line + `L${sc.x(points[points.length - 1][0]).toFixed(1)} ${h}L${sc.x(points[0][0]).toFixed(1)} ${h}Z` : '';
  return { line, area };
}

// sparkline(points, fmt) is a small inline chart for a table cell.
S.sparkline = function sparkline(points, fmt = S.num) {
  const w = 120, h = 28;
  points = (points || []).filter((p) => Array.isArray(p) && p[1] !== null && Number.isFinite(p[1]));
  if (points.length < 2) return S.h('span', { class: 'spark-empty', title: 'no history yet' }, '·');
  const sc = scale(points, w, h, 2);
  const { line, area } = paths(points, sc, h);
  const lastV = points[points.length - 1][1];
  return S.svg('svg', { class: 'spark', viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: 'img',
    'aria-label': `now ${fmt(lastV)}, max ${fmt(sc.max)}` },
  S.svg('title', null, `now ${fmt(lastV)} · max ${fmt(sc.max)} · last ${S.dur(roundSpan(sc.span))}`),
  S.svg('path', { class: 'spark-area', d: area }),
  S.svg('path', { class: 'spark-line', d: line }),
  S.svg('circle', { class: 'spark-dot', cx: sc.x(points[points.length - 1][0]), cy: sc.y(lastV), r: 2 }));
};

// roundSpan gives a chart's time span in seconds, in whole minutes past
// five minutes ("59m 50s" of samples reads as an hour).
const roundSpan = (ms) => (ms > 300000 ? Math.round(ms / 60000) * 60 : Math.round(ms / 1000));

// charts(box, specs) fills box with one chart per [title, points, fmt] —
// or, while no series has two points yet (a new queue, a fresh broker), with
// one line saying so instead of a row of empty frames.
S.charts = (box, specs) => {
  specs = specs.filter(Boolean);
  const any = specs.some(([, pts]) => (pts || []).length >= 2);
  box.classList.toggle('waiting', !any);
  if (!any) {
    S.replace(box, S.h('p', { class: 'muted small chart-wait' }, 'Charts of the last hour appear once the broker has sampled this a few times (every 10 s).'));
    return;
  }
  S.replace(box, specs.map(([title, pts, fmt]) => S.chart(title, pts, fmt)));
};

// chart(title, points, fmt) is a larger chart with its current value, the
// max, the time span and a hover read-out.
S.chart = function chart(title, points, fmt = S.num) {
  const w = 600, h = 120;
  points = (points || []).filter((p) => Array.isArray(p) && p[1] !== null && Number.isFinite(p[1]));
  const head = S.h('div', { class: 'chart-head' }, S.h('span', { class: 'chart-title' }, title),
    S.h('span', { class: 'chart-now num' }, points.length ? fmt(points[points.length - 1][1]) : DASH));
  // One point gives the value in the head but no line to draw yet.
  if (points.length < 2) {
    return S.h('figure', { class: 'chart' }, head, S.h('div', { class: 'chart-empty' }, 'History appears after the broker has sampled for a while.'));
  }
  const sc = scale(points, w, h, 6);
  const { line, area } = paths(points, sc, h);
  const cursor = S.svg('line', { class: 'chart-cursor', y1: 0, y2: h, x1: -10, x2: -10 });
  const readout = S.h('div', { class: 'chart-readout', hidden: true });
  const svgEl = S.svg('svg', { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', class: 'chart-svg' },
    S.svg('line', { class: 'chart-grid', x1: 0, x2: w, y1: sc.y(sc.max || 1), y2: sc.y(sc.max || 1) }),
    S.svg('path', { class: 'spark-area', d: area }),
    S.svg('path', { class: 'spark-line', d: line }),
    cursor);
  const plot = S.h('div', { class: 'chart-plot' }, svgEl, readout);
  plot.addEventListener('mousemove', (ev) => {
    const r = svgEl.getBoundingClientRect();
    const t = sc.t0 + ((ev.clientX - r.left) / r.width) * sc.span;
    let best = points[0];
    for (const p of points) if (Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
    const x = sc.x(best[0]);
    cursor.setAttribute('x1', x); cursor.setAttribute('x2', x);
    readout.hidden = false;
    readout.textContent = `${fmt(best[1])} · ${S.time(best[0]).slice(11)}`;
    readout.style.left = Math.min(Math.max((x / w) * r.width, 40), r.width - 40) + 'px';
  });
  plot.addEventListener('mouseleave', () => { readout.hidden = true; cursor.setAttribute('x1', -10); cursor.setAttribute('x2', -10); });
  return S.h('figure', { class: 'chart' }, head, plot,
    S.h('div', { class: 'chart-axis' }, S.h('span', null, S.dur(roundSpan(sc.span)) + ' ago'),
      S.h('span', null, 'max ' + fmt(sc.max)), S.h('span', null, 'now')));
};

// ---------------------------------------------------------------- tables

// table(cols, rows, opts): cols are {label, num, cls, cell(row) → node|text,
// sort(row) → comparable}; clicking a sortable header sorts (state kept in
// opts.state so a refresh keeps it). Returns the <table>.
S.table = function table(cols, rows, opts = {}) {
  const st = opts.state || {};
  if (st.col !== undefined && cols[st.col] && cols[st.col].sort) {
    const f = cols[st.col].sort, dir = st.desc ? -1 : 1;
    rows = [...rows].sort((a, b) => {
      const x = f(a), y = f(b);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
  }
  const head = S.h('tr', null, cols.map((c, i) => {
    const cls = [c.num && 'num', c.cls, c.sort && 'sortable', st.col === i && (st.desc ? 'desc' : 'asc')];
    const th = S.h('th', { class: cls, scope: 'col' }, c.label);
    if (c.sort) {
      th.tabIndex = 0;
      th.setAttribute('aria-sort', st.col === i ? (st.desc ? 'descending' : 'ascending') : 'none');
      const go = () => {
        if (st.col === i) st.desc = !st.desc; else { st.col = i; st.desc = !!c.num; }
        opts.onSort && opts.onSort();
      };
      th.addEventListener('click', go);
      th.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
    }
    return th;
  }));
  const body = S.h('tbody');
  if (!rows.length) {
    body.appendChild(S.h('tr', { class: 'empty' }, S.h('td', { colspan: cols.length }, opts.empty || 'Nothing here yet.')));
  }
  for (const r of rows) {
    const tr = S.h('tr', opts.rowAttrs ? opts.rowAttrs(r) : null,
      cols.map((c) => S.h('td', { class: [c.num && 'num', c.cls] }, c.cell(r))));
    body.appendChild(tr);
    if (opts.after) { const extra = opts.after(r, cols.length); if (extra) body.appendChild(extra); }
  }
  return S.h('table', { class: ['table', opts.cls] }, S.h('thead', null, head), body);
};

// stat(label, value, opts) is one tile in a row of headline figures;
// opts: tone (ok|warn|danger), sub (a line under it), href, title, text (a
// word rather than a number: smaller, may wrap).
S.stat = (label, value, opts = {}) =>
  S.h('div', { class: ['stat', opts.tone && 'tone-' + opts.tone, opts.text && 'text'], title: opts.title },
    S.h('div', { class: 'stat-label' }, label),
    S.h('div', { class: 'stat-value num' }, opts.href ? S.h('a', { href: opts.href }, value) : value),
    opts.sub ? S.h('div', { class: 'stat-sub' }, opts.sub) : null);

S.badge = (text, tone) => S.h('span', { class: ['badge', tone && 'tone-' + tone] }, text);
S.crumbs = (...parts) => S.h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
  parts.map((p, i) => [i ? S.h('span', { class: 'sep' }, '/') : null,
    Array.isArray(p) ? S.h('a', { href: p[1] }, p[0]) : S.h('span', { 'aria-current': 'page' }, p)]));
S.section = (title, ...kids) => S.h('section', { class: 'section' },
  S.h('div', { class: 'section-head' }, S.h('h2', null, title), ...kids.filter((k) => k && k.classList && k.classList.contains('tools'))),
  ...kids.filter((k) => !(k && k.classList && k.classList.contains('tools'))));
S.errorBox = (err) => S.h('div', { class: 'notice err' }, err.status === 404 ? 'Not found: ' + err.message : String(err.message || err));

// ---------------------------------------------------------------- dialog and toast

// dialog({title, body, confirm, danger, cancel, onOpen}) shows the modal and
// resolves true when confirmed, false when cancelled or dismissed. With
// confirm null it only has a close button.
S.dialog = function dialog({ title, body, confirm = 'OK', danger = false, cancel = 'Cancel', onOpen }) {
  const dlg = S.$('#dialog');
  return new Promise((resolve) => {
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      dlg.close();
      resolve(v);
    };
    const ok = confirm ? S.h('button', { class: ['btn', danger ? 'danger' : 'primary'], type: 'submit', 'data-role': 'confirm' }, confirm) : null;
    const form = S.h('form', { method: 'dialog', class: 'dialog-form' },
      S.h('h3', null, title),
      S.h('div', { class: 'dialog-body' }, body),
      S.h('div', { class: 'dialog-actions' },
        S.h('button', { class: 'btn', type: 'button', 'data-role': 'cancel', onclick: () => finish(false) }, confirm ? cancel : 'Close'),
        ok));
    form.addEventListener('submit', (e) => { e.preventDefault(); finish(!!confirm); });
    dlg.onclose = () => finish(false);
    S.replace(dlg, form);
    dlg.showModal();
    if (onOpen) onOpen(); else if (ok) ok.focus();
  });
};

let toastTimer = 0;
S.toast = (text, tone = 'ok') => {
  const el = S.$('#toast');
  el.className = 'toast tone-' + tone;
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 5000);
};
