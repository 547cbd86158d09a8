package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluice-mq/sluice/broker"
)

// validatesConfigs is whether the test broker checks config values (kfake
// accepts anything); set by startBroker.
var validatesConfigs bool

// envTestBroker selects the broker the tests run against: unset for an
// in-process Sluice broker (the one that matters), "kfake" for franz-go's
// fake broker, the reference Sluice is compared with.
const envTestBroker = "SLUICE_CLI_TEST_BROKER"

// startBroker starts a Kafka-protocol broker for one test and returns its
// address.
func startBroker(t *testing.T) string {
	t.Helper()
	if os.Getenv(envTestBroker) == "kfake" {
		return startKfake(t)
	}
	validatesConfigs = true
	b, err := broker.Open(broker.Config{
		DataDir:   t.TempDir(),
		KafkaAddr: "127.0.0.1:0",
		SQSAddr:   broker.Disabled,
		HTTPAddr:  broker.Disabled,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("broker close: %v", err)
		}
	})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	return b.Addrs().Kafka
}

func startKfake(t *testing.T) string {
	t.Helper()
	validatesConfigs = false
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// result is what one command invocation printed and returned.
type result struct {
	stdout, stderr string
	err            error
}

// sluice runs one subcommand in-process, as Main would, with a deadline so a
// hung command fails the test instead of stalling it.
func sluice(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return sluiceCtx(ctx, t, args...)
}

func sluiceCtx(ctx context.Context, t *testing.T, args ...string) result {
	t.Helper()
	c, ok := commands[args[0]]
	if !ok {
		t.Fatalf("no command %q", args[0])
	}
	var out, errb bytes.Buffer
	err := c.run(ctx, args[1:], &out, &errb)
	return result{out.String(), errb.String(), err}
}

// ok fails the test unless the command succeeded.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.err != nil {
		t.Fatalf("command failed: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	return r
}

// fails fails the test unless the command failed with an error containing want.
func (r result) fails(t *testing.T, want string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("command succeeded, want error containing %q\nstdout:\n%s", want, r.stdout)
	}
	if !strings.Contains(r.err.Error(), want) {
		t.Fatalf("error %q does not contain %q", r.err, want)
	}
}

func mustContain(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("output does not contain %q:\n%s", w, s)
		}
	}
}

// configValue finds key in the CONFIG table of `topic describe` and returns
// its value and source columns.
func configValue(t *testing.T, describe, key string) (value, source string) {
	t.Helper()
	for line := range strings.Lines(describe) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == key {
			return f[1], f[2]
		}
	}
	t.Fatalf("config %s not in:\n%s", key, describe)
	return "", ""
}

