package topic

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/logstore"
)

func TestValidateConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, value string
		want       string // canonical value; "" means refused
		reason     string // part of the refusal message
	}{
		{"retention.ms", "604800000", "604800000", ""},
		{"retention.ms", "-1", "-1", ""},
		{"retention.ms", " 0 ", "0", ""},
		{"retention.ms", "-2", "", "out of range"},
		{"retention.ms", "7d", "", "not an integer"},
		{"retention.bytes", "-1", "-1", ""},
		{"retention.bytes", "1073741824", "1073741824", ""},
		{"retention.bytes", "-5", "", "out of range"},
		{"segment.bytes", "61", "61", ""},
		{"segment.bytes", "60", "", "out of range"},
		{"segment.bytes", "4294967296", "", "out of range"},
		{"segment.ms", "0", "", "out of range"},
		{"segment.ms", "3600000", "3600000", ""},
		{"max.message.bytes", "0", "", "out of range"},
		{"max.message.bytes", "60", "", "out of range"},
		{"max.message.bytes", "1048588", "1048588", ""},
		{"flush.ms", "1000", "1000", ""},
		{"flush.ms", "-1", "", "out of range"},
		{"index.interval.bytes", "4096", "4096", ""},
		{"cleanup.policy", "delete", "delete", ""},
		{"cleanup.policy", "compact", "", "compaction is not supported"},
		{"cleanup.policy", "delete,compact", "", "compaction is not supported"},
		{"compression.type", "producer", "producer", ""},
		{"compression.type", "zstd", "", "as the producer compressed them"},
		{"message.timestamp.type", "CreateTime", "CreateTime", ""},
		{"message.timestamp.type", "LogAppendTime", "", "only CreateTime"},
		{"min.insync.replicas", "1", "1", ""},
		{"min.insync.replicas", "2", "", "single node"},
		{"sluice.flush.policy", "always", "always", ""},
		{"sluice.flush.policy", "interval", "interval", ""},
		{"sluice.flush.policy", "none", "none", ""},
		{"sluice.flush.policy", "sometimes", "", "not one of"},
		{"retention.msec", "1", "", "unknown topic config"},
		{"", "1", "", "unknown topic config"},
	}
	for _, tt := range tests {
		got, err := ValidateConfigs(map[string]string{tt.key: tt.value})
		if tt.want != "" {
			if err != nil || got[tt.key] != tt.want {
				t.Errorf("%s=%q: got %v, %v; want %q", tt.key, tt.value, got, err, tt.want)
			}
			continue
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) || ce.Key != tt.key ||
			!strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), `"`+tt.key+`"`) {
			t.Errorf("%s=%q: error %v, want ConfigError naming the key and %q", tt.key, tt.value, err, tt.reason)
		}
	}
}

