#!/usr/bin/env node
// @aws-sdk/client-sqs checks for the cross-client suite (version pinned in
// package.json / package-lock.json beside this file). The v3 SDK speaks the
// SQS *JSON 1.0* protocol (X-Amz-Target: AmazonSQS.<Action>).
//
// Each subcommand prints what it did, ends with "ok: ..." on success, and on a
// mismatch or client error prints "FAIL: ..." and exits 1.
//
//   roundtrip ENDPOINT SUFFIX
//       CreateQueue (a queue with a RedrivePolicy to a DLQ, maxReceiveCount 1),
//       SendMessage + SendMessageBatch with String/Number/Binary attributes
//       (digests checked against MD5s computed here), ReceiveMessage with all
//       attributes, DeleteMessageBatch, a poison message moving to the DLQ,
//       ListDeadLetterSourceQueues, StartMessageMoveTask + ListMessageMoveTasks
//       bringing it back, DeleteQueue. Also the JSON error shape: the SDK's
//       QueueDoesNotExist exception for an unknown queue.
'use strict';

const crypto = require('crypto');
const {
  SQSClient, CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand,
  SendMessageBatchCommand, ReceiveMessageCommand, DeleteMessageBatchCommand,
  DeleteMessageCommand, ChangeMessageVisibilityCommand, ListDeadLetterSourceQueuesCommand,
  StartMessageMoveTaskCommand, ListMessageMoveTasksCommand, DeleteQueueCommand,
  GetQueueUrlCommand, QueueDoesNotExist,
} = require('@aws-sdk/client-sqs');

const TIMEOUT_MS = 30000;

class CheckFailed extends Error {}

function fail(msg) {
  throw new CheckFailed(msg);
}

const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');

// AWS's message attribute digest, implemented independently of Sluice.
function md5Attrs(attrs) {
  const parts = [];
  const len = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  for (const name of Object.keys(attrs).sort()) {
    const a = attrs[name];
    const nb = Buffer.from(name, 'utf8');
    const tb = Buffer.from(a.DataType, 'utf8');
    parts.push(len(nb.length), nb, len(tb.length), tb);
    if (a.BinaryValue !== undefined) {
      const v = Buffer.from(a.BinaryValue);
      parts.push(Buffer.from([2]), len(v.length), v);
    } else {
      const v = Buffer.from(a.StringValue, 'utf8');
      parts.push(Buffer.from([1]), len(v.length), v);
    }
  }
  return md5(Buffer.concat(parts));
}