func TestTopicLifecycle(t *testing.T) {
	noLeaks(t)
	b := startBroker(t)

	r := sluice(t, "topic", "create", "orders", "--partitions", "3", "--config", "retention.ms=3600000", "-b", b).ok(t)
	mustContain(t, r.stdout, "Created topic orders with 3 partitions")

	sluice(t, "topic", "create", "orders", "--bootstrap", b).fails(t, "TOPIC_ALREADY_EXISTS")
	r = sluice(t, "topic", "create", "orders", "--if-not-exists", "--bootstrap", b).ok(t)
	mustContain(t, r.stderr, "already exists")
	sluice(t, "topic", "create", "--bootstrap", b, "second").ok(t)

	r = sluice(t, "topic", "list", "--bootstrap", b).ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TOPIC") {
		t.Fatalf("list:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[1]); f[0] != "orders" || f[1] != "3" {
		t.Fatalf("list row %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "second" {
		t.Fatalf("list row %q", lines[2])
	}

	r = sluice(t, "topic", "list", "--json", "--bootstrap", b).ok(t)
	var listed []topicListEntry
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	if len(listed) != 2 || listed[0].Topic != "orders" || listed[0].Partitions != 3 || listed[0].ID == "" {
		t.Fatalf("list --json: %+v", listed)
	}

	r = sluice(t, "topic", "describe", "orders", "--bootstrap", b).ok(t)
	mustContain(t, r.stdout, "Topic: orders", "Partitions: 3", "PARTITION", "START-OFFSET", "CONFIG")
	if v, src := configValue(t, r.stdout, "retention.ms"); v != "3600000" || src != "topic" {
		t.Fatalf("retention.ms = %s (%s)", v, src)
	}

	r = sluice(t, "topic", "alter", "orders", "--config", "retention.ms=7200000", "--config", "max.message.bytes=2000000", "--bootstrap", b).ok(t)
	mustContain(t, r.stdout, "Altered topic orders", "set retention.ms=7200000")
	r = sluice(t, "topic", "describe", "orders", "--json", "--bootstrap", b).ok(t)
	var info topicInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("describe --json: %v\n%s", err, r.stdout)
	}
	if len(info.Partitions) != 3 || info.Partitions[2].Partition != 2 || info.Partitions[0].EndOffset != 0 {
		t.Fatalf("describe --json partitions: %+v", info.Partitions)
	}
	got := map[string]string{}
	for _, c := range info.Configs {
		if c.Value != nil {
			got[c.Name] = *c.Value + "/" + c.Source
		}
	}
	if got["retention.ms"] != "7200000/topic" || got["max.message.bytes"] != "2000000/topic" {
		t.Fatalf("configs after alter: retention.ms=%s max.message.bytes=%s", got["retention.ms"], got["max.message.bytes"])
	}

	sluice(t, "topic", "alter", "orders", "--delete-config", "max.message.bytes", "--bootstrap", b).ok(t)
	r = sluice(t, "topic", "alter", "orders", "--partitions", "4", "--bootstrap", b).ok(t)
	mustContain(t, r.stdout, "partitions=4")
	r = sluice(t, "topic", "describe", "orders", "--bootstrap", b).ok(t)
	mustContain(t, r.stdout, "Partitions: 4")
	if _, src := configValue(t, r.stdout, "max.message.bytes"); src == "topic" {
		t.Fatalf("max.message.bytes still a topic override after --delete-config:\n%s", r.stdout)
	}
	r = sluice(t, "topic", "describe", "orders", "--overrides", "--bootstrap", b).ok(t)
	if strings.Contains(r.stdout, "max.message.bytes") || !strings.Contains(r.stdout, "retention.ms") {
		t.Fatalf("describe --overrides:\n%s", r.stdout)
	}

	if validatesConfigs {
		sluice(t, "topic", "alter", "orders", "--config", "retention.ms=oops", "--bootstrap", b).fails(t, "INVALID_CONFIG")
	}

	r = sluice(t, "topic", "delete", "orders", "second", "--bootstrap", b).ok(t)
	mustContain(t, r.stdout, "Deleted topic orders.", "Deleted topic second.")
	sluice(t, "topic", "describe", "orders", "--bootstrap", b).fails(t, "UNKNOWN_TOPIC_OR_PARTITION")
	sluice(t, "topic", "delete", "orders", "--bootstrap", b).fails(t, "UNKNOWN_TOPIC_OR_PARTITION")
	sluice(t, "topic", "delete", "orders", "--if-exists", "--bootstrap", b).ok(t)
	r = sluice(t, "topic", "list", "--bootstrap", b).ok(t)
	if r.stdout != "" {
		t.Fatalf("list after delete:\n%s", r.stdout)
	}
}

func TestTopicUsageErrors(t *testing.T) {
	// None of these reach a broker: the address is never dialled.
	const b = "127.0.0.1:1"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic"}, "missing command"},
		{[]string{"topic", "frobnicate"}, "unknown command"},
		{[]string{"topic", "create", "-b", b}, "exactly one topic name"},
		{[]string{"topic", "create", "x", "--partitions", "0", "-b", b}, "--partitions 0"},
		{[]string{"topic", "create", "x", "--config", "novalue", "-b", b}, "want key=value"},
		{[]string{"topic", "create", "x", "--config", "a=1", "--config", "a=2", "-b", b}, "given twice"},
		{[]string{"topic", "alter", "x", "-b", b}, "nothing to change"},
		{[]string{"topic", "alter", "x", "--config", "a=1", "--delete-config", "a", "-b", b}, "both set and deleted"},
		{[]string{"topic", "describe", "-b", b}, "at least one topic"},
		{[]string{"topic", "list", "extra", "-b", b}, "unexpected argument"},
		{[]string{"topic", "list", "--nope", "-b", b}, "flag provided but not defined"},
	} {
		sluice(t, tc.args...).fails(t, tc.want)
	}
	if r := sluice(t, "topic", "create", "-h"); !errors.Is(r.err, flag.ErrHelp) || !strings.Contains(r.stderr, "-partitions") {
		t.Fatalf("-h: err %v stderr %q", r.err, r.stderr)
	}
}

