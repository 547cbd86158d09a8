# shellcheck shell=bash
# Consumer-group checks of the cross-client suite; sourced by compat.sh (see
# compat_kafka.sh for what it supplies: BOOTSTRAP, RUN, PY, SCRIPTS, fail,
# skip, logged, create_topic, kcat_produce, keyed_lines, has_apis …) and
# registered by compat_groups at the end. They run once the broker
# advertises the classic group APIs (GROUP_APIS in compat_kafka.sh).
#
#   kafka/groups/kcat-balanced   two `kcat -G` (librdkafka 2.0) balanced
#       consumers share a 4-partition topic: each gets partitions, together
#       they read every record, and a third run finds everything committed.
#   kafka/groups/python-resume   a kafka-python group consumer stops after
#       40 of 100 records (committing each); a second one in the same group
#       reads exactly the other 60; the committed offsets reach the end.
#   kafka/groups/mixed-clients   kcat -G and kafka-python in ONE group: the
#       broker selects the assignor both support ("range"), they split the
#       partitions and read every record between them.

GROUP_CONSUME_TIMEOUT=${COMPAT_GROUP_TIMEOUT:-60}

group_py() { # group_py NAME SUBCOMMAND ARGS...: group_check.py through logged
	local name=$1
	shift
	logged "$name" "$PY" -u "$SCRIPTS/py/group_check.py" "$1" "$BOOTSTRAP" "${@:2}"
}

# kcat_group GROUP TOPIC OUT: a balanced consumer reading until every
# assigned partition is at its end (-e), "partition offset key" per line; it
# commits (auto commit, and on close).
kcat_group() {
	timeout "$GROUP_CONSUME_TIMEOUT" kcat -b "$BOOTSTRAP" -G "$1" -X auto.offset.reset=earliest \
		-e -q -f '%p %o %k\n' "$2" >"$3" 2>"$3.err"
}

# all_keys_read WANT_FILE GOT_FILE...: every key of WANT_FILE ("key:value"
# lines) appears in the GOT files ("partition offset key" lines).
all_keys_read() {
	local want=$1
	shift
	cut -d: -f1 "$want" | sort -u >"$CHECK_DIR/want-keys"
	cat "$@" | awk '{print $3}' | sort -u >"$CHECK_DIR/got-keys"
	if ! diff -u "$CHECK_DIR/want-keys" "$CHECK_DIR/got-keys" >"$CHECK_DIR/keys.diff"; then
		fail "the group did not read every record exactly as produced" "$CHECK_DIR/keys.diff"
	fi
	echo "ok: $(wc -l <"$CHECK_DIR/want-keys") records read by the group"
}

partitions_of() { awk '{print $1}' "$1" | sort -un | tr '\n' ' '; }

check_groups_kcat_balanced() {
	has_apis "${GROUP_APIS[@]}" || skip "broker does not advertise the consumer-group APIs (${GROUP_APIS[*]})"
	local t=compat-grp-kcat-$RUN g=compat-grp-kcat-$RUN
	create_topic "$t" 4
	keyed_lines kg 200 >"$CHECK_DIR/want.txt"
	kcat_produce produce "$t" "$CHECK_DIR/want.txt"
	local rc1=0 rc2=0
	kcat_group "$g" "$t" "$CHECK_DIR/c1.txt" &
	local p1=$!
	kcat_group "$g" "$t" "$CHECK_DIR/c2.txt" &
	local p2=$!
	wait "$p1" || rc1=$?
	wait "$p2" || rc2=$?
	((rc1 == 0)) || fail "kcat -G #1 exited $rc1" "$CHECK_DIR/c1.txt.err"
	((rc2 == 0)) || fail "kcat -G #2 exited $rc2" "$CHECK_DIR/c2.txt.err"
	all_keys_read "$CHECK_DIR/want.txt" "$CHECK_DIR/c1.txt" "$CHECK_DIR/c2.txt"
	local a b
	a=$(partitions_of "$CHECK_DIR/c1.txt")
	b=$(partitions_of "$CHECK_DIR/c2.txt")
	if [ -z "$a" ] || [ -z "$b" ]; then
		fail "one consumer got no partitions (#1: '$a', #2: '$b'): the group did not balance"
	fi
	echo "ok: kcat -G #1 read partitions $a, #2 read $b"
	kcat_group "$g" "$t" "$CHECK_DIR/c3.txt" || fail "kcat -G #3 exited $?" "$CHECK_DIR/c3.txt.err"
	[ ! -s "$CHECK_DIR/c3.txt" ] || fail "a third member re-read $(wc -l <"$CHECK_DIR/c3.txt") records: offsets were not committed" "$CHECK_DIR/c3.txt"
	echo "ok: a third member found every offset committed"
}

