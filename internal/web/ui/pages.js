// Sluice dashboard — pages: overview, topic, queue, group and the list of
// dead-letter queues. Each page is a function(page, ...params) that builds
// its layout once into page.root and then refreshes only its data regions on
// timers (page.every), so inputs and scroll position survive a refresh.
// Figures refresh every 3 s (one request per visible list or object), the
// sparkline history every 10 s (the broker samples every 10 s), only while
// the tab is visible. Nothing here reads messages except the message
// browser (dlq.js), which pages through the admin API's cursor.
'use strict';

(() => {
  const { h, replace } = S;
  S.pages = S.pages || {};

  const FAST = 3000, SLOW = 10000, MAX_ROWS = 100;

  const depthOf = (q) => (q ? (q.visible || 0) + (q.in_flight || 0) + (q.delayed || 0) : 0);
  S.depthOf = depthOf;

  const nameCell = (href, name, ...extra) => h('div', { class: 'name' }, h('a', { href }, name), ...extra);

  const stateTone = (st) => ({ Stable: 'ok', Empty: 'muted', Dead: 'danger' })[st] || 'warn';

  // A list section with a name filter and a row cap: a broker with thousands
  // of queues still renders quickly and fetches history for shown rows only.
  function listSection(title, empty) {
    const box = h('div', { class: 'table-wrap' });
    const note = h('p', { class: 'muted small', hidden: true });
    const count = h('span', { class: 'count' });
    const sec = h('section', { class: 'section' },
      h('div', { class: 'section-head' }, h('h2', null, title, count)), box, note);
    return {
      sec, sort: {},
      render(cols, rows, filter, opts) {
        const f = filter.trim().toLowerCase();
        const shown = f ? rows.filter((r) => opts.key(r).toLowerCase().includes(f)) : rows;
        count.textContent = rows.length ? String(rows.length) : '';
        replace(box, S.table(cols, shown.slice(0, MAX_ROWS), { state: this.sort, onSort: opts.onSort,
          empty: f ? 'Nothing matches the filter.' : empty, rowAttrs: opts.rowAttrs }));
        note.hidden = shown.length <= MAX_ROWS;
        note.textContent = `Showing ${MAX_ROWS} of ${S.num(shown.length)} — narrow the filter to see the others.`;
        this.shown = shown.slice(0, MAX_ROWS);
      },
      shown: [],
    };
  }

  // ------------------------------------------------------------ overview

  S.pages.overview = function overview(page) {
    const hist = new S.History(page);
    const stats = h('div', { class: 'stats' });
    const filter = h('input', { type: 'search', class: 'input', placeholder: 'Filter by name', 'aria-label': 'Filter by name' });
    const queues = listSection('Queues', 'No queues yet. Create one with any SQS client or `sluice queue create`.');
    const topics = listSection('Topics', 'No topics yet. Produce to one with any Kafka client.');
    const groups = listSection('Consumer groups', 'No consumer groups yet.');
    page.root.append(
      h('div', { class: 'page-head' }, h('h1', null, 'Overview'), h('div', { class: 'tools' }, filter)),
      stats, queues.sec, topics.sec, groups.sec);
    let d = null;

    const spark = (series, fmt) => S.sparkline(hist.get(series), fmt);
    const render = () => {
      if (!d) return;
      const { ov, tl, ql, gl } = d;
      const t = ov.totals || {};
      const firing = (ov.alerts || []).length;
      const byName = new Map(ql.map((q) => [q.name, q]));
      const dlqs = ql.filter((q) => q.is_dlq);
      replace(stats,
        S.stat('Queues', S.num(ov.queues), { sub: S.num(t.queue_visible) + ' visible' }),
        S.stat('In flight', S.num(t.queue_in_flight), { sub: 'leased by consumers' }),
        S.stat('Dead letters', S.num(t.dlq_depth), { tone: t.dlq_depth > 0 ? 'danger' : null, href: '#/dlq',
          sub: S.plural(dlqs.length, 'dead-letter queue') }),
        S.stat('Topics', S.num(ov.topics), { sub: S.plural(ov.partitions, 'partition') }),
        S.stat('Produce', S.rate(t.produce_rate) + '/s', { sub: 'fetch ' + S.rate(t.fetch_rate) + '/s' }),
        S.stat('Groups', S.num(ov.groups), { sub: 'lag ' + S.num(t.group_lag) }),
        S.stat('Alerts', S.num(firing), { tone: firing ? 'danger' : 'ok', sub: firing ? 'firing' : 'none firing' }));

      const f = filter.value;
      queues.render([
        { label: 'Queue', sort: (q) => q.name, cell: (q) => nameCell(q.is_dlq ? S.link.dlq(q.name) : S.link.queue(q.name), q.name,
          q.fifo ? S.badge('FIFO') : null, q.is_dlq ? S.badge('DLQ', 'danger') : null,
          q.is_dlq && q.dlq_sources && q.dlq_sources.length ? h('span', { class: 'sub' }, 'for ' + q.dlq_sources.join(', ')) : null) },
        { label: 'Visible', num: true, sort: (q) => q.visible, cell: (q) => S.num(q.visible) },
        { label: 'In flight', num: true, sort: (q) => q.in_flight, cell: (q) => S.num(q.in_flight) },
        { label: 'Delayed', num: true, sort: (q) => q.delayed, cell: (q) => S.num(q.delayed) },
        { label: 'Oldest', num: true, sort: (q) => q.oldest_age_s, cell: (q) => (q.oldest_age_s ? S.dur(q.oldest_age_s) : S.DASH) },
        { label: 'Sent/s', num: true, sort: (q) => q.send_rate, cell: (q) => S.rate(q.send_rate) },
        { label: 'Recv/s', num: true, sort: (q) => q.receive_rate, cell: (q) => S.rate(q.receive_rate) },
        { label: 'Depth, 1h', cls: 'spark-cell', cell: (q) => spark('queue:' + q.name + ':visible') },
        { label: 'Dead letters', num: true, sort: (q) => (q.dlq ? depthOf(byName.get(q.dlq)) : -1), cell: (q) => {
          if (!q.dlq) return h('span', { class: 'muted' }, q.is_dlq ? '' : 'no DLQ');
          const n = depthOf(byName.get(q.dlq));
          return h('a', { href: S.link.dlq(q.dlq), class: ['dlq-link', n > 0 && 'hot'], 'data-test': 'dlq-link',
            title: 'Inspect ' + q.dlq }, S.num(n));
        } },
      ], ql, f, { key: (q) => q.name, onSort: render, rowAttrs: (q) => ({ 'data-queue': q.name }) });

      topics.render([
        { label: 'Topic', sort: (x) => x.name, cell: (x) => nameCell(S.link.topic(x.name), x.name) },
        { label: 'Partitions', num: true, sort: (x) => x.partitions, cell: (x) => S.num(x.partitions) },
        { label: 'Records', num: true, sort: (x) => x.records, cell: (x) => S.num(x.records) },
        { label: 'Size', num: true, sort: (x) => x.bytes, cell: (x) => S.bytes(x.bytes) },
        { label: 'Produce/s', num: true, sort: (x) => x.produce_rate, cell: (x) => S.rate(x.produce_rate) },
        { label: 'Fetch/s', num: true, sort: (x) => x.fetch_rate, cell: (x) => S.rate(x.fetch_rate) },
        { label: 'Produce, 1h', cls: 'spark-cell', cell: (x) => spark('topic:' + x.name + ':produce_rate', S.rate) },
      ], tl, f, { key: (x) => x.name, onSort: render, rowAttrs: (x) => ({ 'data-topic': x.name }) });

      groups.render([
        { label: 'Group', sort: (g) => g.group, cell: (g) => nameCell(S.link.group(g.group), g.group) },
        { label: 'State', sort: (g) => g.state, cell: (g) => S.badge(g.state, stateTone(g.state)) },
        { label: 'Members', num: true, sort: (g) => g.members, cell: (g) => S.num(g.members) },
        { label: 'Protocol', cell: (g) => g.protocol || h('span', { class: 'muted' }, g.protocol_type || S.DASH) },
        { label: 'Topics', cell: (g) => (g.topics || []).map((t, i) => [i ? ', ' : '', h('a', { href: S.link.topic(t) }, t)]) },
        { label: 'Lag', num: true, sort: (g) => g.lag, cell: (g) => h('span', { class: g.lag > 0 ? 'warn-text' : null }, S.num(g.lag)) },
        { label: 'Lag, 1h', cls: 'spark-cell', cell: (g) => spark('group:' + g.group + ':lag') },
      ], gl, f, { key: (g) => g.group, onSort: render, rowAttrs: (g) => ({ 'data-group': g.group }) });
    };
    filter.addEventListener('input', render);

    let loadHist = null;
    page.every(FAST, async () => {
      const [ov, tl, ql, gl] = await Promise.all([page.api('/api/overview'), page.api('/api/topics'),
        page.api('/api/queues'), page.api('/api/groups')]);
      const firstTime = !d;
      d = { ov, tl: tl || [], ql: ql || [], gl: gl || [] };
      if (S.showFrame) S.showFrame(ov);
      render();
      if (firstTime && loadHist) loadHist(); // sparklines as soon as the rows exist
    });
    loadHist = page.every(SLOW, async () => {
      if (!d) return;
      await hist.load([
        ...queues.shown.map((q) => 'queue:' + q.name + ':visible'),
        ...topics.shown.map((x) => 'topic:' + x.name + ':produce_rate'),
        ...groups.shown.map((g) => 'group:' + g.group + ':lag')]);
      render();
    });
  };
  S.DASH = '—';

  // ------------------------------------------------------------ topic

  S.pages.topic = function topic(page, name) {
    const hist = new S.History(page);
    const title = h('h1', null, name);
    const stats = h('div', { class: 'stats' });
    const charts = h('div', { class: 'charts' });
    const parts = h('div', { class: 'table-wrap' });
    const groupsBox = h('div', { class: 'table-wrap' });
    const configs = h('div', { class: 'table-wrap' });
    const err = h('div');
    const sort = {};
    page.root.append(S.crumbs(['Overview', '#/'], 'Topics', name), h('div', { class: 'page-head' }, title), err, stats, charts,
      S.section('Partitions', parts), S.section('Consumer groups', groupsBox), S.section('Configuration', configs));
    let t = null;
    const render = () => {
      replace(stats,
        S.stat('Partitions', S.num(t.partitions.length)),
        S.stat('Records', S.num(t.records), { sub: 'offsets ' + S.num(t.start_offset_sum) + ' – ' + S.num(t.end_offset_sum) }),
        S.stat('Size', S.bytes(t.bytes)),
        S.stat('Produce', S.rate(t.produce_rate) + '/s', { sub: S.num(t.produced_records_total) + ' since start' }),
        S.stat('Fetch', S.rate(t.fetch_rate) + '/s', { sub: S.num(t.fetched_records_total) + ' since start' }));
      replace(parts, S.table([
        { label: 'Partition', num: true, sort: (p) => p.partition, cell: (p) => S.num(p.partition) },
        { label: 'Start offset', num: true, sort: (p) => p.start, cell: (p) => S.num(p.start) },
        { label: 'End offset', num: true, sort: (p) => p.end, cell: (p) => S.num(p.end) },
        { label: 'Records', num: true, sort: (p) => p.end - p.start, cell: (p) => S.num(p.end - p.start) },
        { label: 'Size', num: true, sort: (p) => p.bytes, cell: (p) => S.bytes(p.bytes) },
      ], t.partitions, { state: sort, onSort: render }));
      replace(groupsBox, S.table([
        { label: 'Group', cell: (g) => nameCell(S.link.group(g.group), g.group) },
        { label: 'Lag', num: true, cell: (g) => S.num(g.lag) },
      ], t.groups || [], { empty: 'No group has committed offsets on this topic.' }));
      replace(configs, S.table([
        { label: 'Name', cell: (c) => h('code', null, c.name) },
        { label: 'Value', cell: (c) => (c.sensitive ? h('span', { class: 'muted' }, 'hidden') : h('code', null, c.value === null ? 'null' : c.value)) },
        { label: 'Source', cell: (c) => (c.source === 'topic' ? S.badge('topic', 'accent') : h('span', { class: 'muted' }, c.source)) },
      ], (t.configs || []).slice().sort((a, b) => (b.source === 'topic') - (a.source === 'topic') || (a.name < b.name ? -1 : 1)), { cls: 'compact' }));
    };
    const renderCharts = () => S.charts(charts, [
      ['Produce rate, records/s', hist.get(`topic:${name}:produce_rate`), S.rate],
      ['Fetch rate, records/s', hist.get(`topic:${name}:fetch_rate`), S.rate],
      ['Retained records', hist.get(`topic:${name}:records`)]]);
    page.every(FAST, async () => {
      try { t = await page.api('/api/topics/' + S.enc(name)); } catch (e) {
        if (e.status === 404) { replace(err, S.errorBox(e)); return; }
        throw e;
      }
      replace(err);
      render();
    });
    page.every(SLOW, async () => {
      await hist.load([`topic:${name}:produce_rate`, `topic:${name}:fetch_rate`, `topic:${name}:records`]);
      renderCharts();
    });
  };

  // ------------------------------------------------------------ queue

  // attrHint reads an SQS attribute in seconds or epoch seconds for people.
  const SECONDS_ATTRS = new Set(['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds',
    'ReceiveMessageWaitTimeSeconds', 'KmsDataKeyReusePeriodSeconds']);
  function attrHint(k, v) {
    const n = Number(v);
    if (v === '' || !Number.isFinite(n)) return null;
    if (SECONDS_ATTRS.has(k) && n >= 60) return h('span', { class: 'muted hint' }, S.dur(n));
    if (k.endsWith('Timestamp') && n > 1e9) return h('span', { class: 'muted hint' }, S.time(n * 1000));
    return null;
  }

  S.pages.queue = function queue(page, name) {
    const hist = new S.History(page);
    const badges = h('span', { class: 'badges' });
    const stats = h('div', { class: 'stats' });
    const links = h('div', { class: 'links' });
    const charts = h('div', { class: 'charts' });
    const attrs = h('div', { class: 'table-wrap' });
    const err = h('div');
    const purge = h('button', { class: 'btn danger-outline', type: 'button', 'data-test': 'purge' }, 'Purge…');
    const browser = S.messageBrowser(page, name, { dlq: false });
    page.root.append(S.crumbs(['Overview', '#/'], 'Queues', name),
      h('div', { class: 'page-head' }, h('h1', null, name, badges), h('div', { class: 'tools' }, purge)),
      err, stats, links, charts, browser.el, S.section('Attributes and tags', attrs));
    let q = null, dlqInfo = null;
    const render = () => {
      replace(badges, q.fifo ? S.badge('FIFO') : null, q.is_dlq ? S.badge('DLQ', 'danger') : null);
      replace(stats,
        S.stat('Visible', S.num(q.visible), { title: 'ApproximateNumberOfMessages' }),
        S.stat('In flight', S.num(q.in_flight), { title: 'ApproximateNumberOfMessagesNotVisible' }),
        S.stat('Delayed', S.num(q.delayed)),
        S.stat('Oldest', q.oldest_age_s ? S.dur(q.oldest_age_s) : S.DASH, { title: 'age of the oldest message' }),
        S.stat('Sent', S.num(q.sent_total), { sub: S.rate(q.send_rate) + '/s' }),
        S.stat('Received', S.num(q.received_total), { sub: S.rate(q.receive_rate) + '/s' }),
        S.stat('Deleted', S.num(q.deleted_total), { sub: S.rate(q.delete_rate) + '/s' }),
        S.stat('Dead-lettered', S.num(q.dead_lettered_total), { tone: q.dead_lettered_total > 0 ? 'warn' : null, sub: 'since start' }));
      const parts = [];
      if (q.dlq) {
        const n = depthOf(dlqInfo);
        parts.push(h('div', { class: ['callout', n > 0 && 'hot'] },
          h('span', null, 'Dead-letter queue ', h('a', { href: S.link.queue(q.dlq) }, q.dlq),
            q.max_receive_count ? ' after ' + S.plural(q.max_receive_count, 'receive') : '', ': ',
            h('strong', { class: 'num' }, S.plural(n, 'message'))),
          h('a', { class: 'btn small', href: S.link.dlq(q.dlq), 'data-test': 'open-dlq' }, 'Inspect dead letters')));
      }
      if (q.is_dlq) {
        parts.push(h('div', { class: 'callout' },
          h('span', null, 'Dead-letter queue for ', (q.dlq_sources || []).map((s, i) => [i ? ', ' : '', h('a', { href: S.link.queue(s) }, s)])),
          h('a', { class: 'btn small', href: S.link.dlq(name), 'data-test': 'open-dlq' }, 'Inspect and redrive')));
      }
      replace(links, parts);
      const rows = Object.entries(q.attributes || {}).map(([k, v]) => ({ k, v, tag: false }))
        .concat(Object.entries(q.tags || {}).map(([k, v]) => ({ k, v, tag: true })));
      replace(attrs, S.table([
        { label: 'Name', cell: (r) => [h('code', null, r.k), r.tag ? S.badge('tag') : null] },
        { label: 'Value', cls: 'wrap', cell: (r) => [h('code', null, String(r.v)), r.tag ? null : attrHint(r.k, r.v)] },
      ], rows, { cls: 'compact' }));
    };
    const series = () => [`queue:${name}:visible`, `queue:${name}:in_flight`, `queue:${name}:send_rate`,
      `queue:${name}:receive_rate`].concat(q && q.dlq ? [`queue:${name}:dlq_depth`] : []);
    const renderCharts = () => S.charts(charts, [
      ['Visible', hist.get(`queue:${name}:visible`)],
      ['In flight', hist.get(`queue:${name}:in_flight`)],
      ['Sent, messages/s', hist.get(`queue:${name}:send_rate`), S.rate],
      ['Received, messages/s', hist.get(`queue:${name}:receive_rate`), S.rate],
      q && q.dlq ? ['Dead letters', hist.get(`queue:${name}:dlq_depth`)] : null]);
    page.every(FAST, async () => {
      let next;
      try { next = await page.api('/api/queues/' + S.enc(name)); } catch (e) {
        if (e.status === 404) { replace(err, S.errorBox(e)); return; }
        throw e;
      }
      const firstTime = !q;
      q = next;
      dlqInfo = q.dlq ? await page.api('/api/queues/' + S.enc(q.dlq)).catch(() => null) : null;
      replace(err);
      render();
      if (firstTime) loadHist(); // the DLQ chart needs to know the queue has a DLQ
    });
    const loadHist = page.every(SLOW, async () => { await hist.load(series()); renderCharts(); });
    purge.addEventListener('click', async () => {
      const n = depthOf(q);
      const ok = await S.dialog({
        title: 'Purge ' + name + '?',
        body: h('p', null, 'This deletes every message in ', h('strong', null, name), ' (', S.plural(n, 'message'),
          ' now). It cannot be undone.'),
        confirm: 'Purge queue', danger: true,
      });
      if (!ok) return;
      try {
        await page.api('/api/queues/' + S.enc(name) + '/purge', { method: 'POST', body: {} });
        S.toast('Purged ' + name);
        browser.reload(true);
      } catch (e) { S.toast('Purge failed: ' + e.message, 'danger'); }
    });
  };

  // ------------------------------------------------------------ group

  S.pages.group = function group(page, name) {
    const hist = new S.History(page);
    const badges = h('span', { class: 'badges' });
    const stats = h('div', { class: 'stats' });
    const chart = h('div', { class: 'charts one' });
    const members = h('div', { class: 'table-wrap' });
    const offsets = h('div', { class: 'table-wrap' });
    const err = h('div');
    const sort = {};
    page.root.append(S.crumbs(['Overview', '#/'], 'Groups', name), h('div', { class: 'page-head' }, h('h1', null, name, badges)),
      err, stats, chart, S.section('Members', members), S.section('Offsets by partition', offsets));
    let g = null;
    const render = () => {
      replace(badges, S.badge(g.state, stateTone(g.state)));
      replace(stats,
        S.stat('State', g.state, { text: true }),
        S.stat('Members', S.num((g.members || []).length)),
        S.stat('Protocol', g.protocol || S.DASH, { sub: g.protocol_type || '', text: true }),
        S.stat('Generation', S.num(g.generation)),
        S.stat('Total lag', S.num(g.lag), { tone: g.lag > 0 ? 'warn' : null }));
      replace(members, S.table([
        { label: 'Member', cls: 'mono', cell: (m) => [m.id, m.id === g.leader ? S.badge('leader', 'accent') : null] },
        { label: 'Client ID', cell: (m) => m.client_id },
        { label: 'Host', cell: (m) => m.host },
        { label: 'Instance ID', cell: (m) => m.instance_id || h('span', { class: 'muted' }, S.DASH) },
        { label: 'Assignment', cls: 'wrap', cell: (m) => ((m.assignments || []).length
          ? m.assignments.map((a) => h('div', null, h('a', { href: S.link.topic(a.topic) }, a.topic), ' ',
            h('span', { class: 'muted' }, '[' + a.partitions.join(', ') + ']')))
          : h('span', { class: 'muted' }, 'none')) },
      ], g.members || [], { empty: 'No members: nobody is consuming in this group right now.' }));
      const maxLag = Math.max(1, ...(g.offsets || []).map((o) => o.lag));
      replace(offsets, S.table([
        { label: 'Topic', sort: (o) => o.topic + '\u0000' + String(o.partition).padStart(8, '0'), cell: (o) => h('a', { href: S.link.topic(o.topic) }, o.topic) },
        { label: 'Partition', num: true, sort: (o) => o.partition, cell: (o) => S.num(o.partition) },
        { label: 'Committed', num: true, sort: (o) => o.committed, cell: (o) => S.num(o.committed) },
        { label: 'End', num: true, sort: (o) => o.end, cell: (o) => (o.end < 0 ? '?' : S.num(o.end)) },
        { label: 'Lag', num: true, sort: (o) => o.lag, cell: (o) => (o.lag < 0 ? '?' : S.num(o.lag)) },
        { label: '', cls: 'bar-cell', cell: (o) => { const bar = h('span', { class: 'bar' }); bar.style.width = Math.max(0, (o.lag / maxLag) * 100) + '%'; return h('span', { class: 'bar-track' }, bar); } },
      ], g.offsets || [], { state: sort, onSort: render, empty: 'No committed offsets.' }));
    };
    page.every(FAST, async () => {
      try { g = await page.api('/api/groups/' + S.enc(name)); } catch (e) {
        if (e.status === 404) { replace(err, S.errorBox(e)); return; }
        throw e;
      }
      replace(err);
      render();
    });
    page.every(SLOW, async () => {
      await hist.load([`group:${name}:lag`]);
      S.charts(chart, [['Total lag', hist.get(`group:${name}:lag`)]]);
    });
  };

  // ------------------------------------------------------------ dead-letter queues

  S.pages.dlqs = function dlqs(page) {
    const hist = new S.History(page);
    const box = h('div', { class: 'table-wrap' });
    const sort = {};
    page.root.append(h('div', { class: 'page-head' }, h('h1', null, 'Dead-letter queues')),
      h('p', { class: 'muted lead' }, 'Queues that some queue’s RedrivePolicy sends failed messages to. Open one to see why its messages failed and to send them back.'),
      box);
    let list = [], loaded = false;
    const render = () => replace(box, S.table([
      { label: 'Dead-letter queue', sort: (q) => q.name, cell: (q) => nameCell(S.link.dlq(q.name), q.name) },
      { label: 'Sources', cell: (q) => (q.dlq_sources || []).map((s, i) => [i ? ', ' : '', h('a', { href: S.link.queue(s) }, s)]) },
      { label: 'Messages', num: true, sort: depthOf, cell: (q) => h('span', { class: depthOf(q) > 0 ? 'danger-text' : null }, S.num(depthOf(q))) },
      { label: 'Oldest', num: true, sort: (q) => q.oldest_age_s, cell: (q) => (q.oldest_age_s ? S.dur(q.oldest_age_s) : S.DASH) },
      { label: 'Depth, 1h', cls: 'spark-cell', cell: (q) => S.sparkline(hist.get('queue:' + q.name + ':visible')) },
      { label: '', cls: 'actions', cell: (q) => h('a', { class: 'btn small', href: S.link.dlq(q.name) }, 'Inspect') },
    ], list, { state: sort, onSort: render, empty: 'No queue has a RedrivePolicy yet, so there are no dead-letter queues.' }));
    page.every(FAST, async () => {
      const firstTime = !loaded;
      loaded = true;
      list = ((await page.api('/api/queues')) || []).filter((q) => q.is_dlq);
      render();
      if (firstTime) loadHist();
    });
    const loadHist = page.every(SLOW, async () => {
      await hist.load(list.slice(0, MAX_ROWS).map((q) => 'queue:' + q.name + ':visible'));
      render();
    });
  };
})();
