#!/usr/bin/python3
"""kafka-python consumer-group checks for the cross-client suite
(scripts/compat_groups.sh).

Run with Debian's /usr/bin/python3 (python3-kafka, kafka-python 2.0.2). Each
subcommand prints what it did, ends with "ok: ..." on success, and on a
mismatch prints "FAIL: ..." and exits 1.

  consume BOOTSTRAP TOPIC GROUP OUT [--max N] [--idle-ms MS]
      Subscribe to TOPIC in GROUP (auto.offset.reset=earliest, no auto
      commit), write "partition offset key" per record to OUT, commit
      synchronously after every record, stop after N records (default: no
      limit) or when nothing arrives for MS ms (default 6000) once assigned,
      then close (LeaveGroup).
  committed BOOTSTRAP GROUP TOPIC PARTITIONS
      Print "partition offset" for the group's committed offsets
      (OffsetFetch through the admin client).
"""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def consume(bootstrap, topic, group, out, max_n=None, idle_ms=6000):
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id="compat-py-" + group,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      session_timeout_ms=10000, heartbeat_interval_ms=500, max_poll_records=1)
    n = 0
    deadline = time.time() + 60
    last = time.time()
    parts = set()
    with open(out, "a") as f:
        while time.time() < deadline:
            batch = c.poll(timeout_ms=200)
            if not batch:
                if c.assignment() and (time.time() - last) * 1000 > idle_ms:
                    break
                continue
            for tp, recs in batch.items():
                for r in recs:
                    f.write("%d %d %s\n" % (r.partition, r.offset, r.key.decode() if r.key else ""))
                    f.flush()
                    parts.add(r.partition)
                    n += 1
                c.commit()
            last = time.time()
            if max_n is not None and n >= max_n:
                break
    c.close()
    print("ok: group %s: consumed %d records from partitions %s and committed after each" % (group, n, sorted(parts)))


def committed(bootstrap, group, topic, partitions):
    a = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-py-admin")
    offs = a.list_consumer_group_offsets(group)
    a.close()
    for p in range(partitions):
        o = offs.get(TopicPartition(topic, p))
        print("%d %d" % (p, o.offset if o is not None else -1))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, rest = argv[1], argv[2:]
    if cmd == "consume":
        max_n, idle = None, 6000
        args = []
        i = 0
        while i < len(rest):
            if rest[i] == "--max":
                max_n = int(rest[i + 1])
                i += 2
            elif rest[i] == "--idle-ms":
                idle = int(rest[i + 1])
                i += 2
            else:
                args.append(rest[i])
                i += 1
        consume(args[0], args[1], args[2], args[3], max_n, idle)
    elif cmd == "committed":
        committed(rest[0], rest[1], rest[2], int(rest[3]))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
