# shellcheck shell=bash
# SQS checks of the cross-client suite; sourced by compat.sh, which supplies
# RUN, PY, NODE, SCRIPTS, TMP, BROKER_LOG, KCAT_TIMEOUT and the helpers
# (fail, skip, logged, register). Calling compat_sqs registers the checks.
#
# The broker's SQS endpoint is $SQS_ENDPOINT (e.g. http://127.0.0.1:9324),
# else $COMPAT_SQS_ENDPOINT, else the address `sluice serve` logged
# ("broker: serving SQS" addr=…) in $BROKER_LOG.
#
# Clients and the wire form each one speaks:
#   awscli 2.9 (Debian 12 `awscli`)           Query (form-encoded, XML)
#   boto3 1.26 (Debian 12 `python3-boto3`)    Query
#   @aws-sdk/client-sqs (npm, pinned)         JSON 1.0
# (aws-sdk-go-v2, JSON 1.0, runs in the Go tests of internal/sqs.)
# Each creates queues, sends with attributes, receives, deletes and redrives
# a dead-letter queue. What they need is installed on first use.

SQS_DEBS=(awscli python3-boto3)
AWS_BIN=/usr/bin/aws # Debian's; a pyenv or pip `aws` may come first on PATH

# sqs_endpoint sets SQS_ENDPOINT or skips the check.
sqs_endpoint() {
	SQS_ENDPOINT=${SQS_ENDPOINT:-${COMPAT_SQS_ENDPOINT:-}}
	if [ -z "$SQS_ENDPOINT" ] && [ -n "${BROKER_LOG:-}" ] && [ -f "$BROKER_LOG" ]; then
		local addr
		addr=$(grep -m1 -o 'serving SQS.*addr=[^ ]*' "$BROKER_LOG" | sed 's/.*addr=//')
		[ -n "$addr" ] && SQS_ENDPOINT=http://$addr
	fi
	[ -n "$SQS_ENDPOINT" ] || skip "no SQS endpoint (set SQS_ENDPOINT or COMPAT_SQS_ENDPOINT; the broker log names none)"
	case $SQS_ENDPOINT in *://*) ;; *) SQS_ENDPOINT=http://$SQS_ENDPOINT ;; esac
	export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
	# No ~/.aws files: the checks must not depend on the machine's profile.
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
}

# sqs_need_debs installs awscli and python3-boto3 when missing.
sqs_need_debs() {
	if [ -x "$AWS_BIN" ] && "$PY" -c 'import boto3' >/dev/null 2>&1; then return 0; fi
	echo "installing Debian packages: ${SQS_DEBS[*]}"
	local sudo=()
	((EUID == 0)) || sudo=(sudo -n)
	export DEBIAN_FRONTEND=noninteractive
	{ "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${SQS_DEBS[@]}"; } \
		>"$CHECK_DIR/apt.log" 2>&1 || fail "apt-get install ${SQS_DEBS[*]} failed" "$CHECK_DIR/apt.log"
	"$PY" -c 'import boto3' || fail "$PY cannot import boto3 after installing python3-boto3"
}

# sqs_need_node installs @aws-sdk/client-sqs (pinned by package-lock.json)
# when node_modules holds another version.
sqs_need_node() {
	local want have
	want=$("$NODE" -p "require('$SCRIPTS/node/package-lock.json').packages['node_modules/@aws-sdk/client-sqs'].version")
	have=$("$NODE" -p "require('$SCRIPTS/node/node_modules/@aws-sdk/client-sqs/package.json').version" 2>/dev/null || true)
	if [ "$want" != "$have" ]; then
		echo "installing @aws-sdk/client-sqs $want with npm ci"
		(cd "$SCRIPTS/node" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error) >"$CHECK_DIR/npm.log" 2>&1 ||
			fail "npm ci in scripts/node failed" "$CHECK_DIR/npm.log"
	fi
}

# awsq NAME ARGS...: one AWS CLI call through logged, JSON output in
# $CHECK_DIR/NAME.log.
awsq() {
	local name=$1
	shift
	logged "$name" "$AWS_BIN" --endpoint-url "$SQS_ENDPOINT" --output json "$@"
}

