#!/usr/bin/env node
// kafkajs checks for the cross-client suite (kafkajs version pinned in
// package.json / package-lock.json beside this file).
//
// Each subcommand prints what it did, ends with "ok: ..." on success, and on a
// mismatch or client error prints "FAIL: ..." and exits 1.
//
//   produce BOOTSTRAP TOPIC COUNT OUT_FILE [--idempotent]
//       admin.createTopics (1 partition), then producer.send with acks -1:
//       COUNT keyed records with a header, split over an uncompressed send and
//       a GZIP send (kafkajs compresses GZIP natively). Checks the offsets the
//       broker acknowledged, listTopics, fetchTopicMetadata and that
//       fetchTopicOffsets reports high == COUNT. Writes "key:value:hdr" lines
//       to OUT_FILE so that another client (kcat) can verify the records.
//       With --idempotent the producer uses InitProducerId and sequence numbers.
//   group-consume BOOTSTRAP TOPIC COUNT GROUP
//       consumer.subscribe + run through consumer group GROUP until COUNT
//       records arrived, compare them with what produce wrote, then check the
//       group's committed offset with admin.fetchOffsets. Needs the group APIs
//       (JoinGroup, SyncGroup, Heartbeat, OffsetCommit/Fetch, FindCoordinator).
'use strict';

// Set before kafkajs loads: the v2 partitioner notice is noise here.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const fs = require('fs');
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');

const TIMEOUT_MS = 30000;

class CheckFailed extends Error {}

function fail(msg) {
  throw new CheckFailed(msg);
}

function client(bootstrap) {
  return new Kafka({
    clientId: 'sluice-compat-kafkajs',
    brokers: [bootstrap],
    connectionTimeout: 5000,
    requestTimeout: TIMEOUT_MS,
    retry: { retries: 3, initialRetryTime: 200 },
    // Errors and warnings go to stderr so that a failure shows the client's
    // own account of what the broker answered.
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, label, log }) => {
      const { message, ...extra } = log;
      console.error(`kafkajs ${label} [${namespace}] ${message} ${JSON.stringify(extra)}`);
    },
  });
}

function records(topic, count) {
  // Repetitive values so that GZIP really shrinks the batch.
  const out = [];
  for (let i = 0; i < count; i++) {
    const key = `key-${String(i).padStart(5, '0')}`;
    out.push({
      key,
      value: `${topic} value ${String(i).padStart(5, '0')} ${'abcdefgh'.repeat(8)}`,
      headers: { 'sluice-compat': `h${i}` },
    });
  }
  return out;
}

async function produce(bootstrap, topic, count, outFile, idempotent) {
  const kafka = client(bootstrap);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
      timeout: TIMEOUT_MS,
    });
    if (created !== true) fail(`admin.createTopics(${topic}) returned ${created}, want true (new topic)`);
    console.log(`createTopics ${topic}: ok`);

    const want = records(topic, count);
    const half = Math.floor(count / 2);
    const producer = kafka.producer({ idempotent, allowAutoTopicCreation: false, maxInFlightRequests: idempotent ? 1 : undefined });
    await producer.connect();
    try {
      const sends = [
        { msgs: want.slice(0, half), compression: CompressionTypes.None, name: 'none' },
        { msgs: want.slice(half), compression: CompressionTypes.GZIP, name: 'gzip' },
      ];
      let next = 0;
      for (const s of sends) {
        const res = await producer.send({ topic, acks: -1, timeout: TIMEOUT_MS, compression: s.compression, messages: s.msgs });
        console.log(`send ${s.msgs.length} records (${s.name}, acks -1): ${JSON.stringify(res)}`);
        if (res.length !== 1 || res[0].errorCode !== 0 || res[0].partition !== 0) {
          fail(`producer.send (${s.name}) answered ${JSON.stringify(res)}, want one partition-0 result with errorCode 0`);
        }
        if (Number(res[0].baseOffset) !== next) {
          fail(`producer.send (${s.name}) baseOffset ${res[0].baseOffset}, want ${next}`);
        }
        next += s.msgs.length;
      }
    } finally {
      await producer.disconnect();
    }

    const topics = await admin.listTopics();
    if (!topics.includes(topic)) fail(`admin.listTopics() = ${JSON.stringify(topics)} lacks ${topic}`);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const parts = meta.topics[0].partitions;
    if (meta.topics[0].name !== topic || parts.length !== 1 || parts[0].leader < 0 || parts[0].partitionErrorCode !== 0) {
      fail(`admin.fetchTopicMetadata(${topic}) = ${JSON.stringify(meta)}`);
    }
    const offsets = await admin.fetchTopicOffsets(topic);
    console.log(`fetchTopicOffsets ${topic}: ${JSON.stringify(offsets)}`);
    if (offsets.length !== 1 || Number(offsets[0].high) !== count || Number(offsets[0].low) !== 0) {
      fail(`admin.fetchTopicOffsets(${topic}) = ${JSON.stringify(offsets)}, want partition 0 low 0 high ${count}`);
    }
    fs.writeFileSync(outFile, want.map((r) => `${r.key}:${r.value}:sluice-compat=${r.headers['sluice-compat']}\n`).join(''));
    console.log(`ok: kafkajs created ${topic}, produced ${count} records (acks -1, one GZIP batch${idempotent ? ', idempotent' : ''}), high watermark ${count}`);
  } finally {
    await admin.disconnect();
  }
}

async function groupConsume(bootstrap, topic, count, group) {
  const kafka = client(bootstrap);
  const want = records(topic, count);
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 1000 });
  const got = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let done;
    const finished = new Promise((resolve) => { done = resolve; });
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ partition, message }) => {
        got.push({ partition, offset: Number(message.offset), key: String(message.key), value: String(message.value),
          header: message.headers['sluice-compat'] ? String(message.headers['sluice-compat']) : undefined });
        if (got.length >= count) done();
      },
    });
    const timer = setTimeout(() => done(), TIMEOUT_MS);
    await finished;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect(); // commits the consumed offsets
  }
  if (got.length !== count) fail(`group ${group} consumed ${got.length} of ${count} records`);
  got.forEach((r, i) => {
    const w = want[i];
    if (r.partition !== 0 || r.offset !== i || r.key !== w.key || r.value !== w.value || r.header !== w.headers['sluice-compat']) {
      fail(`record ${i}: got ${JSON.stringify(r)}, want offset ${i} key ${w.key} header ${w.headers['sluice-compat']}`);
    }
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const off = committed[0] && committed[0].partitions[0] && Number(committed[0].partitions[0].offset);
    if (off !== count) fail(`admin.fetchOffsets(${group}) = ${JSON.stringify(committed)}, want offset ${count}`);
  } finally {
    await admin.disconnect();
  }
  console.log(`ok: group ${group} consumed ${count} records in order and committed offset ${count}`);
}

async function main(argv) {
  const [cmd, bootstrap, topic, countArg, extra, flag] = argv;
  const count = Number(countArg);
  if (cmd === 'produce' && extra) return produce(bootstrap, topic, count, extra, flag === '--idempotent');
  if (cmd === 'group-consume' && extra) return groupConsume(bootstrap, topic, count, extra);
  console.error('usage: kafkajs_check.js produce BOOTSTRAP TOPIC COUNT OUT_FILE [--idempotent] | group-consume BOOTSTRAP TOPIC COUNT GROUP');
  process.exit(2);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    if (err instanceof CheckFailed) console.log(`FAIL: ${err.message}`);
    else console.log(`FAIL: kafkajs error: ${err && err.stack ? err.stack : err}${err && err.type ? ` (type ${err.type})` : ''}`);
    process.exit(1);
  },
);
