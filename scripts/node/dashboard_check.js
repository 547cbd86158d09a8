#!/usr/bin/env node
// End-to-end check of the web dashboard (internal/web/ui) in a real browser:
// Debian's chromium driven by playwright-core (pinned in package.json; the
// browser is never downloaded). Run by compat_web.sh against the suite's
// broker.
//
//   dashboard_check.js --http URL --sqs URL --kafka HOST:PORT --suffix S --out DIR [--bulk N]
//
// 1. State, through the protocols' own clients: a Kafka topic with records
//    and a consumer group (kafkajs) that is still a member and has lag; an
//    SQS queue with a RedrivePolicy and, sent straight to its DLQ with
//    @aws-sdk/client-sqs, dead letters whose sluice-diagnostics attribute
//    carries three different last_error values; with --bulk N, a queue of N
//    messages for the pagination timings.
// 2. The browser opens the overview, finds the queue whose DLQ holds
//    messages, opens the queue, the group and the DLQ pages; on the DLQ page
//    it filters by error text, checks that exactly the matching messages are
//    listed, redrives them through the confirmation dialog (whose dry-run
//    count must equal the number matching), and checks that the DLQ count
//    drops by exactly that number and the source queue's rises by it — on
//    the page and through the admin API. Then it redrives two messages
//    picked by checkbox, the same way.
// 3. Throughout: no request leaves the broker's origin, no page error, no
//    console error; browsing never leases a dead letter (in_flight stays 0).
//
// A screenshot of each page goes to DIR. Each step prints "ok: …"; a failure
// prints "FAIL: …" and exits 1.
'use strict';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');
const { Kafka, logLevel } = require('kafkajs');
const {
  SQSClient, CreateQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand,
} = require('@aws-sdk/client-sqs');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 15000;

class CheckFailed extends Error {}
const fail = (msg) => { throw new CheckFailed(msg); };
const ok = (msg) => console.log('ok: ' + msg);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function args() {
  const a = { bulk: 0 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!['http', 'sqs', 'kafka', 'suffix', 'out', 'bulk'].includes(k) || argv[i + 1] === undefined) {
      console.error('usage: dashboard_check.js --http URL --sqs URL --kafka HOST:PORT --suffix S --out DIR [--bulk N]');
      process.exit(2);
    }
    a[k] = k === 'bulk' ? Number(argv[i + 1]) : argv[i + 1];
  }
  for (const k of ['http', 'sqs', 'kafka', 'suffix', 'out']) if (!a[k]) { console.error('missing --' + k); process.exit(2); }
  a.http = a.http.replace(/\/$/, '');
  if (!/^https?:\/\//.test(a.http)) a.http = 'http://' + a.http;
  return a;
}

async function waitFor(what, fn, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) fail(`timed out after ${ms / 1000}s waiting for ${what}`);
    await sleep(150);
  }
}

// ---------------------------------------------------------------- setup

const ERRORS = [
  ['timeout after 30s calling inventory-svc', 7],
  ['payment declined: card expired', 5],
  ['connection refused: db:5432', 4],
];

