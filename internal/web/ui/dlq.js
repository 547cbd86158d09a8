// Sluice dashboard — the message browser (a queue's messages, paged through
// the admin API's peek cursor) and the dead-letter queue page built on it:
// diagnostics per message, filters (body regexp, attribute k=v, error text)
// and redrive of all matching or of selected messages, always with a dry run
// first and a confirmation that shows the count.
//
// Cost: a page of messages is one peek request (a few when filters skip
// most messages: at most MAX_SCANS requests, each examining at most the API's
// scan_limit). The list does not poll: it changes when the user pages,
// filters, refreshes or redrives, so rows never jump under the pointer. The
// counters above it poll like every other page.
'use strict';

(() => {
  const { h, replace } = S;
  const MAX_SCANS = 5;
  const DIAG = 'sluice-diagnostics';

  const shortId = (id) => (id && id.length > 13 ? id.slice(0, 8) + '…' + id.slice(-4) : id || '');

  // attrValue turns the API's {type, value} attribute into display text.
  const attrValue = (a) => (a && typeof a === 'object' ? (a.type === 'Binary' ? '(binary) ' + a.value : a.value) : String(a));

  // prettyBody re-indents a JSON body; anything else is shown as it is.
  function prettyBody(body) {
    const t = (body || '').trim();
    if ((t.startsWith('{') || t.startsWith('[')) && t.length < 200000) {
      try { return JSON.stringify(JSON.parse(t), null, 2); } catch { /* not JSON after all */ }
    }
    return body || '';
  }

  function detail(m, colspan) {
    const d = m.diagnostics;
    const kv = (k, v) => [h('dt', null, k), h('dd', null, v === null || v === undefined || v === '' ? S.DASH : v)];
    const attrs = Object.entries(m.attributes || {});
    return h('tr', { class: 'detail' }, h('td', { colspan },
      h('div', { class: 'detail-grid' },
        h('div', { class: 'detail-body' },
          h('div', { class: 'detail-title' }, 'Body',
            h('span', { class: 'muted' }, ' · ' + S.bytes(m.body_bytes) + (m.truncated ? ' (first 4 KiB shown)' : ''))),
          h('pre', { class: 'body' }, prettyBody(m.body))),
        h('div', { class: 'detail-side' },
          d ? [h('div', { class: 'detail-title' }, 'Diagnostics'),
            h('dl', { class: 'kv' },
              kv('Last error', d.last_error ? h('span', { class: 'err-text' }, d.last_error) : null),
              kv('Attempts', S.num(d.attempts)),
              kv('First attempt', S.time(d.first_attempt)),
              kv('Last attempt', S.time(d.last_attempt)),
              kv('Worker', d.worker_id),
              kv('Worker version', d.worker_version),
              kv('Source', d.source),
              d.partition !== null && d.partition !== undefined ? kv('Partition / offset', d.partition + ' / ' + d.offset) : null)]
            : m.diagnostics_error ? h('p', { class: 'notice warn' }, 'sluice-diagnostics does not parse: ' + m.diagnostics_error) : null,
          h('div', { class: 'detail-title' }, 'Message'),
          h('dl', { class: 'kv' },
            kv('ID', h('code', null, m.id)),
            kv('Sent', S.time(m.sent_ms)),
            kv('First received', S.time(m.first_receive_ms)),
            kv('Receive count', S.num(m.receive_count)),
            m.group_id ? kv('Message group', m.group_id) : null,
            m.source_queue ? kv('Dead-lettered from', h('a', { href: S.link.queue(m.source_queue) }, m.source_queue)) : null),
          attrs.length ? [h('div', { class: 'detail-title' }, 'Attributes'),
            h('dl', { class: 'kv' }, attrs.filter(([k]) => k !== DIAG || !d).map(([k, v]) => kv(k, h('code', { class: 'wrap' }, attrValue(v)))))] : null))));
  }

  // messageBrowser(page, queue, {dlq, sources, onChange}) returns {el,
  // reload(first)}. With dlq it shows diagnostics columns, the error filter
  // and the redrive actions; onChange runs after a redrive.
  S.messageBrowser = function messageBrowser(page, queue, opts = {}) {
    const dlq = !!opts.dlq;
    const st = { limit: 50, cursor: '', stack: [], next: null, rows: [], scanned: 0, loading: false,
      filters: { body: '', attr: '', error: '' }, selected: new Set(), expanded: new Set(), at: 0 };

    const fBody = h('input', { class: 'input', type: 'search', placeholder: 'e.g. "order_id":\\s*17', 'data-test': 'filter-body', spellcheck: 'false' });
    const fAttr = h('input', { class: 'input', type: 'search', placeholder: 'key=value', 'data-test': 'filter-attr', spellcheck: 'false' });
    const fError = h('input', { class: 'input', type: 'search', placeholder: 'e.g. timeout|refused', 'data-test': 'filter-error', spellcheck: 'false' });
    const apply = h('button', { class: 'btn primary', type: 'submit', 'data-test': 'apply-filters' }, 'Apply');
    const clear = h('button', { class: 'btn', type: 'button', 'data-test': 'clear-filters' }, 'Clear');
    const filterErr = h('div', { class: 'notice err', hidden: true });
    // The errors among the listed messages, most frequent first; a click
    // filters by one. Counted over this page only: no scan beyond it.
    const errorChips = h('div', { class: 'error-chips', hidden: true });
    const result = h('div', { class: 'notice ok', hidden: true, 'data-test': 'redrive-result' });
    const form = h('form', { class: 'filters' },
      h('label', { class: 'field' }, h('span', null, 'Body matches'), fBody),
      h('label', { class: 'field' }, h('span', null, 'Attribute'), fAttr),
      dlq ? h('label', { class: 'field' }, h('span', null, 'Last error matches'), fError) : null,
      h('div', { class: 'field buttons' }, apply, clear));

    const dest = h('select', { class: 'input', 'data-test': 'redrive-to', 'aria-label': 'Redrive destination' },
      h('option', { value: '' }, 'each message’s source'));
    const selBtn = h('button', { class: 'btn', type: 'button', disabled: true, 'data-test': 'redrive-selected' }, 'Redrive selected');
    const allBtn = h('button', { class: 'btn primary', type: 'button', 'data-test': 'redrive-all' }, 'Redrive all');
    const actions = dlq ? h('div', { class: 'redrive-bar' },
      h('label', { class: 'inline' }, h('span', null, 'Send to'), dest), selBtn, allBtn) : null;

    const pageSize = h('select', { class: 'input', 'aria-label': 'Messages per page' },
      [25, 50, 100, 200].map((n) => h('option', { value: n, selected: n === st.limit }, n + ' per page')));
    const refresh = h('button', { class: 'btn', type: 'button', 'data-test': 'refresh-messages', title: 'Reload this page of messages' }, 'Refresh');
    const tableBox = h('div', { class: 'table-wrap' });
    const info = h('span', { class: 'muted small', 'data-test': 'page-info' });
    // Two pagers, above and below the list, so a long page needs no scroll
    // to move on; both act on the same state.
    const first = h('button', { class: 'btn', type: 'button' }, '« First');
    const prev = h('button', { class: 'btn', type: 'button' }, '‹ Previous');
    const next = h('button', { class: 'btn', type: 'button' }, 'Next ›');
    const pager = h('div', { class: 'pager' }, info, h('span', { class: 'spacer' }), first, prev, next);
    const topInfo = h('span', { class: 'muted small' });
    const topPrev = h('button', { class: 'btn small', type: 'button', title: 'Previous page', 'aria-label': 'Previous page' }, '‹');
    const topNext = h('button', { class: 'btn small', type: 'button', title: 'Next page', 'aria-label': 'Next page', 'data-test': 'next-page' }, '›');
    const topPager = h('div', { class: 'pager top' }, topInfo, topPrev, topNext);

    const el = h('section', { class: 'section messages' },
      h('div', { class: 'section-head' }, h('h2', null, dlq ? 'Dead letters' : 'Messages'),
        h('span', { class: 'muted small' }, 'peek: browsing does not receive or hide messages'),
        h('div', { class: 'tools' }, pageSize, refresh)),
      form, filterErr, dlq ? errorChips : null, result, h('div', { class: 'list-head' }, actions || h('span'), topPager), tableBox, pager);

    const filtering = () => !!(st.filters.body || st.filters.attr || (dlq && st.filters.error));
    const filterParams = () => {
      const p = new URLSearchParams();
      if (st.filters.body) p.set('match_body', st.filters.body);
      if (st.filters.attr) p.append('match_attr', st.filters.attr);
      if (dlq && st.filters.error) p.set('match_error', st.filters.error);
      return p;
    };

    function columns() {
      const cols = [];
      if (dlq) {
        const all = h('input', { type: 'checkbox', 'aria-label': 'Select all on this page', 'data-test': 'select-page',
          checked: st.rows.length > 0 && st.rows.every((m) => st.selected.has(m.id)),
          indeterminate: st.rows.some((m) => st.selected.has(m.id)) && !st.rows.every((m) => st.selected.has(m.id)) });
        all.addEventListener('click', (e) => {
          e.stopPropagation();
          for (const m of st.rows) { if (all.checked) st.selected.add(m.id); else st.selected.delete(m.id); }
          render();
        });
        cols.push({ label: all, cls: 'check', cell: (m) => {
          const cb = h('input', { type: 'checkbox', 'aria-label': 'Select message ' + m.id, 'data-test': 'select', checked: st.selected.has(m.id) });
          cb.addEventListener('click', (e) => {
            e.stopPropagation();
            if (cb.checked) st.selected.add(m.id); else st.selected.delete(m.id);
            render();
          });
          return cb;
        } });
      }
      cols.push({ label: 'Message', cls: 'msg', cell: (m) => h('div', null,
        h('div', { class: 'mono id', title: m.id }, shortId(m.id)),
        h('div', { class: 'preview' }, S.truncate((m.body || '').replace(/\s+/g, ' '), 90))) });
      if (dlq) {
        cols.push(
          { label: 'Last error', cls: 'error-col', cell: (m) => (m.diagnostics && m.diagnostics.last_error
            ? h('span', { class: 'err-text', title: m.diagnostics.last_error }, S.truncate(m.diagnostics.last_error, 80))
            : h('span', { class: 'muted' }, m.diagnostics_error ? 'unreadable diagnostics' : 'no diagnostics')) },
          { label: 'Attempts', num: true, cell: (m) => S.num(m.diagnostics ? m.diagnostics.attempts : m.receive_count) },
          { label: 'Source', cell: (m) => { const s = m.source_queue || (m.diagnostics && m.diagnostics.source); return s ? h('span', null, s) : h('span', { class: 'muted' }, S.DASH); } },
          { label: 'First attempt', num: true, cell: (m) => (m.diagnostics ? S.when(m.diagnostics.first_attempt) : S.DASH) },
          { label: 'Last attempt', num: true, cell: (m) => (m.diagnostics ? S.when(m.diagnostics.last_attempt) : S.DASH) },
          { label: 'Worker', cls: 'mono small', cell: (m) => (m.diagnostics && m.diagnostics.worker_id) || S.DASH });
      } else {
        cols.push(
          { label: 'Sent', num: true, cell: (m) => S.when(m.sent_ms) },
          { label: 'Receives', num: true, cell: (m) => S.num(m.receive_count) },
          { label: 'Size', num: true, cell: (m) => S.bytes(m.body_bytes) },
          { label: 'Attributes', cell: (m) => Object.keys(m.attributes || {}).map((k) => h('span', { class: 'chip' }, k)) });
      }
      return cols;
    }

    function render() {
      const cols = columns();
      replace(tableBox, S.table(cols, st.rows, {
        cls: 'messages-table',
        empty: st.loading ? 'Loading…' : filtering() ? (st.next ? 'No match in the messages scanned so far — Next scans on.' : 'No message matches.') : 'The queue is empty.',
        rowAttrs: (m) => ({ class: ['row-click', st.expanded.has(m.id) && 'open', st.selected.has(m.id) && 'selected'],
          'data-id': m.id, tabindex: 0, 'aria-expanded': st.expanded.has(m.id) ? 'true' : 'false',
          onclick: () => toggle(m.id), onkeydown: (e) => { if (e.key === 'Enter') toggle(m.id); } }),
        after: (m, n) => (st.expanded.has(m.id) ? detail(m, n) : null),
      }));
      const pageNo = st.stack.length + 1;
      info.textContent = st.loading ? 'Loading…' : `Page ${pageNo} · ${S.plural(st.rows.length, 'message')}` +
        (filtering() ? ` matched · ${S.num(st.scanned)} scanned` : '') + (st.at ? ' · as of ' + S.time(st.at).slice(11) : '');
      topInfo.textContent = st.loading ? '' : `Page ${pageNo}`;
      first.disabled = prev.disabled = topPrev.disabled = st.loading || st.stack.length === 0;
      next.disabled = topNext.disabled = st.loading || !st.next;
      if (dlq) {
        renderChips();
        const n = st.selected.size;
        selBtn.disabled = n === 0;
        selBtn.textContent = n ? `Redrive selected (${S.num(n)})` : 'Redrive selected';
        allBtn.textContent = filtering() ? 'Redrive all matching…' : 'Redrive all…';
      }
    }

    const reEscape = (s) => s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
    function renderChips() {
      const counts = new Map();
      for (const m of st.rows) {
        const e = m.diagnostics && m.diagnostics.last_error;
        if (e) counts.set(e, (counts.get(e) || 0) + 1);
      }
      const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 6);
      errorChips.hidden = top.length < 2 && !filtering();
      replace(errorChips, h('span', { class: 'muted small' }, st.filters.error ? 'Errors listed:' : 'Errors on this page:'),
        top.map(([e, n]) => h('button', { type: 'button', class: 'err-chip', title: 'Filter by this error', 'data-test': 'error-chip',
          onclick: () => { fError.value = reEscape(e); form.requestSubmit(); } },
        h('span', { class: 'err-text' }, S.truncate(e, 60)), h('span', { class: 'n num' }, S.num(n)))));
    }

    function toggle(id) {
      if (window.getSelection && String(window.getSelection()).length) return; // selecting text, not clicking
      if (st.expanded.has(id)) st.expanded.delete(id); else st.expanded.add(id);
      render();
    }

    async function load(cursor) {
      st.loading = true;
      render();
      const got = [];
      let c = cursor, scanned = 0;
      try {
        for (let i = 0; i < MAX_SCANS; i++) {
          const p = filterParams();
          p.set('limit', String(st.limit - got.length));
          if (c) p.set('cursor', c);
          const r = await page.api('/api/queues/' + S.enc(queue) + '/messages?' + p);
          got.push(...(r.messages || []));
          scanned += r.scanned || 0;
          c = r.next_cursor || null;
          if (!c || got.length >= st.limit) break;
        }
        filterErr.hidden = true;
      } catch (e) {
        st.loading = false;
        if (e.name === 'AbortError') return;
        if (e.status === 400) { filterErr.hidden = false; filterErr.textContent = e.message; render(); return; }
        throw e;
      }
      st.cursor = cursor;
      st.rows = got;
      st.next = c;
      st.scanned = scanned;
      st.loading = false;
      st.at = Date.now();
      render();
    }
    const run = (p) => p.then(S.markOk, (e) => { if (e.name !== 'AbortError') { S.markError(e); console.error(e); } });

    function reload(toFirst) {
      if (toFirst) { st.stack = []; return run(load('')); }
      return run(load(st.cursor));
    }

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      st.filters = { body: fBody.value.trim(), attr: fAttr.value.trim(), error: fError.value.trim() };
      st.selected.clear();
      reload(true);
    });
    clear.addEventListener('click', () => {
      fBody.value = fAttr.value = fError.value = '';
      st.filters = { body: '', attr: '', error: '' };
      st.selected.clear();
      filterErr.hidden = true;
      reload(true);
    });
    pageSize.addEventListener('change', () => { st.limit = Number(pageSize.value); reload(true); });
    refresh.addEventListener('click', () => reload(false));
    first.addEventListener('click', () => reload(true));
    const goPrev = () => { if (!st.stack.length) return; run(load(st.stack.pop())); };
    const goNext = () => { if (!st.next) return; st.stack.push(st.cursor); run(load(st.next)); };
    prev.addEventListener('click', goPrev);
    topPrev.addEventListener('click', goPrev);
    next.addEventListener('click', goNext);
    topNext.addEventListener('click', goNext);

    // ---------------------------------------------------------- redrive

    function describeFilters(body) {
      const out = [];
      if (body.ids) out.push(h('li', null, S.plural(body.ids.length, 'selected message')));
      if (body.match_body) out.push(h('li', null, 'body matches ', h('code', null, body.match_body)));
      if (body.match_attr) out.push(h('li', null, 'attribute ', h('code', null, body.match_attr[0])));
      if (body.match_error) out.push(h('li', null, 'last error matches ', h('code', null, body.match_error)));
      return out.length ? h('ul', { class: 'filters-list' }, out) : h('p', null, 'Every visible message in ', h('strong', null, queue), '.');
    }

    async function redrive(selectedOnly) {
      const body = {};
      if (selectedOnly) body.ids = [...st.selected];
      else {
        if (st.filters.body) body.match_body = st.filters.body;
        if (st.filters.attr) body.match_attr = [st.filters.attr];
        if (st.filters.error) body.match_error = st.filters.error;
      }
      if (dest.value) body.to = dest.value;
      const url = '/api/queues/' + S.enc(queue) + '/redrive';
      let dry;
      try {
        dry = await page.api(url, { method: 'POST', body: { ...body, dry_run: true } });
      } catch (e) { if (e.name !== 'AbortError') S.toast('Dry run failed: ' + e.message, 'danger'); return; }
      const sources = (opts.sources && opts.sources()) || [];
      const where = dest.value ? h('strong', null, dest.value)
        : ['each message’s source', sources.length ? [' (', h('strong', null, sources.join(', ')), ')'] : ''];
      if (!dry.matched) {
        await S.dialog({ title: 'Nothing to redrive', confirm: null,
          body: [h('p', null, 'No visible message in ', h('strong', null, queue), ' matches:'), describeFilters(body)] });
        return;
      }
      const willMove = dry.matched - (dry.skipped || 0);
      const ok = await S.dialog({
        title: 'Redrive ' + S.plural(dry.matched, 'message') + '?',
        body: [
          h('p', null, h('strong', { 'data-test': 'dry-run-count', 'data-count': dry.matched }, S.plural(dry.matched, 'message')),
            ' in ', h('strong', null, queue), dry.matched === 1 ? ' matches:' : ' match:'), describeFilters(body),
          h('p', null, 'They will be moved to ', where, '.'),
          dry.skipped ? h('p', { class: 'notice warn' }, S.plural(dry.skipped, 'message') + ' would be left in place (no known source, or in flight).') : null,
          h('p', { class: 'muted small' }, 'Dry run done: nothing has moved yet.'),
        ],
        confirm: 'Redrive ' + S.plural(willMove > 0 ? willMove : dry.matched, 'message'),
      });
      if (!ok) return;
      let res;
      try {
        res = await page.api(url, { method: 'POST', body: { ...body, dry_run: false } });
      } catch (e) { if (e.name !== 'AbortError') S.toast('Redrive failed: ' + e.message, 'danger'); return; }
      const msg = `Moved ${S.plural(res.moved, 'message')}` + (res.skipped ? `; ${S.num(res.skipped)} left in place` : '') + '.';
      replace(result, h('span', null, msg, ' ', h('span', { class: 'muted' }, `Matched ${S.num(res.matched)} at ${S.time(Date.now()).slice(11)}, sent to `, where, '.')),
        h('button', { type: 'button', class: 'link-btn', 'aria-label': 'Dismiss', onclick: () => { result.hidden = true; } }, '×'));
      result.hidden = false;
      st.selected.clear();
      st.expanded.clear();
      await reload(true);
      if (opts.onChange) opts.onChange(res);
    }
    if (dlq) {
      selBtn.addEventListener('click', () => redrive(true));
      allBtn.addEventListener('click', () => redrive(false));
    }

    // setQueues fills the destination list: queues of the same kind (FIFO or
    // standard), other than this one.
    let destNames = null;
    function setQueues(list, self) {
      const keep = dest.value;
      const names = list.filter((q) => q.name !== queue && (!self || q.fifo === self.fifo)).map((q) => q.name);
      // Rebuilding the options closes an open drop-down: only when they change.
      if (names.join('\n') === destNames) return;
      destNames = names.join('\n');
      replace(dest, h('option', { value: '' }, 'each message’s source'), names.map((n) => h('option', { value: n }, n)));
      dest.value = names.includes(keep) ? keep : '';
    }

    render();
    reload(true);
    return { el, reload, setQueues };
  };

  // ------------------------------------------------------------ DLQ page

  S.pages.dlq = function dlqPage(page, name) {
    const stats = h('div', { class: 'stats' });
    const err = h('div');
    // q: this DLQ; sources: its source queues (their counts show the effect
    // of a redrive); known: every queue, for the destination list, which
    // changes rarely and so is fetched every 30 s rather than every 3 s.
    let q = null, sources = [], known = null, knownAt = 0;
    const browser = S.messageBrowser(page, name, {
      dlq: true,
      sources: () => (q && q.dlq_sources) || [],
      onChange: () => { refresh(); if (S.refreshFrame) S.refreshFrame(); },
    });
    page.root.append(S.crumbs(['Overview', '#/'], ['Dead letters', '#/dlq'], name),
      h('div', { class: 'page-head' }, h('h1', null, name, ' ', S.badge('DLQ', 'danger')),
        h('div', { class: 'tools' }, h('a', { class: 'btn', href: S.link.queue(name) }, 'Queue details'))),
      err, stats, browser.el);
    const render = () => {
      const depth = S.depthOf(q);
      replace(stats,
        S.stat('Dead letters', S.num(depth), { tone: depth > 0 ? 'danger' : 'ok', sub: S.num(q.visible) + ' visible' }),
        S.stat('In flight', S.num(q.in_flight), { sub: 'redrive skips these' }),
        S.stat('Oldest', q.oldest_age_s ? S.dur(q.oldest_age_s) : S.DASH),
        S.stat('Arrived', S.num(q.sent_total), { sub: 'since start' }),
        S.stat('Sources', (q.dlq_sources || []).length ? (q.dlq_sources || []).map((s, i) => [i ? ', ' : '', h('a', { href: S.link.queue(s) }, s)]) : S.DASH,
          { sub: sources.map((x) => S.num(x.visible) + ' visible').join(', ') }));
      const dd = stats.querySelector('.stat .stat-value');
      if (dd) dd.setAttribute('data-test', 'dlq-depth');
    };
    const refresh = page.every(3000, async () => {
      try { q = await page.api('/api/queues/' + S.enc(name)); } catch (e) {
        if (e.status === 404) { replace(err, S.errorBox(e)); return; }
        throw e;
      }
      replace(err, q.is_dlq ? null : h('div', { class: 'notice warn' }, 'No queue names ', h('strong', null, name),
        ' as its dead-letter queue; redrive needs a destination for messages without a recorded source.'));
      // A handful of sources at most in practice; more would be a list to page.
      sources = await Promise.all((q.dlq_sources || []).slice(0, 5).map((s) => page.api('/api/queues/' + S.enc(s)).catch(() => ({ visible: null }))));
      if (!known || Date.now() - knownAt > 30000) {
        known = await page.api('/api/queues');
        knownAt = Date.now();
        browser.setQueues(known, q);
      }
      render();
    });
  };
})();
