# shellcheck shell=bash
# Kafka checks of the cross-client suite; sourced by compat.sh, which supplies
# BOOTSTRAP, DATA_DIR, RUN, PY, NODE, SCRIPTS and the helpers (fail, skip,
# logged, create_topic, kcat_produce, kcat_consume, codec_checks, same_lines,
# has_apis). Each check is a function run in its own subshell with its own
# scratch dir $CHECK_DIR; it passes by returning, fails through `fail`, and
# is skipped through `skip`. Topic names end in -$RUN so that reruns against
# one broker never collide. To add a check: write the function and register
# it in compat_kafka at the end of this file.

# API keys of the classic consumer-group protocol: OffsetCommit, OffsetFetch,
# FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup. Group checks
# run once the broker advertises all of them (and then must pass).
GROUP_APIS=(8 9 10 11 12 13 14)
INIT_PRODUCER_ID_API=22

# ---------------------------------------------------------------- kcat (librdkafka)

# kcat -L: the topic is listed with its partitions, every partition has a
# listed broker as leader, and the broker advertises the address we dialled.
check_kcat_metadata() {
	local t=compat-kcat-meta-$RUN
	create_topic "$t" 3
	timeout "$KCAT_TIMEOUT" kcat -L -J -b "$BOOTSTRAP" -t "$t" >"$CHECK_DIR/metadata.json" 2>"$CHECK_DIR/metadata.stderr" ||
		fail "kcat -L -J -t $t exited $?" "$CHECK_DIR/metadata.stderr"
	"$PY" - "$CHECK_DIR/metadata.json" "$t" 3 "$BOOTSTRAP" >"$CHECK_DIR/metadata-check.log" 2>&1 <<-'EOF' ||
		import json, sys
		path, topic, nparts, bootstrap = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
		with open(path) as f:
		    md = json.load(f)
		brokers = {b["id"]: b["name"] for b in md.get("brokers", [])}
		problems = []
		if list(brokers.values()) != [bootstrap]:
		    problems.append("brokers %r, want one broker advertising %s" % (brokers, bootstrap))
		topics = [t for t in md.get("topics", []) if t.get("topic") == topic]
		if len(topics) != 1 or "error" in topics[0]:
		    problems.append("topic %s missing or in error: %r" % (topic, topics))
		else:
		    parts = topics[0].get("partitions", [])
		    if sorted(p["partition"] for p in parts) != list(range(nparts)):
		        problems.append("partitions %r, want 0..%d" % ([p["partition"] for p in parts], nparts - 1))
		    for p in parts:
		        if p.get("leader") not in brokers or "error" in p:
		            problems.append("partition %r: leader not a listed broker, or an error" % p)
		for p in problems:
		    print("problem: " + p)
		sys.exit(1 if problems else 0)
	EOF
		fail "kcat -L -J metadata for $t is wrong" "$CHECK_DIR/metadata-check.log" "$CHECK_DIR/metadata.json"
	echo "ok: kcat -L -J lists $t with partitions 0..2 led by the broker at $BOOTSTRAP"
	timeout "$KCAT_TIMEOUT" kcat -L -b "$BOOTSTRAP" >"$CHECK_DIR/metadata-all.txt" 2>&1 ||
		fail "kcat -L exited $?" "$CHECK_DIR/metadata-all.txt"
	grep -q "topic \"$t\" with 3 partitions:" "$CHECK_DIR/metadata-all.txt" ||
		fail "kcat -L (all topics) does not show: topic \"$t\" with 3 partitions" "$CHECK_DIR/metadata-all.txt"
	echo "ok: kcat -L (all topics) shows topic \"$t\" with 3 partitions"
}

# kcat -z CODEC: keyed records round-trip exactly, and the batches the broker
# serves and stores really carry CODEC. librdkafka 2.0 decides per codec from
# the broker's ApiVersions whether it may compress, and if not it sends the
# batch uncompressed without a word. Seen with librdkafka 2.0.2: gzip, snappy
# and lz4 need Produce v0 in ApiVersions (KAFKA-18659: Kafka 4 lists v0-v2
# and refuses them), lz4 also FindCoordinator v0, zstd Produce v7 + Fetch v10.
# The topic is not created first: kcat relies on auto.create.topics.enable
# (default true), as its users do.
kcat_codec_check() {
	local codec=$1 t=compat-kcat-$1-$RUN
	keyed_lines "$codec" 200 >"$CHECK_DIR/want.txt"
	kcat_produce produce "$t" "$CHECK_DIR/want.txt" -z "$codec"
	codec_checks "$t" 0 "$codec"
	kcat_consume "$t" '%k:%s\n' "$CHECK_DIR/got.txt"
	same_lines "$CHECK_DIR/want.txt" "$CHECK_DIR/got.txt" "kcat -P -z $codec / kcat -C"
}
check_kcat_gzip() { kcat_codec_check gzip; }
check_kcat_snappy() { kcat_codec_check snappy; }
check_kcat_lz4() { kcat_codec_check lz4; }
check_kcat_zstd() { kcat_codec_check zstd; }

