#!/usr/bin/python3
"""boto3 SQS checks for the cross-client suite.

Run with Debian's /usr/bin/python3 (package python3-boto3: boto3 1.26 on
botocore 1.29, which speak the SQS *Query* protocol: form-encoded requests,
XML responses). Each subcommand prints what it did, ends with "ok: ..." on
success, and on a mismatch prints "FAIL: ..." and exits 1 (a client
exception exits 1 with its traceback).

  roundtrip ENDPOINT SUFFIX
      Create a queue and a dead-letter queue (RedrivePolicy, maxReceiveCount
      1), send messages with String/Number/Binary attributes (SendMessage and
      SendMessageBatch) and check the MD5 digests the broker returns against
      ones computed here, receive them all with their attributes and system
      attributes, delete them (DeleteMessageBatch), let a poison message land
      in the DLQ, find the source with ListDeadLetterSourceQueues, move it
      back with StartMessageMoveTask (a signed raw Query request when this
      boto3 predates the API) and receive it from the source again.
  fifo ENDPOINT SUFFIX
      A FIFO queue: order within a message group, deduplication by
      MessageDeduplicationId, SequenceNumber, one group held while in flight.
  errors ENDPOINT SUFFIX
      Error shapes as botocore parses them: NonExistentQueue, batch limits,
      invalid receipt handles, InvalidAction for an unknown action.
"""

import base64
import hashlib
import struct
import sys
import time

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

TIMEOUT_S = 30


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def client(endpoint):
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=TIMEOUT_S),
    )


