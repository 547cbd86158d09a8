#!/usr/bin/python3
"""kafka-python checks for the cross-client suite.

Run with Debian's /usr/bin/python3 (package python3-kafka, kafka-python
2.0.2), not whatever python3 is first on PATH. Each subcommand prints what it
did, ends with "ok: ..." on success, and on a mismatch prints "FAIL: ..." and
exits 1 (an exception from the client exits 1 with its traceback).

  create-topic BOOTSTRAP TOPIC PARTITIONS
  roundtrip    BOOTSTRAP TOPIC COUNT [--compression gzip]
      Create TOPIC (1 partition) with KafkaAdminClient, produce COUNT keyed
      records with acks=all, read them back with a group-less KafkaConsumer
      (assign + seek to beginning) and compare key, value and order.
  consume      BOOTSTRAP TOPIC EXPECTED_FILE
      Read every partition of TOPIC from the beginning without a group and
      compare the "key:value" lines (sorted) with EXPECTED_FILE (sorted):
      reads what another client produced.
  list-topics  BOOTSTRAP TOPIC...
      KafkaConsumer.topics() and KafkaAdminClient.list_topics() both list
      every TOPIC; partitions_for_topic agrees with the admin's describe.
  group-consume BOOTSTRAP TOPIC COUNT GROUP
      Consume COUNT records through consumer group GROUP (subscribe, commit),
      then check the committed offset. Only run when the broker advertises
      the group APIs.
"""

import logging
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

TIMEOUT_S = 30

logging.basicConfig(level=logging.WARNING, format="kafka-python %(levelname)s %(name)s: %(message)s")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="sluice-compat-admin",
                            request_timeout_ms=TIMEOUT_S * 1000)


def create_topic(bootstrap, topic, partitions):
    a = admin(bootstrap)
    try:
        resp = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                               timeout_ms=TIMEOUT_S * 1000)
        print("CreateTopics response: %r" % (resp,))
    except TopicAlreadyExistsError:
        fail("CreateTopics %s: TopicAlreadyExistsError for a new topic" % topic)
    finally:
        a.close()
    # Metadata may lag creation on a real cluster; wait until a client sees it.
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, request_timeout_ms=TIMEOUT_S * 1000 + 1000)
    try:
        deadline = time.time() + TIMEOUT_S
        while time.time() < deadline:
            parts = c.partitions_for_topic(topic)
            if parts and len(parts) == partitions:
                print("ok: created %s with partitions %s" % (topic, sorted(parts)))
                return
            time.sleep(0.2)
            c.topics()  # forces a metadata refresh
        fail("topic %s: metadata shows partitions %r, want %d" % (topic, c.partitions_for_topic(topic), partitions))
    finally:
        c.close()


def records(topic, count):
    # Values repeat a lot so that compressed batches are really smaller; a
    # client may send a batch uncompressed when compression does not help.
    return [("key-%05d" % i, "%s value %05d %s" % (topic, i, "abcdefgh" * 8)) for i in range(count)]