check_groups_python_resume() {
	has_apis "${GROUP_APIS[@]}" || skip "broker does not advertise the consumer-group APIs (${GROUP_APIS[*]})"
	local t=compat-grp-py-$RUN g=compat-grp-py-$RUN
	create_topic "$t" 2
	keyed_lines pg 100 >"$CHECK_DIR/want.txt"
	kcat_produce produce "$t" "$CHECK_DIR/want.txt"
	group_py first consume "$t" "$g" "$CHECK_DIR/first.txt" --max 40
	group_py second consume "$t" "$g" "$CHECK_DIR/second.txt" --idle-ms 4000
	local n1 n2
	n1=$(wc -l <"$CHECK_DIR/first.txt")
	n2=$(wc -l <"$CHECK_DIR/second.txt")
	((n1 == 40 && n2 == 60)) || fail "the first consumer read $n1 and the second $n2 records, want 40 and 60 (each committed after every record)" "$CHECK_DIR/first.txt" "$CHECK_DIR/second.txt"
	all_keys_read "$CHECK_DIR/want.txt" "$CHECK_DIR/first.txt" "$CHECK_DIR/second.txt"
	"$PY" -u "$SCRIPTS/py/group_check.py" committed "$BOOTSTRAP" "$g" "$t" 2 >"$CHECK_DIR/committed.txt" 2>&1 ||
		fail "committed offsets" "$CHECK_DIR/committed.txt"
	local sum
	sum=$(awk '{s += $2} END {print s}' "$CHECK_DIR/committed.txt")
	((sum == 100)) || fail "committed offsets add up to $sum, want 100" "$CHECK_DIR/committed.txt"
	echo "ok: the second consumer resumed at the committed offsets; committed offsets reach the end (100)"
}

check_groups_mixed_clients() {
	has_apis "${GROUP_APIS[@]}" || skip "broker does not advertise the consumer-group APIs (${GROUP_APIS[*]})"
	local t=compat-grp-mix-$RUN g=compat-grp-mix-$RUN
	create_topic "$t" 4
	keyed_lines mx 200 >"$CHECK_DIR/want.txt"
	kcat_produce produce "$t" "$CHECK_DIR/want.txt"
	local rc=0
	"$PY" -u "$SCRIPTS/py/group_check.py" consume "$BOOTSTRAP" "$t" "$g" "$CHECK_DIR/py.txt" --idle-ms 4000 >"$CHECK_DIR/py.log" 2>&1 &
	local pp=$!
	kcat_group "$g" "$t" "$CHECK_DIR/kcat.txt" || rc=$?
	wait "$pp" || fail "kafka-python consumer exited $?" "$CHECK_DIR/py.log"
	((rc == 0)) || fail "kcat -G exited $rc" "$CHECK_DIR/kcat.txt.err"
	grep -h '^ok: ' "$CHECK_DIR/py.log" || true
	all_keys_read "$CHECK_DIR/want.txt" "$CHECK_DIR/py.txt" "$CHECK_DIR/kcat.txt"
	local a b
	a=$(partitions_of "$CHECK_DIR/kcat.txt")
	b=$(partitions_of "$CHECK_DIR/py.txt")
	if [ -z "$a" ] || [ -z "$b" ]; then
		fail "one client got no partitions (kcat: '$a', kafka-python: '$b')"
	fi
	echo "ok: kcat -G read partitions $a, kafka-python read $b, in one group"
}

compat_groups() {
	register kafka/groups/kcat-balanced check_groups_kcat_balanced
	register kafka/groups/python-resume check_groups_python_resume
	register kafka/groups/mixed-clients check_groups_mixed_clients
}