async function setupSQS(a, names) {
  const c = new SQSClient({ endpoint: a.sqs, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 3 });
  const dlq = (await c.send(new CreateQueueCommand({ QueueName: names.dlq }))).QueueUrl;
  const arn = (await c.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes.QueueArn;
  const src = (await c.send(new CreateQueueCommand({
    QueueName: names.src,
    Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 3 }) },
  }))).QueueUrl;
  const send = async (url, entries) => {
    for (let i = 0; i < entries.length; i += 10) {
      const r = await c.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries.slice(i, i + 10) }));
      if ((r.Failed || []).length) fail(`SendMessageBatch: ${JSON.stringify(r.Failed)}`);
    }
  };
  await send(src, [0, 1, 2].map((i) => ({ Id: 's' + i, MessageBody: JSON.stringify({ job: 'resize', image: i }) })));
  const now = Date.now();
  const dead = [];
  let n = 0;
  for (const [err, count] of ERRORS) {
    for (let i = 0; i < count; i++, n++) {
      const diag = {
        source: names.src, attempts: 3, last_error: err,
        first_attempt: new Date(now - 3600e3 + n * 1000).toISOString(),
        last_attempt: new Date(now - 600e3 + n * 1000).toISOString(),
        worker_id: `worker-${n % 3}/4242`, worker_version: '1.4.2',
      };
      dead.push({
        Id: 'd' + n,
        MessageBody: JSON.stringify({ order_id: 1000 + n, customer: 'c-' + (n % 4), amount: 10 * n }),
        MessageAttributes: {
          'sluice-diagnostics': { DataType: 'String', StringValue: JSON.stringify(diag) },
          tenant: { DataType: 'String', StringValue: n % 2 ? 'acme' : 'globex' },
        },
      });
    }
  }
  await send(dlq, dead);
  ok(`SQS: ${names.src} (3 messages) with RedrivePolicy to ${names.dlq}, which holds ${dead.length} dead letters ` +
    `(last_error: ${ERRORS.map(([e, k]) => `${k}× "${e}"`).join(', ')})`);

  if (a.bulk > 0) {
    const bulk = (await c.send(new CreateQueueCommand({ QueueName: names.bulk }))).QueueUrl;
    const t0 = Date.now();
    const body = 'x'.repeat(200);
    let next = 0;
    const worker = async () => {
      while (next < a.bulk) {
        const start = next;
        next += 10;
        const entries = [];
        for (let i = start; i < Math.min(start + 10, a.bulk); i++) entries.push({ Id: 'b' + i, MessageBody: `{"n":${i},"pad":"${body}"}` });
        const r = await c.send(new SendMessageBatchCommand({ QueueUrl: bulk, Entries: entries }));
        if ((r.Failed || []).length) fail(`bulk SendMessageBatch: ${JSON.stringify(r.Failed)}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    ok(`SQS: ${names.bulk} holds ${a.bulk} messages (sent in ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  }
  return c;
}

async function setupKafka(a, names) {
  const kafka = new Kafka({ clientId: 'dashboard-check', brokers: [a.kafka], logLevel: logLevel.WARN, retry: { retries: 3 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: names.topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const batch = (from, n) => Array.from({ length: n }, (_, i) => ({ key: 'k' + ((from + i) % 17), value: JSON.stringify({ order: from + i }) }));
  await producer.send({ topic: names.topic, acks: -1, messages: batch(0, 300) });

  // A group that consumed the first 300 and committed, then paused: it stays
  // a member (Stable, with assignments) and lags behind 60 more records.
  const consumer = kafka.consumer({ groupId: names.group, sessionTimeout: 30000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic: names.topic, fromBeginning: true });
  let seen = 0;
  const next = new Map(); // partition -> offset after the last record read
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => { seen++; next.set(partition, BigInt(message.offset) + 1n); },
  });
  await waitFor('the consumer group to read 300 records', async () => seen >= 300, 30000);
  consumer.pause([{ topic: names.topic }]);
  await consumer.commitOffsets([...next].map(([partition, offset]) => ({ topic: names.topic, partition, offset: String(offset) })));
  await producer.send({ topic: names.topic, acks: -1, messages: batch(300, 60) });
  await producer.disconnect();
  ok(`Kafka: topic ${names.topic} (3 partitions, 360 records); group ${names.group} consumed 300 and paused`);
  return consumer;
}

// ---------------------------------------------------------------- admin API

async function api(a, p) {
  const r = await fetch(a.http + p, { headers: { Accept: 'application/json' } });
  const text = await r.text();
  if (!r.ok) fail(`GET ${p}: HTTP ${r.status}: ${text}`);
  return JSON.parse(text);
}
const depth = (q) => q.visible + q.in_flight + q.delayed;

// ---------------------------------------------------------------- browser

async function main() {
  const a = args();
  const names = {
    src: `dash-jobs-${a.suffix}`, dlq: `dash-jobs-dlq-${a.suffix}`, bulk: `dash-bulk-${a.suffix}`,
    topic: `dash-orders-${a.suffix}`, group: `dash-billing-${a.suffix}`,
  };
  fs.mkdirSync(a.out, { recursive: true });
  console.log(`playwright-core ${require('playwright-core/package.json').version}, kafkajs ${require('kafkajs/package.json').version}, ` +
    `@aws-sdk/client-sqs ${require('@aws-sdk/client-sqs/package.json').version}, node ${process.version}`);

  const ov = await api(a, '/api/overview');
  ok(`admin API answers: broker ${ov.broker.version}, ${ov.queues} queues, ${ov.topics} topics`);
  await setupSQS(a, names);
  const consumer = await setupKafka(a, names);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const problems = [];
  let lastPage = null;
  try {
    const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await ctx.newPage();
    lastPage = page;
    page.setDefaultTimeout(STEP_MS);
    const origin = new URL(a.http).origin;
    page.on('request', (r) => { if (!r.url().startsWith(origin + '/') && !r.url().startsWith('data:')) problems.push('request outside the broker: ' + r.url()); });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    // shot saves the whole page, or with {viewport: true} what is on screen
    // (a modal's backdrop covers only the viewport).
    const shot = async (name, opts = {}) => {
      await page.waitForTimeout(300); // let a just-rendered table settle before the picture
      if (!opts.viewport) await page.evaluate(() => window.scrollTo(0, 0)); // else the sticky top bar lands mid-picture
      const file = path.join(a.out, name + '.png');
      await page.screenshot({ path: file, fullPage: !opts.viewport });
      console.log(`screenshot: ${file}`);
    };
    const text = (sel) => page.locator(sel).first().innerText();
    const num = (s) => Number(String(s).replace(/[^0-9-]/g, ''));

    // Overview: the source queue's row shows its DLQ's depth as a link.
    const t0 = Date.now();
    await page.goto(a.http + '/#/');
    const row = page.locator(`tr[data-queue="${names.src}"]`);
    await row.waitFor();
    ok(`overview rendered in ${Date.now() - t0} ms with the queue rows`);
    const deadTotal = ERRORS.reduce((s, [, k]) => s + k, 0);
    await waitFor(`the overview to show ${deadTotal} dead letters for ${names.src}`,
      async () => num(await row.locator('[data-test=dlq-link]').innerText()) === deadTotal);
    await page.locator(`tr[data-topic="${names.topic}"]`).waitFor();
    await page.locator(`tr[data-group="${names.group}"]`).waitFor();
    ok(`overview lists ${names.src} with ${deadTotal} dead letters, topic ${names.topic} and group ${names.group}`);

    // The queue page, reached by its link.
    await row.locator('a', { hasText: names.src }).first().click();
    await page.waitForURL(/#\/queues\//);
    await page.locator('[data-test=open-dlq]').waitFor();
    await page.locator('.messages-table tbody tr.row-click').first().waitFor();
    const srcRows = await page.locator('.messages-table tbody tr.row-click').count();
    if (srcRows !== 3) fail(`the queue page lists ${srcRows} messages of ${names.src}, want 3`);
    ok(`queue page: counters, DLQ callout, 3 messages listed`);
    await shot('2-queue');

    // The group page: a member with an assignment, lag per partition.
    await page.goto(a.http + '/#/groups/' + encodeURIComponent(names.group));
    await waitFor('the group page to show its member and a lag of 60', async () => {
      const body = await page.locator('#main').innerText();
      return /Stable/.test(body) && body.includes(names.topic) && /Total lag\s*60\b/.test(body);
    }, 25000);
    ok('group page: Stable, one member assigned the topic, total lag 60');
    await shot('3-group');

    // The topic page.
    await page.goto(a.http + '/#/topics/' + encodeURIComponent(names.topic));
    await waitFor('the topic page to show 360 records', async () => /Records\s*360\b/.test(await page.locator('#main').innerText()));
    ok('topic page: 3 partitions, 360 records');
    await shot('4-topic');

    // Back to the overview; follow the dead-letter link.
    await page.goto(a.http + '/#/');
    await row.waitFor();
    await row.locator('[data-test=dlq-link]').click();
    await page.waitForURL(/#\/dlq\//);
    const dlqDepth = page.locator('[data-test=dlq-depth]');
    await waitFor(`the DLQ page to show ${deadTotal}`, async () => (await dlqDepth.count()) && num(await dlqDepth.innerText()) === deadTotal);
    const rows = page.locator('.messages-table tbody tr.row-click');
    await waitFor(`${deadTotal} dead letters listed`, async () => (await rows.count()) === deadTotal);
    const errs = await page.locator('.messages-table tbody td.error-col').allInnerTexts();
    for (const [e] of ERRORS) if (!errs.some((x) => x.includes(e))) fail(`the DLQ list shows no "${e}" (errors shown: ${errs.join(' | ')})`);
    await rows.first().click(); // the diagnostics of one message
    await page.locator('tr.detail dl.kv').first().waitFor();
    const detail = await text('tr.detail');
    for (const want of ['Attempts', 'First attempt', 'Last attempt', 'Worker', names.src]) {
      if (!detail.includes(want)) fail(`the expanded message shows no "${want}":\n${detail}`);
    }
    ok(`DLQ page: ${deadTotal} dead letters with their diagnostics (last error, attempts, first/last attempt, worker, source)`);
    await shot('5-dlq-before');
    await page.emulateMedia({ colorScheme: 'dark' }); // the same page as prefers-color-scheme: dark shows it
    await shot('5-dlq-before-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await rows.first().click(); // fold it again

    // Filter by error text, then redrive all matching.
    const [errText, matching] = ERRORS[0];
    await page.fill('[data-test=filter-error]', 'timeout');
    await page.click('[data-test=apply-filters]');
    await waitFor(`the filter to leave ${matching} rows`, async () => (await rows.count()) === matching);
    const filtered = await page.locator('.messages-table tbody td.error-col').allInnerTexts();
    if (!filtered.every((x) => x.includes(errText))) fail(`filtered rows with other errors: ${filtered.join(' | ')}`);
    ok(`filter "last error matches timeout" lists exactly the ${matching} matching messages`);

    const before = { src: await api(a, '/api/queues/' + names.src), dlq: await api(a, '/api/queues/' + names.dlq) };
    await page.click('[data-test=redrive-all]');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    const dry = Number(await dialog.locator('[data-test=dry-run-count]').getAttribute('data-count'));
    if (dry !== matching) fail(`the confirmation's dry-run count is ${dry}, want ${matching}`);
    const after0 = await api(a, '/api/queues/' + names.dlq);
    if (depth(after0) !== depth(before.dlq)) fail('the dry run moved messages');
    ok(`confirmation dialog: dry run counts ${dry} messages, nothing moved yet`);
    await shot('6-dlq-confirm', { viewport: true });
    await dialog.locator('[data-role=confirm]').click();
    await page.locator('[data-test=redrive-result]', { hasText: `Moved ${matching} messages` }).waitFor();
    await waitFor(`the DLQ count on the page to drop to ${deadTotal - matching}`, async () => num(await dlqDepth.innerText()) === deadTotal - matching);
    const after = { src: await api(a, '/api/queues/' + names.src), dlq: await api(a, '/api/queues/' + names.dlq) };
    if (depth(before.dlq) - depth(after.dlq) !== matching) fail(`the DLQ went from ${depth(before.dlq)} to ${depth(after.dlq)}, want a drop of exactly ${matching}`);
    if (after.src.visible - before.src.visible !== matching) fail(`${names.src} went from ${before.src.visible} to ${after.src.visible} visible, want +${matching}`);
    ok(`redrive by filter: DLQ ${depth(before.dlq)} → ${depth(after.dlq)} (−${matching}), ${names.src} ${before.src.visible} → ${after.src.visible} (+${matching})`);
    await page.click('[data-test=clear-filters]');
    await waitFor('the list to show the rest', async () => (await rows.count()) === deadTotal - matching);
    await shot('7-dlq-after');

    // Redrive two messages picked by checkbox.
    await page.fill('[data-test=filter-error]', 'declined');
    await page.click('[data-test=apply-filters]');
    await waitFor('the "declined" rows', async () => (await rows.count()) === ERRORS[1][1]);
    await rows.nth(0).locator('[data-test=select]').check();
    await rows.nth(1).locator('[data-test=select]').check();
    await waitFor('the selection count', async () => /\(2\)/.test(await text('[data-test=redrive-selected]')));
    await page.click('[data-test=redrive-selected]');
    await dialog.waitFor();
    const dry2 = Number(await dialog.locator('[data-test=dry-run-count]').getAttribute('data-count'));
    if (dry2 !== 2) fail(`dry run for 2 selected messages counts ${dry2}`);
    await dialog.locator('[data-role=confirm]').click();
    await page.locator('[data-test=redrive-result]', { hasText: 'Moved 2 messages' }).waitFor();
    const left = deadTotal - matching - 2;
    await waitFor(`the DLQ count on the page to drop to ${left}`, async () => num(await dlqDepth.innerText()) === left);
    const after2 = { src: await api(a, '/api/queues/' + names.src), dlq: await api(a, '/api/queues/' + names.dlq) };
    if (depth(after2.dlq) !== left || after2.src.visible !== after.src.visible + 2) {
      fail(`after redriving 2 selected: DLQ ${depth(after2.dlq)} (want ${left}), ${names.src} ${after2.src.visible} (want ${after.src.visible + 2})`);
    }
    if (after2.dlq.in_flight !== 0) fail(`browsing leased dead letters: in_flight ${after2.dlq.in_flight}`);
    ok(`redrive of 2 selected: DLQ ${left}, ${names.src} ${after2.src.visible}; browsing leased nothing (in_flight 0)`);

    // The overview agrees; by now the broker has sampled the new queues a
    // few times (every 10 s), so the sparklines have something to draw.
    await page.goto(a.http + '/#/');
    await waitFor(`the overview to show ${left} dead letters`, async () => num(await row.locator('[data-test=dlq-link]').innerText()) === left);
    ok(`overview updated: ${names.src} shows ${left} dead letters`);
    await waitFor(`a sparkline for ${names.src}`, async () => (await row.locator('svg.spark').count()) > 0, 30000);
    ok('overview sparklines drawn from /api/history');

    // The alert banner, when the broker has a rule on this queue's DLQ (the
    // suite's broker is started with one: alert.<rule>.target=dash-jobs-RUN).
    const rules = ((await api(a, '/api/alerts')) || []).filter((r) => r.kind === 'dlq_depth' && r.target === names.src);
    if (rules.length) {
      const rule = rules[0].rule;
      await waitFor(`alert ${rule} to fire`, async () => (await api(a, '/api/alerts')).some((r) => r.rule === rule && r.state === 'firing'), 30000);
      const banner = page.locator(`#alerts [data-rule="${rule}"]`);
      await banner.waitFor();
      const said = await banner.innerText();
      ok(`alert ${rule} firing; the banner says: ${said.replace(/\s+/g, ' ')}`);
    } else {
      console.log(`note: no dlq_depth alert rule targets ${names.src}: the banner is not checked`);
    }
    await shot('1-overview');

    if (a.bulk > 0) {
      // Paging a big queue: each page is one bounded request.
      let t = Date.now();
      await page.goto(a.http + '/#/queues/' + encodeURIComponent(names.bulk));
      await page.locator('.messages-table tbody tr.row-click').nth(49).waitFor();
      const firstMs = Date.now() - t;
      const times = [];
      const seen = new Set(await page.locator('.messages-table tbody tr.row-click .id').evaluateAll((els) => els.map((e) => e.title)));
      for (let i = 0; i < 5; i++) {
        // From the click to the new page drawn (checked every frame).
        t = Date.now();
        await page.click('[data-test=next-page]');
        await page.waitForFunction((n) => document.querySelector('[data-test=page-info]').textContent.startsWith(`Page ${n} ·`) &&
          document.querySelectorAll('.messages-table tbody tr.row-click').length === 50, i + 2, { polling: 'raf' });
        times.push(Date.now() - t);
        for (const id of await page.locator('.messages-table tbody tr.row-click .id').evaluateAll((els) => els.map((e) => e.title))) {
          if (seen.has(id)) fail(`message ${id} shown on two pages`);
          seen.add(id);
        }
      }
      // The pages are the queue's first 300 messages in the API's order.
      const want = (await api(a, `/api/queues/${names.bulk}/messages?limit=300`)).messages.map((m) => m.id);
      const missing = want.filter((id) => !seen.has(id));
      if (seen.size !== 300 || missing.length) fail(`6 pages showed ${seen.size} distinct messages; ${missing.length} of the API's first 300 missing`);
      ok(`queue of ${a.bulk} messages: first page in ${firstMs} ms, next pages in ${times.join(', ')} ms; 6 pages = the first 300 messages, none twice`);
      await shot('8-bulk-queue');
    }

    if (problems.length) fail('during the run:\n  ' + problems.join('\n  '));
    ok('no request outside the broker, no page or console error');
  } catch (e) {
    // The page as it was when the check gave up.
    if (lastPage) await lastPage.screenshot({ path: path.join(a.out, 'failure.png'), fullPage: true }).then(
      () => console.log(`screenshot of the failure: ${path.join(a.out, 'failure.png')}`), () => {});
    throw e;
  } finally {
    // On a failure, what the browser complained about explains it best.
    if (problems.length) console.log('browser problems so far:\n  ' + problems.join('\n  '));
    await browser.close();
    await consumer.disconnect().catch(() => {});
  }
  console.log(`screenshots: ${a.out}`);
  ok('dashboard check done');
}

main().catch((e) => {
  if (e instanceof CheckFailed) console.log(`FAIL: ${e.message}`);
  else { console.error(e); console.log(`FAIL: ${e.name}: ${e.message}`); }
  process.exit(1);
});