# jget FILE EXPR: evaluate a Python expression over the JSON document d.
jget() {
	"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# AWS's message attribute digest, computed independently of the broker.
md5_attrs() { # md5_attrs JSON_MAP
	"$PY" -c '
import hashlib, json, struct, sys, base64
attrs = json.loads(sys.argv[1]); buf = b""
for n in sorted(attrs):
    a = attrs[n]; t = a["DataType"].encode(); nb = n.encode()
    buf += struct.pack(">I", len(nb)) + nb + struct.pack(">I", len(t)) + t
    v = base64.b64decode(a["BinaryValue"]) if "BinaryValue" in a else a["StringValue"].encode()
    buf += (b"\x02" if "BinaryValue" in a else b"\x01") + struct.pack(">I", len(v)) + v
print(hashlib.md5(buf).hexdigest())' "$1"
}

# ---------------------------------------------------------------- AWS CLI (Query)

check_sqs_awscli() {
	sqs_endpoint
	sqs_need_debs
	echo "$("$AWS_BIN" --version)"
	local L=$CHECK_DIR
	# It must really be the Query protocol: the request body is a form.
	"$AWS_BIN" --endpoint-url "$SQS_ENDPOINT" --debug sqs list-queues >"$L/debug.log" 2>&1 || fail "aws sqs list-queues failed" "$L/debug.log"
	grep -q "'body': {'Action': 'ListQueues', 'Version': '2012-11-05'}" "$L/debug.log" &&
		grep -q "Content-Type': 'application/x-www-form-urlencoded" "$L/debug.log" ||
		fail "awscli did not send a Query (form-encoded Action=ListQueues) request" "$L/debug.log"
	echo "ok: awscli sends Query requests (form-encoded Action=ListQueues&Version=2012-11-05)"

	awsq dlq sqs create-queue --queue-name "compat-cli-dlq-$RUN"
	local dlq q arn
	dlq=$(jget "$L/dlq.log" 'd["QueueUrl"]')
	awsq arn sqs get-queue-attributes --queue-url "$dlq" --attribute-names QueueArn
	arn=$(jget "$L/arn.log" 'd["Attributes"]["QueueArn"]')
	local policy="{\\\"deadLetterTargetArn\\\":\\\"$arn\\\",\\\"maxReceiveCount\\\":\\\"1\\\"}"
	awsq create sqs create-queue --queue-name "compat-cli-$RUN" --attributes "{\"RedrivePolicy\":\"$policy\",\"VisibilityTimeout\":\"30\"}"
	q=$(jget "$L/create.log" 'd["QueueUrl"]')
	case $q in */"compat-cli-$RUN") ;; *) fail "queue URL $q does not end in the queue name" ;; esac
	echo "ok: create-queue (with a RedrivePolicy to $arn) -> $q"

	local attrs='{"color":{"DataType":"String","StringValue":"blue"},"n":{"DataType":"Number","StringValue":"7"},"b":{"DataType":"Binary","BinaryValue":"AAH+/w=="}}'
	awsq send sqs send-message --queue-url "$q" --message-body "hello from awscli" --message-attributes "$attrs"
	[ "$(jget "$L/send.log" 'd["MD5OfMessageBody"]')" = "$(printf %s "hello from awscli" | md5sum | cut -d' ' -f1)" ] || fail "MD5OfMessageBody" "$L/send.log"
	[ "$(jget "$L/send.log" 'd["MD5OfMessageAttributes"]')" = "$(md5_attrs "$attrs")" ] || fail "MD5OfMessageAttributes" "$L/send.log"
	echo "ok: send-message with String/Number/Binary attributes; both digests match"

	awsq recv sqs receive-message --queue-url "$q" --attribute-names All --message-attribute-names All --wait-time-seconds 5
	[ "$(jget "$L/recv.log" 'd["Messages"][0]["Body"]')" = "hello from awscli" ] || fail "received body" "$L/recv.log"
	[ "$(jget "$L/recv.log" 'd["Messages"][0]["MessageAttributes"]["color"]["StringValue"]')" = blue ] || fail "received attribute" "$L/recv.log"
	[ "$(jget "$L/recv.log" 'd["Messages"][0]["MessageAttributes"]["b"]["BinaryValue"]')" = "AAH+/w==" ] || fail "received binary attribute" "$L/recv.log"
	[ "$(jget "$L/recv.log" 'd["Messages"][0]["Attributes"]["ApproximateReceiveCount"]')" = 1 ] || fail "ApproximateReceiveCount" "$L/recv.log"
	[ "$(jget "$L/recv.log" 'd["Messages"][0]["MD5OfMessageAttributes"]')" = "$(md5_attrs "$attrs")" ] || fail "received MD5OfMessageAttributes" "$L/recv.log"
	awsq del sqs delete-message --queue-url "$q" --receipt-handle "$(jget "$L/recv.log" 'd["Messages"][0]["ReceiptHandle"]')"
	echo "ok: receive-message (attributes, system attributes, digest) and delete-message"

	awsq poison sqs send-message --queue-url "$q" --message-body poison
	awsq recv1 sqs receive-message --queue-url "$q" --wait-time-seconds 5
	awsq vis sqs change-message-visibility --queue-url "$q" --visibility-timeout 0 --receipt-handle "$(jget "$L/recv1.log" 'd["Messages"][0]["ReceiptHandle"]')"
	awsq recv2 sqs receive-message --queue-url "$q" --wait-time-seconds 1
	[ -s "$L/recv2.log" ] && [ "$(jget "$L/recv2.log" 'len(d.get("Messages", []))')" != 0 ] && fail "the poison message was handed out twice" "$L/recv2.log"
	local n=0
	for _ in $(seq 50); do
		awsq depth sqs get-queue-attributes --queue-url "$dlq" --attribute-names ApproximateNumberOfMessages
		n=$(jget "$L/depth.log" 'd["Attributes"]["ApproximateNumberOfMessages"]')
		[ "$n" = 1 ] && break
		sleep 0.2
	done
	[ "$n" = 1 ] || fail "the DLQ holds $n messages, want 1" "$L/depth.log"
	awsq sources sqs list-dead-letter-source-queues --queue-url "$dlq"
	[ "$(jget "$L/sources.log" 'd["queueUrls"]')" = "['$q']" ] || fail "list-dead-letter-source-queues" "$L/sources.log"
	echo "ok: poison message in the DLQ after maxReceiveCount 1; list-dead-letter-source-queues names the source"

	if "$AWS_BIN" sqs start-message-move-task help >/dev/null 2>&1; then
		awsq move sqs start-message-move-task --source-arn "$arn"
		echo "ok: start-message-move-task"
	else
		# awscli 2.9 predates message move tasks: redrive as its users do.
		awsq dlqrecv sqs receive-message --queue-url "$dlq" --wait-time-seconds 5 --attribute-names All
		[ "$(jget "$L/dlqrecv.log" 'd["Messages"][0]["Body"]')" = poison ] || fail "DLQ body" "$L/dlqrecv.log"
		awsq resend sqs send-message --queue-url "$q" --message-body poison
		awsq dlqdel sqs delete-message --queue-url "$dlq" --receipt-handle "$(jget "$L/dlqrecv.log" 'd["Messages"][0]["ReceiptHandle"]')"
		echo "ok: awscli $("$AWS_BIN" --version | cut -d' ' -f1 | cut -d/ -f2) has no start-message-move-task; redrove with receive/send/delete"
	fi
	for _ in $(seq 50); do
		awsq back sqs receive-message --queue-url "$q" --wait-time-seconds 1
		[ -s "$L/back.log" ] && [ "$(jget "$L/back.log" 'len(d.get("Messages", []))')" != 0 ] && break
	done
	[ "$(jget "$L/back.log" 'd["Messages"][0]["Body"]')" = poison ] || fail "the redriven message is not back in the source queue" "$L/back.log"
	awsq purge sqs purge-queue --queue-url "$q"
	awsq rmq sqs delete-queue --queue-url "$q"
	awsq rmdlq sqs delete-queue --queue-url "$dlq"
	echo "ok: redriven message received from the source; purge-queue, delete-queue"
}

