#!/usr/bin/env bash
# Cross-client compatibility suite: real Kafka and SQS clients that this
# project did not write (kcat/librdkafka, kafka-python, kafkajs; awscli, boto3,
# the JavaScript AWS SDK) against a Sluice broker.
# See scripts/README.md for what each check does and how to run it.
#
#   bash scripts/compat.sh [--only PATTERN]... [--list] [--help]
#
# Without COMPAT_BOOTSTRAP it builds ./cmd/sluice (or takes the binary named
# by COMPAT_SLUICE_BIN), starts `sluice serve` on free loopback ports with a
# fresh data dir, and stops it at the end (the clean shutdown is itself a
# check). With COMPAT_BOOTSTRAP=host:port it uses that broker instead
# (COMPAT_DATA_DIR then names its data dir, if any, for the on-disk checks).
# The last line is "N passed, M failed"; the exit status is non-zero when any
# check failed.
set -uo pipefail

SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPTS/.." && pwd)
PY=/usr/bin/python3 # Debian's python: python3-kafka is installed for it, not for a pyenv python on PATH
NODE=${NODE:-node}
KCAT_TIMEOUT=${COMPAT_CLIENT_TIMEOUT:-60}
START_TIMEOUT=${COMPAT_START_TIMEOUT:-60}
# Reading a few hundred records back takes well under a second; a consumer
# that has not seen the end by then is stuck, not slow.
CONSUME_TIMEOUT=${COMPAT_CONSUME_TIMEOUT:-20}

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
	echo
	echo "PATTERN selects checks by name: a prefix ending at a '/' (kafka, kafka/kcat),"
	echo "an exact name, or a glob (kafka/kcat/*zstd*). Repeat --only or use commas."
}

ONLY=()
LIST=0
while (($#)); do
	case $1 in
	--only) [ $# -ge 2 ] || { usage >&2; exit 2; }; IFS=, read -r -a pats <<<"$2"; ONLY+=("${pats[@]}"); shift 2 ;;
	--only=*) IFS=, read -r -a pats <<<"${1#--only=}"; ONLY+=("${pats[@]}"); shift ;;
	--list) LIST=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "compat.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
done

# ---------------------------------------------------------------- plumbing

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
CHECKS=() # "name fn" in run order, filled by register

register() { CHECKS+=("$1 $2"); }

