"""Differential check: the same boto3 calls against moto and against Sluice.

Usage: python3 moto_diff.py SLUICE_ENDPOINT

Starts moto's ThreadedMotoServer on a free port, runs one scenario against
each endpoint with boto3 (whatever protocol this boto3 speaks), normalises
what varies (URLs, ids, receipt handles, timestamps, request ids) and prints
one JSON document: {"boto3": version, "moto": version, "steps": [{"step",
"moto", "sluice"}...]} for the steps whose outcomes differ. The Go test
decides which differences are known (moto departs from AWS's documentation)
and fails on any other.
"""

import json
import re
import socket
import sys

import boto3
import moto
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def client(endpoint):
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 1}))


VOLATILE = {"MessageId", "ReceiptHandle", "RequestId", "HTTPHeaders", "RetryAttempts", "HostId",
            "SentTimestamp", "ApproximateFirstReceiveTimestamp", "CreatedTimestamp", "LastModifiedTimestamp",
            "SenderId", "SequenceNumber", "QueueArn", "TaskHandle", "StartedTimestamp"}


def norm(v):
    if isinstance(v, dict):
        return {k: ("<%s>" % k if k in VOLATILE else norm(x)) for k, x in v.items() if k != "ResponseMetadata"}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, str):
        v = re.sub(r"https?://[^/\s\"]+/\d+/", "<url>/", v)
        v = re.sub(r"arn:aws:sqs:[^:]+:\d+:", "<arn>:", v)
        return v
    if isinstance(v, bytes):
        return v.hex()
    return v