func TestLogConfigMapping(t *testing.T) {
	t.Parallel()
	defaults := logstore.Config{SegmentBytes: 5000, RetentionMs: 99}
	over, err := ValidateConfigs(map[string]string{
		"retention.ms": "0", "retention.bytes": "0", "segment.ms": "10", "max.message.bytes": "2000",
		"flush.ms": "250", "index.interval.bytes": "0", "sluice.flush.policy": "interval",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := logConfig(defaults, over)
	want := logstore.Config{
		SegmentBytes: 5000, // broker default kept
		SegmentMs:    10, RetentionMs: 1, RetentionBytes: 1, IndexIntervalBytes: 1,
		MaxBatchBytes: 2000, Flush: logstore.FlushInterval, FlushInterval: 250 * time.Millisecond,
	}
	if c.SegmentBytes != want.SegmentBytes || c.SegmentMs != want.SegmentMs || c.RetentionMs != want.RetentionMs ||
		c.RetentionBytes != want.RetentionBytes || c.IndexIntervalBytes != want.IndexIntervalBytes ||
		c.MaxBatchBytes != want.MaxBatchBytes || c.Flush != want.Flush || c.FlushInterval != want.FlushInterval {
		t.Fatalf("logConfig = %+v, want %+v", c, want)
	}
	if got := logConfig(defaults, map[string]string{"flush.ms": "9223372036854775807"}).FlushInterval; got <= 0 {
		t.Fatalf("huge flush.ms overflowed to %v", got)
	}
}

func TestDescribeSources(t *testing.T) {
	t.Parallel()
	defaults := logstore.Config{RetentionMs: 3600000}
	entries := describe(defaults, map[string]string{"segment.bytes": "1048576", "min.insync.replicas": "1"})
	got := map[string]ConfigEntry{}
	for _, e := range entries {
		got[e.Key] = e
	}
	if len(got) != len(SupportedConfigs()) {
		t.Fatalf("describe lists %d configs, want %d", len(got), len(SupportedConfigs()))
	}
	check := func(key, value string, src ConfigSource) {
		t.Helper()
		if e := got[key]; e.Value != value || e.Source != src {
			t.Errorf("%s = %q (source %d), want %q (source %d)", key, e.Value, e.Source, value, src)
		}
	}
	check("segment.bytes", "1048576", SourceTopic)
	check("retention.ms", "3600000", SourceBroker)
	check("retention.bytes", "-1", SourceDefault)
	check("max.message.bytes", "1048588", SourceDefault)
	check("sluice.flush.policy", "always", SourceDefault)
	check("cleanup.policy", "delete", SourceDefault)
	check("min.insync.replicas", "1", SourceTopic)
	if !got["min.insync.replicas"].ReadOnly || got["retention.ms"].ReadOnly {
		t.Error("ReadOnly flags wrong")
	}
	if got["retention.ms"].Type != TypeLong || got["cleanup.policy"].Type != TypeList || got["retention.ms"].Doc == "" {
		t.Error("type or doc missing")
	}
	if SourceTopic.Kafka() != 1 || SourceBroker.Kafka() != 4 || SourceDefault.Kafka() != 5 {
		t.Error("Kafka source codes wrong")
	}
}

func TestAlterConfigs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tp := e.create("alt", 2, map[string]string{"retention.ms": "1000", "segment.bytes": "20000"})
	alter := func(ops []ConfigOp, replace, validate bool) error {
		return e.reg.AlterConfigs("alt", ops, replace, validate)
	}
	// Incremental: set one, delete one.
	if err := alter([]ConfigOp{{Key: "retention.bytes", Value: "5000"}, {Key: "segment.bytes", Op: OpDelete}}, false, false); err != nil {
		t.Fatal(err)
	}
	if o := tp.Overrides(); o["retention.ms"] != "1000" || o["retention.bytes"] != "5000" || o["segment.bytes"] != "" {
		t.Fatalf("overrides = %v", o)
	}
	if c := tp.Partition(1).Config(); c.RetentionBytes != 5000 || c.SegmentBytes != 1<<30 {
		t.Fatalf("live log config not updated: %+v", c)
	}
	// validateOnly changes nothing, but still validates.
	if err := alter([]ConfigOp{{Key: "retention.ms", Value: "1"}}, false, true); err != nil || tp.Overrides()["retention.ms"] != "1000" {
		t.Fatalf("validateOnly: %v, %v", err, tp.Overrides())
	}
	for _, ops := range [][]ConfigOp{
		{{Key: "retention.ms", Value: "abc"}},
		{{Key: "bogus.key", Value: "1"}},
		{{Key: "retention.ms", Op: OpAppend, Value: "1"}},
		{{Key: "cleanup.policy", Op: OpAppend, Value: "compact"}},
		{{Key: "cleanup.policy", Op: OpSubtract, Value: "delete"}},
		{{Key: "retention.ms", Op: 9}},
	} {
		if err := alter(ops, false, false); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", ops, err)
		}
	}
	if err := alter([]ConfigOp{{Key: "cleanup.policy", Op: OpAppend, Value: "delete"}}, false, false); err != nil || tp.Overrides()["cleanup.policy"] != "delete" {
		t.Fatalf("append to list: %v %v", err, tp.Overrides())
	}
	// Legacy replace-all: unnamed keys go back to defaults.
	if err := alter([]ConfigOp{{Key: "segment.ms", Value: "60000"}}, true, false); err != nil {
		t.Fatal(err)
	}
	if o := tp.Overrides(); len(o) != 1 || o["segment.ms"] != "60000" {
		t.Fatalf("replaceAll left %v", o)
	}
	if err := e.reg.AlterConfigs("missing", nil, false, false); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	e.reopen()
	if o := e.reg.Get("alt").Overrides(); len(o) != 1 || o["segment.ms"] != "60000" {
		t.Fatalf("after reopen overrides = %v", o)
	}
}

func TestCreateRejectsBadConfigs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.reg.Create("c", 1, map[string]string{"retention.ms": "5", "cleanup.policy": "compact"}, false)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "cleanup.policy" {
		t.Fatalf("Create with compact: %v", err)
	}
	if e.reg.Get("c") != nil || dirExists(PartitionDir(e.dir, "c", 0)) {
		t.Fatal("refused topic left traces")
	}
}

func TestEditList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cur, v string
		add    bool
		want   string
	}{
		{"delete", "compact", true, "delete,compact"},
		{"delete", "delete", true, "delete"},
		{"delete,compact", "compact", false, "delete"},
		{"", "delete", true, "delete"},
		{"delete", "x", false, "delete"},
	} {
		if got := editList(tt.cur, tt.v, tt.add); got != tt.want {
			t.Errorf("editList(%q, %q, %v) = %q, want %q", tt.cur, tt.v, tt.add, got, tt.want)
		}
	}
}
