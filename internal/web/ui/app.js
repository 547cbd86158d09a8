// Sluice dashboard — the router and the parts of the frame that every page
// shares: the alert banner and the footer with the broker's identity.
//
// Routes live in the URL fragment, so the server only ever serves one page:
//   #/                 overview        #/topics/NAME   a topic
//   #/queues/NAME      a queue         #/groups/NAME   a consumer group
//   #/dlq              dead-letter queues
//   #/dlq/NAME         a dead-letter queue: diagnostics, filters, redrive
'use strict';

(() => {
  const { h, replace } = S;

  const routes = [
    [/^\/?$/, 'overview', 'overview'],
    [/^\/topics\/(.+)$/, 'topic', 'overview'],
    [/^\/queues\/(.+)$/, 'queue', 'overview'],
    [/^\/groups\/(.+)$/, 'group', 'overview'],
    [/^\/dlq\/?$/, 'dlqs', 'dlq'],
    [/^\/dlq\/(.+)$/, 'dlq', 'dlq'],
  ];

  let current = null;

  function route() {
    if (current) current.stop();
    const raw = location.hash.replace(/^#/, '') || '/';
    let path = raw;
    try { path = decodeURI(raw); } catch { /* a malformed escape: show it as typed */ }
    const main = S.$('#main');
    main.replaceChildren();
    current = new S.Page(main);
    for (const [re, name, nav] of routes) {
      const m = re.exec(raw);
      if (!m) continue;
      let params;
      try { params = m.slice(1).map(decodeURIComponent); } catch { break; }
      document.querySelectorAll('.nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === nav));
      document.title = (params[0] ? params[0] + ' · ' : '') + 'Sluice';
      main.dataset.page = name;
      S.pages[name](current, ...params);
      window.scrollTo(0, 0);
      return;
    }
    main.dataset.page = 'missing';
    main.append(h('div', { class: 'notice err' }, 'No page at ', h('code', null, path), '. ', h('a', { href: '#/' }, 'Back to the overview')));
  }

  function alertLink(a) {
    if (!a.target) return null;
    return a.kind === 'lag' ? S.link.group(a.target) : S.link.queue(a.target);
  }

  const alertIcon = () => S.svg('svg', { viewBox: '0 0 16 16', width: 16, height: 16, class: 'icon', 'aria-hidden': 'true' },
    S.svg('path', { d: 'M8 1.5 15 14H1z', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5, 'stroke-linejoin': 'round' }),
    S.svg('path', { d: 'M8 6v3.5M8 11.5v.5', stroke: 'currentColor', 'stroke-width': 1.6, 'stroke-linecap': 'round' }));

  // The banner lists firing alerts on every page; the footer says which
  // broker this is. Both come from /api/overview, every 5 s — or from the
  // overview page's own fetch of it (S.showFrame), which then saves this
  // one.
  function frame() {
    const banner = S.$('#alerts');
    const footer = S.$('#footer');
    let shownAt = 0;
    S.showFrame = (ov) => {
      shownAt = Date.now();
      const firing = (ov.alerts || []).filter((a) => a.state === 'firing');
      banner.hidden = firing.length === 0;
      replace(banner, firing.map((a) => h('div', { class: 'alert', 'data-rule': a.rule },
        alertIcon(),
        h('strong', null, a.rule), h('span', null, a.message || `${a.kind} ${a.value} over ${a.threshold}`),
        h('span', { class: 'muted small' }, 'since ', S.when(a.since_ms)),
        alertLink(a) ? h('a', { href: alertLink(a) }, 'Open') : null)));
      const b = ov.broker || {};
      const addrs = Object.entries(b.addrs || {}).filter(([, v]) => v).map(([k, v]) => k + ' ' + v).join(' · ');
      replace(footer,
        h('span', null, 'Sluice ', b.version || ''),
        h('span', null, 'up ', S.dur(b.uptime_s)),
        b.cluster_id ? h('span', { title: 'cluster id' }, h('code', null, b.cluster_id)) : null,
        addrs ? h('span', null, addrs) : null,
        b.data_dir ? h('span', { title: 'data directory' }, b.data_dir) : null);
    };
    const tick = async () => {
      if (document.visibilityState !== 'visible' || Date.now() - shownAt < 4000) return;
      let ov;
      try { ov = await S.api('/api/overview'); } catch (e) { S.markError(e); return; }
      S.markOk();
      S.showFrame(ov);
    };
    // After an action that changes counts (a redrive), refresh at once.
    S.refreshFrame = () => { shownAt = 0; tick(); };
    tick();
    setInterval(tick, 5000);
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') tick(); });
  }

  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', (e) => {
    // "/" focuses the first filter box on the page, as in many consoles.
    if (e.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      const f = S.$('#main input[type=search]');
      if (f) { e.preventDefault(); f.focus(); }
    }
  });
  frame();
  route();
})();