async function waitFor(what, fn) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function roundtrip(endpoint, suffix) {
  const c = new SQSClient({
    endpoint, region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 2,
  });
  const attr = async (url, name) => (await c.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [name] }))).Attributes[name];

  const dlq = (await c.send(new CreateQueueCommand({ QueueName: `compat-node-dlq-${suffix}` }))).QueueUrl;
  const dlqArn = await attr(dlq, 'QueueArn');
  const q = (await c.send(new CreateQueueCommand({
    QueueName: `compat-node-${suffix}`,
    Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) },
    tags: { suite: 'compat' },
  }))).QueueUrl;
  console.log(`ok: created ${q} and its DLQ`);

  const attrs = {
    color: { DataType: 'String', StringValue: 'grün' },
    n: { DataType: 'Number', StringValue: '-1.5' },
    raw: { DataType: 'Binary', BinaryValue: Uint8Array.from([0, 1, 254, 255]) },
  };
  const want = new Map();
  const one = await c.send(new SendMessageCommand({ QueueUrl: q, MessageBody: 'node {"json": true}', MessageAttributes: attrs }));
  if (one.MD5OfMessageBody !== md5('node {"json": true}') || one.MD5OfMessageAttributes !== md5Attrs(attrs)) {
    fail(`SendMessage digests ${JSON.stringify(one)}`);
  }
  want.set('node {"json": true}', md5Attrs(attrs));
  const entries = [0, 1, 2].map((i) => ({ Id: `e${i}`, MessageBody: `batch ${i}`, MessageAttributes: { i: { DataType: 'Number', StringValue: String(i) } } }));
  const batch = await c.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: entries }));
  if ((batch.Successful || []).length !== 3 || (batch.Failed || []).length) fail(`SendMessageBatch ${JSON.stringify(batch)}`);
  for (const e of entries) {
    const ok = batch.Successful.find((s) => s.Id === e.Id);
    if (ok.MD5OfMessageAttributes !== md5Attrs(e.MessageAttributes)) fail(`batch digest ${JSON.stringify(ok)}`);
    want.set(e.MessageBody, md5Attrs(e.MessageAttributes));
  }
  console.log('ok: SendMessage + SendMessageBatch with String/Number/Binary attributes; digests match');

  const got = new Map();
  const handles = [];
  const deadline = Date.now() + TIMEOUT_MS;
  while (got.size < want.size && Date.now() < deadline) {
    const r = await c.send(new ReceiveMessageCommand({
      QueueUrl: q, MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
      MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'],
    }));
    for (const m of r.Messages || []) {
      if (m.MD5OfMessageAttributes !== md5Attrs(m.MessageAttributes || {})) fail(`received digest ${JSON.stringify(m)}`);
      if (!m.Attributes || !m.Attributes.SentTimestamp || m.Attributes.ApproximateReceiveCount !== '1') fail(`system attributes ${JSON.stringify(m.Attributes)}`);
      got.set(m.Body, m.MD5OfMessageAttributes);
      handles.push(m.ReceiptHandle);
    }
  }
  for (const [body, digest] of want) {
    if (got.get(body) !== digest) fail(`message ${body}: got ${got.get(body)}, want ${digest}`);
  }
  const del = await c.send(new DeleteMessageBatchCommand({ QueueUrl: q, Entries: handles.map((h, i) => ({ Id: `d${i}`, ReceiptHandle: h })) }));
  if ((del.Successful || []).length !== handles.length) fail(`DeleteMessageBatch ${JSON.stringify(del)}`);
  console.log(`ok: received ${got.size} messages with their attributes; deleted them in a batch`);

  await c.send(new SendMessageCommand({ QueueUrl: q, MessageBody: 'poison' }));
  const first = await waitFor('the poison message', async () => (await c.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 1 }))).Messages);
  await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: q, ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 0 }));
  const again = await c.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 1 }));
  if ((again.Messages || []).length) fail('the poison message was handed out twice');
  await waitFor('the DLQ to hold it', async () => (await attr(dlq, 'ApproximateNumberOfMessages')) === '1');
  const srcs = (await c.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq }))).queueUrls;
  if (JSON.stringify(srcs) !== JSON.stringify([q])) fail(`ListDeadLetterSourceQueues ${JSON.stringify(srcs)}`);
  console.log('ok: poison message moved to the DLQ; ListDeadLetterSourceQueues names the source');

  await c.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn, MaxNumberOfMessagesPerSecond: 10 }));
  await waitFor('the move task', async () => ((await c.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results || []).some((t) => t.Status === 'COMPLETED'));
  const back = await waitFor('the redriven message', async () => (await c.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 1 }))).Messages);
  if (back[0].Body !== 'poison') fail(`redriven body ${back[0].Body}`);
  await c.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: back[0].ReceiptHandle }));
  console.log('ok: StartMessageMoveTask brought it back; received and deleted');

  try {
    await c.send(new GetQueueUrlCommand({ QueueName: `nope-${suffix}` }));
    fail('GetQueueUrl of an unknown queue succeeded');
  } catch (e) {
    if (!(e instanceof QueueDoesNotExist)) fail(`unknown queue: want QueueDoesNotExist, got ${e.name}: ${e.message}`);
    if (e.$metadata.httpStatusCode !== 400) fail(`unknown queue: HTTP ${e.$metadata.httpStatusCode}`);
  }
  console.log('ok: unknown queue -> QueueDoesNotExist (HTTP 400)');

  await c.send(new DeleteQueueCommand({ QueueUrl: q }));
  await c.send(new DeleteQueueCommand({ QueueUrl: dlq }));
  console.log('ok: @aws-sdk/client-sqs roundtrip done');
}

async function main() {
  const [cmd, endpoint, suffix] = process.argv.slice(2);
  if (cmd !== 'roundtrip' || !endpoint || !suffix) {
    console.error('usage: sqs_check.js roundtrip ENDPOINT SUFFIX');
    process.exit(2);
  }
  const version = require('@aws-sdk/client-sqs/package.json').version;
  console.log(`@aws-sdk/client-sqs ${version} (node ${process.version})`);
  await roundtrip(endpoint, suffix);
}

main().catch((e) => {
  if (e instanceof CheckFailed) {
    console.log(`FAIL: ${e.message}`);
  } else {
    console.error(e);
    console.log(`FAIL: ${e.name}: ${e.message}`);
  }
  process.exit(1);
});