# ---------------------------------------------------------------- boto3 (Query)

b3() { # b3 NAME SUBCOMMAND: boto3_sqs_check.py through logged
	logged "$1" "$PY" -u "$SCRIPTS/py/boto3_sqs_check.py" "$2" "$SQS_ENDPOINT" "$RUN"
}

check_sqs_boto3() {
	sqs_endpoint
	sqs_need_debs
	b3 roundtrip roundtrip
}

check_sqs_boto3_fifo() {
	sqs_endpoint
	sqs_need_debs
	b3 fifo fifo
}

check_sqs_boto3_errors() {
	sqs_endpoint
	sqs_need_debs
	b3 errors errors
}

# ---------------------------------------------------------------- @aws-sdk/client-sqs (JSON)

check_sqs_node() {
	sqs_endpoint
	sqs_need_node
	logged roundtrip "$NODE" "$SCRIPTS/node/sqs_check.js" roundtrip "$SQS_ENDPOINT" "$RUN"
}

# ---------------------------------------------------------------- sluice queue / dlq

# The CLI against the broker: `sluice queue` and a filtered `sluice dlq
# redrive` of messages that awscli put into a DLQ.
check_sqs_sluice_cli() {
	sqs_endpoint
	sqs_need_debs
	local bin=${COMPAT_SLUICE_BIN:-$TMP/sluice}
	[ -x "$bin" ] || skip "no sluice binary at $bin"
	local L=$CHECK_DIR s=(--sqs-endpoint "$SQS_ENDPOINT")
	logged dlq "$bin" queue create "compat-scli-dlq-$RUN" "${s[@]}"
	logged src "$bin" queue create "compat-scli-$RUN" --dlq "compat-scli-dlq-$RUN" --max-receive-count 1 "${s[@]}"
	local dlq
	dlq=$(grep -o 'http[^ ]*' "$L/dlq.log")
	local i
	for i in 1 2 3 4; do
		local kind=keep
		((i % 2)) && kind=retry
		awsq "send$i" sqs send-message --queue-url "$dlq" --message-body "job $i" \
			--message-attributes "{\"kind\":{\"DataType\":\"String\",\"StringValue\":\"$kind\"}}"
	done
	logged list "$bin" queue list --prefix "compat-scli-" "${s[@]}"
	grep -q "compat-scli-dlq-$RUN .* 4 " "$L/list.log" || fail "sluice queue list does not show 4 visible messages in the DLQ" "$L/list.log"
	logged dlqs "$bin" dlq list "${s[@]}"
	grep -q "compat-scli-dlq-$RUN.*compat-scli-$RUN" "$L/dlqs.log" || fail "sluice dlq list does not show the DLQ and its source" "$L/dlqs.log"
	# dlq peek reads through the broker's admin API, which leases nothing.
	logged peek "$bin" dlq peek "compat-scli-dlq-$RUN" --max 10 --json --http-addr "${HTTP_ADDR:-127.0.0.1:9080}" "${s[@]}"
	[ "$(jget "$L/peek.log" 'len(d)')" = 4 ] || fail "sluice dlq peek shows $(jget "$L/peek.log" 'len(d)') messages, want 4" "$L/peek.log"
	[ "$(jget "$L/peek.log" 'sum(m["receive_count"] for m in d)')" = 0 ] || fail "sluice dlq peek raised receive counts" "$L/peek.log"
	logged dry "$bin" dlq redrive "compat-scli-dlq-$RUN" --match-attr kind=retry --dry-run "${s[@]}"
	grep -q "2 of 4 messages scanned .* match" "$L/dry.log" || fail "dry run did not count 2 of 4" "$L/dry.log"
	logged redrive "$bin" dlq redrive "compat-scli-dlq-$RUN" --match-body 'job [13]' --match-attr kind=retry --rate 50 "${s[@]}"
	grep -q "Moved 2 of 4" "$L/redrive.log" || fail "filtered redrive did not move 2 of 4" "$L/redrive.log"
	logged stats "$bin" queue stats "compat-scli-$RUN" --json "${s[@]}"
	[ "$(jget "$L/stats.log" 'd["attributes"]["ApproximateNumberOfMessages"]')" = 2 ] || fail "the source does not hold the 2 redriven messages" "$L/stats.log"
	logged dstats "$bin" queue stats "compat-scli-dlq-$RUN" --json "${s[@]}"
	[ "$(jget "$L/dstats.log" 'd["attributes"]["ApproximateNumberOfMessages"]')" = 2 ] || fail "the DLQ does not keep the 2 others visible" "$L/dstats.log"
	# These were sent straight to the DLQ, so they have no recorded source:
	# the move task needs a destination.
	logged all "$bin" dlq redrive "compat-scli-dlq-$RUN" --to "compat-scli-$RUN" "${s[@]}"
	grep -q "Moved 2 messages" "$L/all.log" || fail "redrive of the rest (a move task) did not move 2" "$L/all.log"
	logged purge "$bin" queue purge "compat-scli-$RUN" "${s[@]}"
	logged rm1 "$bin" queue delete "compat-scli-$RUN" "${s[@]}"
	logged rm2 "$bin" queue delete "compat-scli-dlq-$RUN" "${s[@]}"
	echo "ok: sluice queue create/list/stats/purge/delete, dlq list/peek, a filtered redrive (2 of 4, dry run first) and a move-task redrive"
}

# compat_sqs registers the SQS checks.
compat_sqs() {
	register sqs/awscli check_sqs_awscli
	register sqs/boto3/roundtrip check_sqs_boto3
	register sqs/boto3/fifo check_sqs_boto3_fifo
	register sqs/boto3/errors check_sqs_boto3_errors
	register sqs/node/roundtrip check_sqs_node
	register sqs/sluice-cli check_sqs_sluice_cli
}
