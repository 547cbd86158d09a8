# shellcheck shell=bash
# Web dashboard check of the cross-client suite; sourced by compat.sh, which
# supplies RUN, NODE, SCRIPTS, TMP, BOOTSTRAP, BROKER_LOG, KCAT_TIMEOUT and
# the helpers (fail, skip, logged, register). compat_sqs.sh (sourced beside
# it) supplies sqs_endpoint. Calling compat_web registers the check.
#
# web/dashboard runs node/dashboard_check.js: Debian's chromium, driven by
# playwright-core from npm (pinned in node/package-lock.json; playwright
# never downloads a browser here), opens the dashboard that the broker
# serves at /, walks the overview, a queue, a group, a topic and a
# dead-letter queue, filters the dead letters by error text and redrives
# them through the confirmation dialog, and checks the counts on the page
# and through the admin API. Its header says what exactly it checks.
#
# Where things are:
#   the broker's HTTP address   $HTTP_ADDR (set by compat.sh when it starts
#                               the broker), else $COMPAT_HTTP_ADDR, else the
#                               address `sluice serve` logged ("serving HTTP")
#   the screenshots             $COMPAT_ARTIFACTS/screenshots if set, else
#                               ${TMPDIR:-/tmp}/sluice-compat-screenshots-$RUN
#                               (outside the suite's temp dir, which goes at
#                               exit); the check prints "screenshots: DIR"
#   chromium                    /usr/bin/chromium, installed with apt-get
#                               when missing
#
# COMPAT_WEB_BULK=N adds a queue of N messages (default 100000) and times
# paging through it in the browser; 0 leaves it out. COMPAT_WEB_TIMEOUT
# bounds the whole check (default 300 s).

CHROMIUM_BIN=/usr/bin/chromium

# web_http_addr sets HTTP_ADDR or skips the check.
web_http_addr() {
	HTTP_ADDR=${HTTP_ADDR:-${COMPAT_HTTP_ADDR:-}}
	if [ -z "$HTTP_ADDR" ] && [ -n "${BROKER_LOG:-}" ] && [ -f "$BROKER_LOG" ]; then
		HTTP_ADDR=$(grep -m1 -o 'serving HTTP.*addr=[^ ]*' "$BROKER_LOG" | sed 's/.*addr=//')
	fi
	[ -n "$HTTP_ADDR" ] || skip "no HTTP address (set HTTP_ADDR or COMPAT_HTTP_ADDR; the broker log names none)"
	HTTP_ADDR=${HTTP_ADDR#http://}
}

# web_need_chromium installs Debian's chromium when missing.
web_need_chromium() {
	[ -x "$CHROMIUM_BIN" ] && return 0
	echo "installing Debian package: chromium"
	local sudo=()
	((EUID == 0)) || sudo=(sudo -n)
	export DEBIAN_FRONTEND=noninteractive
	{ "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium; } \
		>"$CHECK_DIR/apt.log" 2>&1 || fail "apt-get install chromium failed" "$CHECK_DIR/apt.log"
	[ -x "$CHROMIUM_BIN" ] || fail "no $CHROMIUM_BIN after installing chromium" "$CHECK_DIR/apt.log"
}

# web_need_node installs the pinned npm packages (playwright-core among
# them) when node_modules holds another playwright-core. No browser is
# downloaded: playwright-core has no install step, and the variable below
# says so to any package that would.
web_need_node() {
	local want have
	want=$("$NODE" -p "require('$SCRIPTS/node/package-lock.json').packages['node_modules/playwright-core'].version")
	have=$("$NODE" -p "require('$SCRIPTS/node/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
	if [ "$want" != "$have" ]; then
		echo "installing playwright-core $want with npm ci"
		(cd "$SCRIPTS/node" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --no-update-notifier --loglevel=error) \
			>"$CHECK_DIR/npm.log" 2>&1 || fail "npm ci in scripts/node failed" "$CHECK_DIR/npm.log"
	fi
}

check_web_dashboard() {
	web_http_addr
	sqs_endpoint
	local code
	code=$(curl -s -o "$CHECK_DIR/overview.json" -m 5 -w '%{http_code}' "http://$HTTP_ADDR/api/overview" || true)
	[ "$code" = 200 ] || fail "GET http://$HTTP_ADDR/api/overview answered ${code:-nothing}, want 200" "$CHECK_DIR/overview.json"
	code=$(curl -s -o "$CHECK_DIR/index.html" -m 5 -w '%{http_code}' "http://$HTTP_ADDR/" || true)
	if [ "$code" != 200 ] || ! grep -q '<main id="main"' "$CHECK_DIR/index.html"; then
		fail "GET http://$HTTP_ADDR/ does not serve the dashboard (HTTP ${code:-nothing})" "$CHECK_DIR/index.html"
	fi
	web_need_chromium
	web_need_node
	"$CHROMIUM_BIN" --version 2>/dev/null | head -n1 || true
	local dir
	if [ -n "${COMPAT_ARTIFACTS:-}" ]; then
		dir=$COMPAT_ARTIFACTS/screenshots
	else
		dir=${TMPDIR:-/tmp}/sluice-compat-screenshots-$RUN
	fi
	mkdir -p "$dir"
	# HOME: chromium writes its crash and font caches there; keep them in the
	# check's scratch dir rather than in whatever HOME the runner has.
	KCAT_TIMEOUT=${COMPAT_WEB_TIMEOUT:-300} HOME=$CHECK_DIR logged dashboard "$NODE" "$SCRIPTS/node/dashboard_check.js" \
		--http "http://$HTTP_ADDR" --sqs "$SQS_ENDPOINT" --kafka "$BOOTSTRAP" --suffix "$RUN" \
		--out "$dir" --bulk "${COMPAT_WEB_BULK:-100000}"
	echo "screenshots: $dir"
}

# compat_web registers the dashboard check.
compat_web() {
	register web/dashboard check_web_dashboard
}