def scenario(c):
    out = []

    def step(name, fn):
        try:
            r = fn()
            out.append((name, {"ok": norm(r)}))
            return r
        except ClientError as e:
            err = e.response.get("Error", {})
            out.append((name, {"error": err.get("Code"), "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}))
            return None

    q = step("create", lambda: c.create_queue(QueueName="diff1", Attributes={"VisibilityTimeout": "30"}))["QueueUrl"]
    step("create same", lambda: c.create_queue(QueueName="diff1", Attributes={"VisibilityTimeout": "30"}))
    step("create different", lambda: c.create_queue(QueueName="diff1", Attributes={"VisibilityTimeout": "31"}))
    step("create bad name", lambda: c.create_queue(QueueName="bad name"))
    step("get url", lambda: c.get_queue_url(QueueName="diff1"))
    step("get url missing", lambda: c.get_queue_url(QueueName="nope"))
    attrs = {"s": {"DataType": "String", "StringValue": "v"}, "n": {"DataType": "Number", "StringValue": "1.5"},
             "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    step("send", lambda: c.send_message(QueueUrl=q, MessageBody="one", MessageAttributes=attrs))
    step("send delayed", lambda: c.send_message(QueueUrl=q, MessageBody="later", DelaySeconds=900))
    step("send delay 901", lambda: c.send_message(QueueUrl=q, MessageBody="x", DelaySeconds=901))
    # Invalid sends go to a scratch queue so that a store that accepts them
    # does not change the later counts.
    z = c.create_queue(QueueName="diff0")["QueueUrl"]
    step("send empty", lambda: c.send_message(QueueUrl=z, MessageBody=""))
    step("send bad char", lambda: c.send_message(QueueUrl=z, MessageBody="a\x01b"))
    step("batch bad id", lambda: c.send_message_batch(QueueUrl=q, Entries=[{"Id": "a b", "MessageBody": "x"}]))
    step("batch dup ids", lambda: c.send_message_batch(QueueUrl=q, Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]))
    step("batch 11", lambda: c.send_message_batch(QueueUrl=q, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)]))
    step("batch", lambda: c.send_message_batch(QueueUrl=q, Entries=[{"Id": "a", "MessageBody": "two"}, {"Id": "b", "MessageBody": "three"}]))
    step("attributes counts", lambda: c.get_queue_attributes(QueueUrl=q, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible"]))
    r = step("receive", lambda: c.receive_message(QueueUrl=q, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["ApproximateReceiveCount"]))
    msgs = sorted(r.get("Messages", []), key=lambda m: m["Body"]) if r else []
    out[-1] = ("receive", {"ok": norm(msgs)})
    step("receive 11", lambda: c.receive_message(QueueUrl=q, MaxNumberOfMessages=11))
    step("receive wait 21", lambda: c.receive_message(QueueUrl=q, WaitTimeSeconds=21))
    if msgs:
        step("delete batch", lambda: c.delete_message_batch(QueueUrl=q, Entries=[
            {"Id": "ok", "ReceiptHandle": msgs[0]["ReceiptHandle"]}, {"Id": "forged", "ReceiptHandle": "forged"}]))
        step("visibility", lambda: c.change_message_visibility(QueueUrl=q, ReceiptHandle=msgs[1]["ReceiptHandle"], VisibilityTimeout=0))
    step("visibility forged", lambda: c.change_message_visibility(QueueUrl=q, ReceiptHandle="forged", VisibilityTimeout=0))
    step("attributes", lambda: c.get_queue_attributes(QueueUrl=q, AttributeNames=[
        "VisibilityTimeout", "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds"]))
    step("attributes unknown", lambda: c.get_queue_attributes(QueueUrl=q, AttributeNames=["Bogus"]))
    step("set attributes bad", lambda: c.set_queue_attributes(QueueUrl=q, Attributes={"VisibilityTimeout": "43201"}))
    step("tag", lambda: c.tag_queue(QueueUrl=q, Tags={"a": "1", "b": "2"}))
    step("untag", lambda: c.untag_queue(QueueUrl=q, TagKeys=["a"]))
    step("tags", lambda: c.list_queue_tags(QueueUrl=q))
    # AWS does not promise an order.
    step("list", lambda: sorted(c.list_queues(QueueNamePrefix="diff")["QueueUrls"]))
    step("purge", lambda: c.purge_queue(QueueUrl=q))

    f = step("fifo create", lambda: c.create_queue(QueueName="diff2.fifo", Attributes={"FifoQueue": "true"}))["QueueUrl"]
    for i in range(3):
        step("fifo send %d" % i, lambda: c.send_message(QueueUrl=f, MessageBody="m%d" % i, MessageGroupId="g", MessageDeduplicationId="d%d" % i))
    step("fifo send dup", lambda: c.send_message(QueueUrl=f, MessageBody="m0 again", MessageGroupId="g", MessageDeduplicationId="d0"))
    step("fifo no group", lambda: c.send_message(QueueUrl=f, MessageBody="x", MessageDeduplicationId="z"))
    step("fifo no dedup", lambda: c.send_message(QueueUrl=f, MessageBody="x", MessageGroupId="g"))
    step("fifo receive", lambda: c.receive_message(QueueUrl=f, MaxNumberOfMessages=10))

    d = step("dlq create", lambda: c.create_queue(QueueName="diff3"))["QueueUrl"]
    arn = c.get_queue_attributes(QueueUrl=d, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s = step("source create", lambda: c.create_queue(QueueName="diff4", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1})}))["QueueUrl"]
    step("dlq sources", lambda: c.list_dead_letter_source_queues(QueueUrl=d))
    step("delete queue", lambda: c.delete_queue(QueueUrl=s))
    step("send to deleted", lambda: c.send_message(QueueUrl=s, MessageBody="x"))
    return out


def main():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        a = scenario(client("http://127.0.0.1:%d" % port))
    finally:
        server.stop()
    b = scenario(client(sys.argv[1]))
    diffs = [{"step": na, "moto": ra, "sluice": rb} for (na, ra), (_, rb) in zip(a, b) if ra != rb]
    print(json.dumps({"boto3": boto3.__version__, "moto": moto.__version__, "steps": len(b), "diffs": diffs}, sort_keys=True))


if __name__ == "__main__":
    main()