selected() {
	local name=$1 p
	((${#ONLY[@]})) || return 0
	for p in "${ONLY[@]}"; do
		# shellcheck disable=SC2053 # glob match on purpose
		if [[ $name == "$p" || $name == "$p"/* || $name == $p ]]; then return 0; fi
	done
	return 1
}

# fail MESSAGE [FILE...]: print a FAIL line (and the files that explain it)
# and end the check. Only call it inside a check (it exits the subshell).
fail() {
	local msg=$1 f
	shift
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "----- $(basename "$f") -----"
		tail -n 200 "$f"
		echo "-----"
	done
	echo "FAIL: $CHECK: $msg"
	exit 1
}

# skip REASON: end the check as skipped.
skip() {
	echo "SKIP: $CHECK: $1"
	exit 77
}

# logged NAME CMD...: run CMD with its output in $CHECK_DIR/NAME.log (shown
# on failure) under the client timeout; fail the check if it exits non-zero.
logged() {
	local name=$1 rc=0
	shift
	# "|| rc=$?": under the checks' errexit a bare failing command would end
	# the check before its output is shown.
	timeout "$KCAT_TIMEOUT" "$@" >"$CHECK_DIR/$name.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		((rc == 124)) && echo "(timed out after ${KCAT_TIMEOUT}s)" >>"$CHECK_DIR/$name.log"
		fail "$name exited $rc: $*" "$CHECK_DIR/$name.log"
	fi
	# Successful steps show their "ok:" lines so the log tells what was checked.
	grep -h '^ok: ' "$CHECK_DIR/$name.log" || true
}

run_checks() {
	local entry name fn start rc
	for entry in "${CHECKS[@]}"; do
		name=${entry%% *}
		fn=${entry#* }
		selected "$name" || continue
		CHECK=$name
		CHECK_DIR=$TMP/checks/${name//\//_}
		mkdir -p "$CHECK_DIR"
		echo "=== RUN   $name"
		start=$SECONDS
		(
			set -e
			"$fn"
		)
		rc=$?
		case $rc in
		0) PASSED=$((PASSED + 1)); echo "PASS: $name ($((SECONDS - start))s)" ;;
		77) SKIPPED=$((SKIPPED + 1)) ;;
		*) FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); echo "FAIL: $name ($((SECONDS - start))s, exit status $rc)" ;;
		esac
	done
}

# ------------------------------------------------------------ installation

install_deps() {
	local need=()
	command -v kcat >/dev/null 2>&1 || need+=(kcat)
	"$PY" -c 'import kafka' >/dev/null 2>&1 || need+=(python3-kafka)
	command -v "$NODE" >/dev/null 2>&1 || need+=(nodejs)
	command -v npm >/dev/null 2>&1 || need+=(npm)
	command -v curl >/dev/null 2>&1 || need+=(curl)
	if ((${#need[@]})); then
		echo "installing Debian packages: ${need[*]}"
		local sudo=()
		((EUID == 0)) || sudo=(sudo -n)
		export DEBIAN_FRONTEND=noninteractive
		if ! "${sudo[@]}" apt-get update -qq ||
			! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
			echo "compat.sh: apt-get install ${need[*]} failed" >&2
			return 1
		fi
	fi
	"$PY" -c 'import kafka' || { echo "compat.sh: $PY cannot import kafka (python3-kafka)" >&2; return 1; }

	# The npm packages (kafkajs, and whatever other check modules pinned in
	# scripts/node) come from package-lock.json through npm ci, which always
	# wipes node_modules; so it runs only when the lock file differs from the
	# one the last npm ci installed (its hash is kept in node_modules).
	local lock=$SCRIPTS/node/package-lock.json stamp=$SCRIPTS/node/node_modules/.compat-lock.sha256 want
	want=$(sha256sum <"$lock")
	if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
		echo "installing scripts/node packages with npm ci"
		(cd "$SCRIPTS/node" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error) ||
			{ echo "compat.sh: npm ci in scripts/node failed" >&2; return 1; }
		echo "$want" >"$stamp"
	fi
	want=$("$NODE" -p "require('$SCRIPTS/node/node_modules/kafkajs/package.json').version")
	echo "clients: $(kcat -V 2>&1 | grep -o 'Version [^ ]*.*librdkafka [^ ]*' | sed 's/ (.*librdkafka/, librdkafka/'), kafka-python $("$PY" -c 'import kafka; print(kafka.__version__)'), kafkajs $want (node $("$NODE" --version))"
}

# ------------------------------------------------------------ the broker

BROKER_PID=
BROKER_LOG=
DATA_DIR=${COMPAT_DATA_DIR:-}

free_ports() { # prints N free loopback ports, all bound at once so they differ
	"$PY" - "$1" <<-'EOF'
		import socket, sys
		socks = [socket.socket() for _ in range(int(sys.argv[1]))]
		for s in socks:
		    s.bind(("127.0.0.1", 0))
		print(" ".join(str(s.getsockname()[1]) for s in socks))
		for s in socks:
		    s.close()
	EOF
}

start_broker() {
	local bin=${COMPAT_SLUICE_BIN:-$TMP/sluice}
	if [ -n "${COMPAT_SLUICE_BIN:-}" ]; then
		echo "using the sluice binary $bin"
	else
		echo "building ./cmd/sluice"
		if ! (cd "$ROOT" && go build -o "$bin" ./cmd/sluice) >"$TMP/build.log" 2>&1; then
			cat "$TMP/build.log"
			echo "FAIL: broker/build: go build ./cmd/sluice failed"
			return 1
		fi
	fi
	local kport hport sport
	read -r kport hport sport <<<"$(free_ports 3)"
	DATA_DIR=$TMP/data
	BROKER_LOG=$TMP/broker.log
	BOOTSTRAP=127.0.0.1:$kport
	HTTP_ADDR=127.0.0.1:$hport
	SQS_ENDPOINT=http://127.0.0.1:$sport
	echo "starting sluice serve: kafka $BOOTSTRAP, http $HTTP_ADDR, sqs 127.0.0.1:$sport, data $DATA_DIR"
	"$bin" serve --data-dir "$DATA_DIR" --kafka-addr "$BOOTSTRAP" \
		--http-addr "$HTTP_ADDR" --sqs-addr "127.0.0.1:$sport" \
		--set "alert.compat-dlq.kind=dlq_depth" --set "alert.compat-dlq.target=dash-jobs-$RUN" \
		--set "alert.compat-dlq.threshold=5" --set "alert.compat-dlq.for=2s" \
		</dev/null >"$BROKER_LOG" 2>&1 &
	BROKER_PID=$!
	local deadline=$((SECONDS + START_TIMEOUT)) code
	while :; do
		if ! kill -0 "$BROKER_PID" 2>/dev/null; then
			wait "$BROKER_PID"
			echo "broker exited with status $? before answering /healthz; its log:"
			cat "$BROKER_LOG"
			BROKER_PID=
			echo "FAIL: broker/start: sluice serve exited during start-up"
			return 1
		fi
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$HTTP_ADDR/healthz" || true)
		[ "$code" = 200 ] && break
		if ((SECONDS >= deadline)); then
			echo "broker log:"
			cat "$BROKER_LOG"
			echo "FAIL: broker/start: GET /healthz did not answer 200 within ${START_TIMEOUT}s (last: ${code:-none})"
			return 1
		fi
		sleep 0.2
	done
	echo "broker up (pid $BROKER_PID) after $((SECONDS - deadline + START_TIMEOUT))s"
}

# Runs at exit whatever happened: a broker still running is stopped (TERM,
# then KILL after 10 s) and the temp dir goes unless COMPAT_KEEP=1.
cleanup() {
	if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
		kill -TERM "$BROKER_PID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$BROKER_PID" 2>/dev/null && echo "broker did not stop on SIGTERM; killed"
		wait "$BROKER_PID" 2>/dev/null
	fi
	if [ "${COMPAT_KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}

# ------------------------------------------------------------ helpers for checks

has_apis() { # has_apis KEY...: the broker advertises every API key given
	local k
	for k in "$@"; do grep -q "^$k " "$TMP/apiversions" || return 1; done
}

create_topic() { # create_topic TOPIC PARTITIONS (with kafka-python's admin client)
	logged "create-$1" "$PY" -u "$SCRIPTS/py/kafka_python_check.py" create-topic "$BOOTSTRAP" "$1" "$2"
}

keyed_lines() { # keyed_lines PREFIX COUNT: "key:value" lines, values compressible
	# Each value compresses well on its own: librdkafka sends a batch
	# uncompressed when compressing makes it larger, which a batch of one
	# short record would.
	local i pad
	pad=$(printf 'abcdefgh%.0s' {1..24})
	for ((i = 0; i < $2; i++)); do
		printf '%s-key-%04d:%s value %04d %s\n' "$1" "$i" "$1" "$i" "$pad"
	done
}

kcat_produce() { # kcat_produce NAME TOPIC FILE [kcat args...]: keyed lines from FILE
	local name=$1 topic=$2 file=$3
	shift 3
	logged "$name" kcat -P -b "$BOOTSTRAP" -t "$topic" -K: -X acks=all -d feature,msg "$@" -l "$file"
}

# kcat_consume TOPIC FORMAT OUT: every partition from the beginning to the end
# (-e: exit once each partition reports end-of-partition, which librdkafka
# learns from a Fetch at the high watermark). The debug log is kept, and on
# failure its errors and warnings are shown, counted, then its last lines.
kcat_consume() {
	local rc=0
	timeout "$CONSUME_TIMEOUT" kcat -C -b "$BOOTSTRAP" -t "$1" -e -o beginning -q -f "$2" -d fetch,protocol \
		>"$3" 2>"$3.debug" || rc=$?
	if ((rc != 0)); then
		{
			((rc == 124)) && echo "timed out after ${CONSUME_TIMEOUT}s, having read $(wc -l <"$3") lines"
			echo "errors and warnings (count, message without timestamp):"
			grep -E '^%[0-4]\|' "$3.debug" | sed -E 's/^(%[0-9])\|[0-9.]+\|/\1|/' | sort | uniq -c | sort -rn | head -20
			echo "last debug lines:"
			tail -n 15 "$3.debug"
		} >"$3.summary"
		fail "kcat -C -e -t $1 exited $rc" "$3.summary"
	fi
}

# codec_checks TOPIC PARTITION CODEC [kafkawire options]: the batches the
# broker serves (raw Fetch v4) and, when the data dir is known, the batches
# in its segment files really use CODEC.
codec_checks() {
	local topic=$1 part=$2 codec=$3
	shift 3
	local explain=()
	[ -f "$CHECK_DIR/produce.log" ] && grep -hE 'not compressing|does not support compression|Feature (LZ4|ZSTD|MsgVer2)|ApiKey (Produce|Fetch|FindCoordinator) ' \
		"$CHECK_DIR/produce.log" >"$CHECK_DIR/librdkafka-compression.log" &&
		explain=("$CHECK_DIR/librdkafka-compression.log")
	"$PY" -u "$SCRIPTS/py/kafkawire.py" fetch-codec "$BOOTSTRAP" "$topic" "$part" "$codec" "$@" >"$CHECK_DIR/fetch-codec.log" 2>&1 ||
		fail "the batches served for ${topic}[$part] are not all $codec (see above)" "$CHECK_DIR/fetch-codec.log" "${explain[@]}"
	grep -h "^ok: " "$CHECK_DIR/fetch-codec.log" || true
	if [ -n "$DATA_DIR" ]; then
		"$PY" -u "$SCRIPTS/py/kafkawire.py" disk-codec "$DATA_DIR/topics/$topic-$part" "$codec" "$@" >"$CHECK_DIR/disk-codec.log" 2>&1 ||
			fail "the batches stored for ${topic}[$part] are not all $codec (see above)" "$CHECK_DIR/disk-codec.log" "${explain[@]}"
		grep -h "^ok: " "$CHECK_DIR/disk-codec.log" || true
	fi
}

same_lines() { # same_lines WANT GOT WHAT: exact comparison, diff on mismatch
	if ! diff -u "$1" "$2" >"$CHECK_DIR/diff.log"; then
		fail "$3: records read back differ from those produced ($(wc -l <"$2") lines read, $(wc -l <"$1") produced)" "$CHECK_DIR/diff.log"
	fi
	echo "ok: $3: $(wc -l <"$1") records read back exactly"
}

# Check modules: scripts/compat_<area>.sh defines its checks and a function
# compat_<area> that registers them (compat_kafka.sh, compat_sqs.sh, …).
for module in "$SCRIPTS"/compat_*.sh; do
	# shellcheck source=/dev/null
	source "$module"
	area=${module##*/compat_}
	area=${area%.sh}
	if declare -F "compat_$area" >/dev/null; then "compat_$area"; fi
done

# ------------------------------------------------------------ main

if ((LIST)); then
	for entry in "${CHECKS[@]}"; do echo "${entry%% *}"; done
	echo "broker/shutdown (only when compat.sh started the broker)"
	exit 0
fi
nselected=0
for entry in "${CHECKS[@]}" "broker/shutdown -"; do selected "${entry%% *}" && nselected=$((nselected + 1)); done
if ((nselected == 0)); then
	echo "compat.sh: --only ${ONLY[*]} selects no check (see --list)" >&2
	exit 2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-compat.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck disable=SC2034 # used by the check modules
RUN=$(date +%s)-$$ # name suffix, so that reruns against one broker do not collide

install_deps || { echo "0 passed, 1 failed"; exit 1; }

if [ -n "${COMPAT_BOOTSTRAP:-}" ]; then
	BOOTSTRAP=$COMPAT_BOOTSTRAP
	echo "using the broker at $BOOTSTRAP${DATA_DIR:+ (data dir $DATA_DIR)}"
else
	start_broker || { echo "0 passed, 1 failed"; exit 1; }
fi

if ! "$PY" "$SCRIPTS/py/kafkawire.py" api-versions "$BOOTSTRAP" >"$TMP/apiversions" 2>&1; then
	cat "$TMP/apiversions"
	[ -n "$BROKER_LOG" ] && cat "$BROKER_LOG"
	echo "FAIL: kafka/api-versions: ApiVersions v0 to $BOOTSTRAP failed"
	echo "0 passed, 1 failed"
	exit 1
fi

run_checks

# The broker started here must stop cleanly on SIGTERM and log no panic.
if [ -n "$BROKER_PID" ] && selected broker/shutdown; then
	echo "=== RUN   broker/shutdown"
	kill -TERM "$BROKER_PID"
	rc=timeout
	for _ in $(seq 200); do
		if ! kill -0 "$BROKER_PID" 2>/dev/null; then wait "$BROKER_PID"; rc=$?; break; fi
		sleep 0.1
	done
	[ "$rc" = timeout ] || BROKER_PID=
	if [ "$rc" = 0 ] && ! grep -qE '^panic:|DATA RACE|^fatal error:' "$BROKER_LOG"; then
		PASSED=$((PASSED + 1))
		echo "PASS: broker/shutdown"
	else
		FAILED=$((FAILED + 1))
		FAILED_NAMES+=(broker/shutdown)
		echo "FAIL: broker/shutdown: after SIGTERM: exit status $rc (want 0 within 20s), or a panic/race in its log"
	fi
fi

if ((FAILED)) && [ -n "$BROKER_LOG" ] && [ -f "$BROKER_LOG" ]; then
	echo "----- broker log (last 400 lines of $(wc -l <"$BROKER_LOG")) -----"
	tail -n 400 "$BROKER_LOG"
	echo "-----"
fi
((FAILED)) && echo "failed checks: ${FAILED_NAMES[*]}"
((SKIPPED)) && echo "skipped checks: $SKIPPED (see SKIP lines)"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