def read_all(bootstrap, topic, want, timeout_s=TIMEOUT_S):
    """Read `want` records from every partition of topic, from the beginning."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=timeout_s * 1000,
                      request_timeout_ms=TIMEOUT_S * 1000 + 1000)
    try:
        parts = c.partitions_for_topic(topic)
        if not parts:
            fail("KafkaConsumer.partitions_for_topic(%r) = %r" % (topic, parts))
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = []
        deadline = time.time() + timeout_s
        while len(got) < want and time.time() < deadline:
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    got.append((m.partition, m.offset, m.key.decode() if m.key is not None else None,
                                m.value.decode() if m.value is not None else None))
        ends = c.end_offsets(tps)
        print("end offsets: %s" % {tp.partition: o for tp, o in ends.items()})
        return got, ends
    finally:
        c.close()


def roundtrip(bootstrap, topic, count, compression):
    create_topic(bootstrap, topic, 1)
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=compression,
                      linger_ms=20, retries=3, request_timeout_ms=TIMEOUT_S * 1000)
    want = records(topic, count)
    try:
        futures = [p.send(topic, key=k.encode(), value=v.encode()) for k, v in want]
        p.flush(timeout=TIMEOUT_S)
        metas = [f.get(timeout=TIMEOUT_S) for f in futures]
    finally:
        p.close(timeout=TIMEOUT_S)
    offsets = [m.offset for m in metas]
    if offsets != list(range(count)):
        fail("produce acks=all: record offsets %s..., want 0..%d in order" % (offsets[:10], count - 1))
    print("produced %d records (compression=%s), offsets 0..%d" % (count, compression, count - 1))
    got, ends = read_all(bootstrap, topic, count)
    if len(got) != count:
        fail("consumed %d records from %s, want %d (first: %r)" % (len(got), topic, count, got[:3]))
    for i, (part, off, k, v) in enumerate(got):
        if (part, off, k, v) != (0, i, want[i][0], want[i][1]):
            fail("record %d: got partition %d offset %d key %r value %r, want 0/%d %r %r"
                 % (i, part, off, k, v, i, want[i][0], want[i][1]))
    if ends.get(TopicPartition(topic, 0)) != count:
        fail("end offset of %s[0] = %r, want %d" % (topic, ends.get(TopicPartition(topic, 0)), count))
    print("ok: %d records read back in order with matching keys, values and offsets" % count)


def consume(bootstrap, topic, expected_file):
    with open(expected_file) as f:
        want = sorted(line.rstrip("\n") for line in f if line.strip())
    got, _ = read_all(bootstrap, topic, len(want))
    lines = sorted("%s:%s" % (k, v) for _, _, k, v in got)
    if lines != want:
        missing = sorted(set(want) - set(lines))[:5]
        extra = sorted(set(lines) - set(want))[:5]
        fail("read %d records from %s, want %d; missing %r extra %r" % (len(lines), topic, len(want), missing, extra))
    print("ok: read the %d records another client produced to %s" % (len(lines), topic))


def list_topics(bootstrap, topics):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    a = admin(bootstrap)
    try:
        seen = c.topics()
        listed = set(a.list_topics())
        described = {d["topic"]: d for d in a.describe_topics(topics)}
        print("KafkaConsumer.topics(): %s" % sorted(seen))
        print("KafkaAdminClient.list_topics(): %s" % sorted(listed))
        for t in topics:
            if t not in seen:
                fail("KafkaConsumer.topics() does not list %s" % t)
            if t not in listed:
                fail("KafkaAdminClient.list_topics() does not list %s" % t)
            d = described.get(t)
            if d is None or d.get("error_code"):
                fail("describe_topics(%s) = %r" % (t, d))
            parts = sorted(p["partition"] for p in d["partitions"])
            if parts != sorted(c.partitions_for_topic(t) or []):
                fail("describe_topics(%s) partitions %s != consumer's %s" % (t, parts, c.partitions_for_topic(t)))
            for p in d["partitions"]:
                if p.get("error_code") or p.get("leader", -1) < 0:
                    fail("describe_topics(%s) partition %r has no leader or an error" % (t, p))
        print("ok: %s listed and described" % ", ".join(topics))
    finally:
        a.close()
        c.close()


def group_consume(bootstrap, topic, count, group):
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=TIMEOUT_S * 1000,
                      session_timeout_ms=10000, heartbeat_interval_ms=1000)
    try:
        n = 0
        for _ in c:
            n += 1
            if n == count:
                break
        if n != count:
            fail("group %s consumed %d of %d records" % (group, n, count))
        c.commit()
        tp = TopicPartition(topic, 0)
        committed = c.committed(tp)
        if committed != count:
            fail("group %s committed offset %r, want %d" % (group, committed, count))
        print("ok: group %s consumed %d records and committed offset %d" % (group, n, committed))
    finally:
        c.close()


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    cmd, bootstrap, rest = argv[1], argv[2], argv[3:]
    if cmd == "create-topic":
        create_topic(bootstrap, rest[0], int(rest[1]))
    elif cmd == "roundtrip":
        compression = None
        if len(rest) == 4 and rest[2] == "--compression":
            compression = rest[3]
        roundtrip(bootstrap, rest[0], int(rest[1]), compression)
    elif cmd == "consume":
        consume(bootstrap, rest[0], rest[1])
    elif cmd == "list-topics":
        list_topics(bootstrap, rest)
    elif cmd == "group-consume":
        group_consume(bootstrap, rest[0], int(rest[1]), rest[2])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