func TestBootstrapFromEnv(t *testing.T) {
	b := startBroker(t)
	t.Setenv(envKafkaAddr, b)
	sluice(t, "topic", "create", "fromenv").ok(t)
	r := sluice(t, "topic", "list").ok(t)
	mustContain(t, r.stdout, "fromenv")
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		n       int
		from    string
		verbose bool
	}{
		{[]string{"a", "-n", "3", "b"}, []string{"a", "b"}, 3, "", false},
		{[]string{"--from", "-10", "t"}, []string{"t"}, 0, "-10", false},
		{[]string{"--from=-10", "-v", "t"}, []string{"t"}, 0, "-10", true},
		{[]string{"t", "-v", "--", "-n", "-"}, []string{"t", "-n", "-"}, 0, "", true},
		{[]string{"-", "--n=4"}, []string{"-"}, 4, "", false},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		n := fs.Int("n", 0, "")
		from := fs.String("from", "", "")
		v := fs.Bool("v", false, "")
		pos, err := parseArgs(fs, tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if strings.Join(pos, "|") != strings.Join(tc.pos, "|") || *n != tc.n || *from != tc.from || *v != tc.verbose {
			t.Fatalf("%q: pos %q n %d from %q v %v", tc.args, pos, *n, *from, *v)
		}
	}
}

func TestExitCodes(t *testing.T) {
	b := startBroker(t)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"topic", "describe", "missing", "-b", b}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	// Main strips the package prefix; the Kafka error name must survive.
	mustContain(t, errb.String(), "sluice: topic describe \"missing\": UNKNOWN_TOPIC_OR_PARTITION")
	out.Reset()
	if code := run(t.Context(), []string{"topic", "create", "ok", "-b", b}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
}

// TestTopicAlterLegacyBroker runs alter against a broker without
// IncrementalAlterConfigs (kfake limited to its absence), where the command
// falls back to read-modify-write with the legacy AlterConfigs, and against
// one without CreatePartitions, where the error must name the missing API.
func TestTopicAlterLegacyBroker(t *testing.T) {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(44, -1) // IncrementalAlterConfigs
	vs.SetMaxKeyVersion(37, -1) // CreatePartitions
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	b := c.ListenAddrs()[0]

	sluice(t, "topic", "create", "old", "--config", "retention.ms=1000", "--config", "segment.bytes=1048576", "-b", b).ok(t)
	sluice(t, "topic", "alter", "old", "--config", "retention.ms=2000", "--delete-config", "segment.bytes", "-b", b).ok(t)
	r := sluice(t, "topic", "describe", "old", "--overrides", "-b", b).ok(t)
	// The untouched override is kept, the altered one changed, the deleted
	// one gone: legacy AlterConfigs replaces the whole set.
	if v, _ := configValue(t, r.stdout, "retention.ms"); v != "2000" || strings.Contains(r.stdout, "segment.bytes") {
		t.Fatalf("after legacy alter:\n%s", r.stdout)
	}
	sluice(t, "topic", "alter", "old", "--config", "cleanup.policy=delete", "-b", b).ok(t)
	r = sluice(t, "topic", "describe", "old", "--overrides", "-b", b).ok(t)
	if v, _ := configValue(t, r.stdout, "retention.ms"); v != "2000" {
		t.Fatalf("legacy alter lost an override:\n%s", r.stdout)
	}
	sluice(t, "topic", "alter", "old", "--partitions", "2", "-b", b).fails(t, "does not support CreatePartitions (Kafka API key 37)")
}