# Keyed records spread over 3 partitions by librdkafka's partitioner: all
# come back, each partition's offsets run 0..n-1, more than one is used.
check_kcat_partitions() {
	local t=compat-kcat-parts-$RUN
	create_topic "$t" 3
	keyed_lines parts 300 >"$CHECK_DIR/want.txt"
	kcat_produce produce "$t" "$CHECK_DIR/want.txt" -z lz4
	kcat_consume "$t" '%p:%o:%k:%s\n' "$CHECK_DIR/got-raw.txt"
	cut -d: -f3- "$CHECK_DIR/got-raw.txt" | sort >"$CHECK_DIR/got.txt"
	sort "$CHECK_DIR/want.txt" >"$CHECK_DIR/want-sorted.txt"
	same_lines "$CHECK_DIR/want-sorted.txt" "$CHECK_DIR/got.txt" "kcat -P / kcat -C over 3 partitions"
	awk -F: '{ if ($2 != n[$1]++) { printf "partition %s: offset %s where %d was expected\n", $1, $2, n[$1]-1; bad=1 } }
		END { used=0; for (p in n) { used++; printf "partition %s: %d records\n", p, n[p] } if (used < 2) { print "only one partition used"; bad=1 } exit bad }' \
		"$CHECK_DIR/got-raw.txt" >"$CHECK_DIR/offsets.log" ||
		fail "per-partition offsets are not contiguous from 0, or one partition got everything" "$CHECK_DIR/offsets.log"
	echo "ok: offsets contiguous per partition ($(tr '\n' ' ' <"$CHECK_DIR/offsets.log"))"
}

# ---------------------------------------------------------------- kafka-python

kpy() { # kpy NAME SUBCOMMAND ARGS...: kafka_python_check.py through logged
	local name=$1
	shift
	logged "$name" "$PY" -u "$SCRIPTS/py/kafka_python_check.py" "$1" "$BOOTSTRAP" "${@:2}"
}

check_python_roundtrip() {
	kpy roundtrip roundtrip "compat-py-plain-$RUN" 500
}

check_python_gzip() {
	local t=compat-py-gzip-$RUN
	kpy roundtrip roundtrip "$t" 500 --compression gzip
	codec_checks "$t" 0 gzip
}

check_python_list_topics() {
	local a=compat-py-list-a-$RUN b=compat-py-list-b-$RUN
	create_topic "$a" 1
	create_topic "$b" 3
	kpy list-topics list-topics "$a" "$b"
}

# kafka-python reads what librdkafka wrote (gzip batches over 2 partitions).
check_python_reads_kcat() {
	local t=compat-py-from-kcat-$RUN
	create_topic "$t" 2
	keyed_lines cross 100 >"$CHECK_DIR/want.txt"
	kcat_produce produce "$t" "$CHECK_DIR/want.txt" -z gzip
	kpy consume consume "$t" "$CHECK_DIR/want.txt"
}

check_python_group() {
	has_apis "${GROUP_APIS[@]}" || skip "broker does not advertise the consumer-group APIs (${GROUP_APIS[*]})"
	local t=compat-py-group-$RUN
	kpy roundtrip roundtrip "$t" 100
	kpy group-consume group-consume "$t" 100 "compat-py-group-$RUN"
}

# ---------------------------------------------------------------- kafkajs

kjs() { # kjs NAME SUBCOMMAND ARGS...: kafkajs_check.js through logged
	local name=$1
	shift
	logged "$name" "$NODE" "$SCRIPTS/node/kafkajs_check.js" "$1" "$BOOTSTRAP" "${@:2}"
}

# kafkajs admin createTopics, producer.send acks -1 (a plain and a GZIP
# batch, with headers), listTopics, fetchTopicMetadata, fetchTopicOffsets
# (high == count). kafkajs can only consume through a group, so the records
# are read back with kcat, headers included.
check_kafkajs_produce() {
	local t=compat-js-$RUN
	kjs produce produce "$t" 200 "$CHECK_DIR/want.txt"
	codec_checks "$t" 0 gzip --from 100
	kcat_consume "$t" '%k:%s:%h\n' "$CHECK_DIR/got.txt"
	same_lines "$CHECK_DIR/want.txt" "$CHECK_DIR/got.txt" "kafkajs producer.send / kcat -C"
}

check_kafkajs_idempotent() {
	has_apis "$INIT_PRODUCER_ID_API" || skip "broker does not advertise InitProducerId (22)"
	local t=compat-js-idem-$RUN
	kjs produce produce "$t" 200 "$CHECK_DIR/want.txt" --idempotent
	codec_checks "$t" 0 gzip --from 100 --producer-id
	kcat_consume "$t" '%k:%s:%h\n' "$CHECK_DIR/got.txt"
	same_lines "$CHECK_DIR/want.txt" "$CHECK_DIR/got.txt" "kafkajs idempotent producer.send / kcat -C"
}

check_kafkajs_group() {
	has_apis "${GROUP_APIS[@]}" || skip "broker does not advertise the consumer-group APIs (${GROUP_APIS[*]})"
	local t=compat-js-group-$RUN
	kjs produce produce "$t" 100 "$CHECK_DIR/want.txt"
	kjs group-consume group-consume "$t" 100 "compat-js-group-$RUN"
}

# compat_kafka registers the Kafka checks, in run order.
compat_kafka() {
	register kafka/kcat/metadata check_kcat_metadata
	register kafka/kcat/gzip check_kcat_gzip
	register kafka/kcat/snappy check_kcat_snappy
	register kafka/kcat/lz4 check_kcat_lz4
	register kafka/kcat/zstd check_kcat_zstd
	register kafka/kcat/partitions check_kcat_partitions
	register kafka/python/roundtrip check_python_roundtrip
	register kafka/python/gzip check_python_gzip
	register kafka/python/list-topics check_python_list_topics
	register kafka/python/reads-kcat check_python_reads_kcat
	register kafka/python/group check_python_group
	register kafka/kafkajs/produce check_kafkajs_produce
	register kafka/kafkajs/idempotent check_kafkajs_idempotent
	register kafka/kafkajs/group check_kafkajs_group
}