def md5_attrs(attrs):
    """AWS's message attribute digest, implemented independently of Sluice."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        dt = a["DataType"]
        buf += struct.pack(">I", len(name.encode())) + name.encode()
        buf += struct.pack(">I", len(dt.encode())) + dt.encode()
        if "BinaryValue" in a:
            v = a["BinaryValue"]
            buf += b"\x02" + struct.pack(">I", len(v)) + v
        else:
            v = a["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(v)) + v
    return hashlib.md5(buf).hexdigest()


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


ATTRS = {
    "color": {"DataType": "String", "StringValue": "blue ünïcode"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
}


def queue_attr(c, url, name):
    return c.get_queue_attributes(QueueUrl=url, AttributeNames=[name])["Attributes"][name]


def wait_for(what, fn, timeout=TIMEOUT_S):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            fail("timed out waiting for " + what)
        time.sleep(0.2)


def raw_query(c, endpoint, params):
    """A signed Query request (for actions this botocore does not know)."""
    creds = c._request_signer._credentials
    req = AWSRequest(method="POST", url=endpoint + "/", data=params,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(creds, "sqs", "us-east-1").add_auth(req)
    prepared = req.prepare()
    import urllib.request
    r = urllib.request.Request(prepared.url, data=prepared.body.encode() if isinstance(prepared.body, str) else prepared.body,
                               headers=dict(prepared.headers), method="POST")
    with urllib.request.urlopen(r, timeout=TIMEOUT_S) as resp:
        return resp.read().decode()


def start_move_task(c, endpoint, source_arn):
    if hasattr(c, "start_message_move_task"):
        return c.start_message_move_task(SourceArn=source_arn)["TaskHandle"], "boto3"
    import re
    xml = raw_query(c, endpoint, {"Action": "StartMessageMoveTask", "Version": "2012-11-05", "SourceArn": source_arn})
    m = re.search(r"<TaskHandle>([^<]+)</TaskHandle>", xml)
    if not m:
        fail("StartMessageMoveTask answered without a TaskHandle: " + xml)
    return m.group(1), "a signed raw Query request"


def list_move_tasks(c, endpoint, source_arn):
    if hasattr(c, "list_message_move_tasks"):
        return [t["Status"] for t in c.list_message_move_tasks(SourceArn=source_arn)["Results"]]
    import re
    xml = raw_query(c, endpoint, {"Action": "ListMessageMoveTasks", "Version": "2012-11-05", "SourceArn": source_arn})
    return re.findall(r"<Status>([^<]+)</Status>", xml)


def roundtrip(endpoint, suffix):
    c = client(endpoint)
    print("boto3 %s, botocore %s, protocol %s" % (boto3.__version__, botocore.__version__, c.meta.service_model.protocol))
    dlq = c.create_queue(QueueName="compat-boto3-dlq-" + suffix)["QueueUrl"]
    dlq_arn = queue_attr(c, dlq, "QueueArn")
    policy = '{"deadLetterTargetArn":"%s","maxReceiveCount":1}' % dlq_arn
    q = c.create_queue(QueueName="compat-boto3-" + suffix, Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "30"},
                       tags={"suite": "compat"})["QueueUrl"]
    # Creating it again with the same attributes returns the same URL.
    if c.create_queue(QueueName="compat-boto3-" + suffix, Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "30"})["QueueUrl"] != q:
        fail("CreateQueue with equal attributes is not idempotent")
    if c.get_queue_url(QueueName="compat-boto3-" + suffix)["QueueUrl"] != q:
        fail("GetQueueUrl differs from CreateQueue's URL")
    if c.list_queue_tags(QueueUrl=q).get("Tags") != {"suite": "compat"}:
        fail("ListQueueTags: %r" % c.list_queue_tags(QueueUrl=q).get("Tags"))
    print("ok: created %s and its DLQ (RedrivePolicy maxReceiveCount 1, tags)" % q)

    want = {}
    r = c.send_message(QueueUrl=q, MessageBody="single <&> \"body\"", MessageAttributes=ATTRS)
    if r["MD5OfMessageBody"] != md5("single <&> \"body\"") or r["MD5OfMessageAttributes"] != md5_attrs(ATTRS):
        fail("SendMessage digests %r" % r)
    want["single <&> \"body\""] = ATTRS
    entries = [{"Id": "e%d" % i, "MessageBody": "batch %d" % i, "MessageAttributes": {"i": {"DataType": "Number", "StringValue": str(i)}}} for i in range(3)]
    r = c.send_message_batch(QueueUrl=q, Entries=entries)
    if len(r.get("Successful", [])) != 3 or r.get("Failed"):
        fail("SendMessageBatch: %r" % r)
    for e, ok in zip(entries, sorted(r["Successful"], key=lambda x: x["Id"])):
        if ok["MD5OfMessageBody"] != md5(e["MessageBody"]) or ok["MD5OfMessageAttributes"] != md5_attrs(e["MessageAttributes"]):
            fail("SendMessageBatch digests %r" % ok)
        want[e["MessageBody"]] = e["MessageAttributes"]
    print("ok: SendMessage + SendMessageBatch (4 messages), MD5OfMessageBody and MD5OfMessageAttributes match")

    got = {}
    handles = []
    deadline = time.time() + TIMEOUT_S
    while len(got) < len(want) and time.time() < deadline:
        r = c.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=2, MessageAttributeNames=["All"], AttributeNames=["All"])
        for m in r.get("Messages", []):
            if m["MD5OfBody"] != md5(m["Body"]):
                fail("MD5OfBody mismatch for %r" % m["Body"])
            attrs = m.get("MessageAttributes", {})
            if m.get("MD5OfMessageAttributes") != md5_attrs(attrs):
                fail("MD5OfMessageAttributes mismatch for %r" % m)
            for k in ("SentTimestamp", "ApproximateReceiveCount", "SenderId", "ApproximateFirstReceiveTimestamp"):
                if k not in m.get("Attributes", {}):
                    fail("system attribute %s missing: %r" % (k, m.get("Attributes")))
            got[m["Body"]] = attrs
            handles.append(m["ReceiptHandle"])
    if got != want:
        fail("received %r, want %r" % (got, want))
    r = c.delete_message_batch(QueueUrl=q, Entries=[{"Id": "d%d" % i, "ReceiptHandle": h} for i, h in enumerate(handles)])
    if len(r.get("Successful", [])) != len(handles) or r.get("Failed"):
        fail("DeleteMessageBatch: %r" % r)
    print("ok: received all 4 with attributes (String, Number, Binary) and system attributes; deleted them in a batch")

    c.send_message(QueueUrl=q, MessageBody="poison")
    m = wait_for("the poison message", lambda: c.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages"))[0]
    c.change_message_visibility(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    # The next receive finds it past maxReceiveCount and moves it to the DLQ.
    r = c.receive_message(QueueUrl=q, WaitTimeSeconds=1)
    if r.get("Messages"):
        fail("the poison message was handed out a second time: %r" % r)
    wait_for("the DLQ to hold the poison message", lambda: queue_attr(c, dlq, "ApproximateNumberOfMessages") == "1")
    srcs = c.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    if srcs != [q]:
        fail("ListDeadLetterSourceQueues: %r" % srcs)
    print("ok: poison message moved to the DLQ after 1 receive; ListDeadLetterSourceQueues names the source")

    handle, how = start_move_task(c, endpoint, dlq_arn)
    wait_for("the move task to complete", lambda: "COMPLETED" in list_move_tasks(c, endpoint, dlq_arn))
    m = wait_for("the redriven message", lambda: c.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages"))[0]
    if m["Body"] != "poison":
        fail("redriven body %r" % m["Body"])
    c.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
    print("ok: StartMessageMoveTask (%s) moved it back; received and deleted it" % how)

    c.purge_queue(QueueUrl=dlq)
    c.delete_queue(QueueUrl=q)
    c.delete_queue(QueueUrl=dlq)
    print("ok: boto3 roundtrip done")


def fifo(endpoint, suffix):
    c = client(endpoint)
    q = c.create_queue(QueueName="compat-boto3-%s.fifo" % suffix, Attributes={"FifoQueue": "true"})["QueueUrl"]
    seqs = []
    for i in range(5):
        r = c.send_message(QueueUrl=q, MessageBody="m%d" % i, MessageGroupId="g", MessageDeduplicationId="d%d" % i)
        seqs.append(int(r["SequenceNumber"]))
    dup = c.send_message(QueueUrl=q, MessageBody="m0 again", MessageGroupId="g", MessageDeduplicationId="d0")
    if seqs != sorted(seqs) or len(set(seqs)) != 5:
        fail("sequence numbers not increasing: %r" % seqs)
    first = c.receive_message(QueueUrl=q, MaxNumberOfMessages=2, AttributeNames=["All"])["Messages"]
    if [m["Body"] for m in first] != ["m0", "m1"]:
        fail("first receive %r" % [m["Body"] for m in first])
    if first[0]["Attributes"].get("MessageGroupId") != "g" or first[0]["Attributes"].get("MessageDeduplicationId") != "d0":
        fail("FIFO system attributes %r" % first[0]["Attributes"])
    # Group g is in flight: nothing more until those are deleted.
    if c.receive_message(QueueUrl=q, MaxNumberOfMessages=10).get("Messages"):
        fail("a message of an in-flight group was handed out")
    for m in first:
        c.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
    rest = c.receive_message(QueueUrl=q, MaxNumberOfMessages=10)["Messages"]
    if [m["Body"] for m in rest] != ["m2", "m3", "m4"]:
        fail("rest %r (the duplicate %s must not appear)" % ([m["Body"] for m in rest], dup.get("MessageId")))
    c.delete_queue(QueueUrl=q)
    print("ok: FIFO order within a group, group held while in flight, duplicate suppressed, SequenceNumber increasing")


def expect_error(code, fn):
    try:
        fn()
    except ClientError as e:
        if e.response["Error"]["Code"] != code:
            fail("want %s, got %r" % (code, e.response["Error"]))
        return e.response
    fail("want error %s, got success" % code)


def errors(endpoint, suffix):
    c = client(endpoint)
    q = c.create_queue(QueueName="compat-boto3-err-" + suffix)["QueueUrl"]
    expect_error("AWS.SimpleQueueService.NonExistentQueue", lambda: c.get_queue_url(QueueName="nope-" + suffix))
    expect_error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", lambda: c.send_message_batch(
        QueueUrl=q, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)]))
    expect_error("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", lambda: c.send_message_batch(
        QueueUrl=q, Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]))
    expect_error("ReceiptHandleIsInvalid", lambda: c.delete_message(QueueUrl=q, ReceiptHandle="forged"))
    expect_error("InvalidParameterValue", lambda: c.receive_message(QueueUrl=q, MaxNumberOfMessages=11))
    expect_error("InvalidMessageContents", lambda: c.send_message(QueueUrl=q, MessageBody="bad \x01 char"))
    r = c.send_message_batch(QueueUrl=q, Entries=[{"Id": "ok", "MessageBody": "fine"}, {"Id": "bad", "MessageBody": "\x02"}])
    if [e["Id"] for e in r.get("Successful", [])] != ["ok"] or [e["Id"] for e in r.get("Failed", [])] != ["bad"]:
        fail("partial batch failure: %r" % r)
    import re
    xml = None
    try:
        raw_query(c, endpoint, {"Action": "NoSuchAction", "Version": "2012-11-05"})
    except Exception as e:  # urllib raises on HTTP 400
        xml = e.read().decode() if hasattr(e, "read") else str(e)
    if not xml or not re.search(r"<Code>InvalidAction</Code>", xml):
        fail("unknown action: %r" % xml)
    c.delete_queue(QueueUrl=q)
    print("ok: NonExistentQueue, TooManyEntriesInBatchRequest, BatchEntryIdsNotDistinct, ReceiptHandleIsInvalid, "
          "InvalidParameterValue, InvalidMessageContents, a partial batch failure and InvalidAction, as botocore parses them")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("roundtrip", "fifo", "errors"):
        print(__doc__)
        sys.exit(2)
    {"roundtrip": roundtrip, "fifo": fifo, "errors": errors}[sys.argv[1]](sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
