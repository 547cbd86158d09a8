package topic

// Topic-level configs: the Kafka names Sluice accepts, how each value is
// validated, and how it maps onto logstore.Config. A topic stores only its
// overrides (metastore.TopicRecord.Configs); the effective config is the
// broker defaults (Defaults.Log, from log.* broker settings) with the
// overrides on top, so changing a broker default reaches every topic that
// did not override it.

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/internal/logstore"
)

// ConfigSource says where an effective value comes from. The order matches
// nothing on the wire; use Kafka to get DescribeConfigs' code.
type ConfigSource int8

const (
	// SourceDefault: the built-in default.
	SourceDefault ConfigSource = iota
	// SourceBroker: a broker setting (static, from the config file or
	// broker.Config.Settings).
	SourceBroker
	// SourceTopic: a topic-level override (Kafka's dynamic topic config).
	SourceTopic
)

// Kafka returns the DescribeConfigs ConfigSource code: DEFAULT_CONFIG (5),
// STATIC_BROKER_CONFIG (4) or DYNAMIC_TOPIC_CONFIG (1).
func (s ConfigSource) Kafka() int8 {
	switch s {
	case SourceTopic:
		return 1
	case SourceBroker:
		return 4
	default:
		return 5
	}
}

// ConfigType is the value type, numbered as DescribeConfigs' ConfigType.
type ConfigType int8

const (
	TypeBoolean ConfigType = 1
	TypeString  ConfigType = 2
	TypeInt     ConfigType = 3
	TypeLong    ConfigType = 5
	TypeList    ConfigType = 7
)

// ConfigEntry is one effective topic config, as DescribeConfigs shows it.
type ConfigEntry struct {
	Key       string
	Value     string
	Source    ConfigSource
	ReadOnly  bool
	Sensitive bool
	Type      ConfigType
	Doc       string
}

// ConfigOpType is an incremental config operation, numbered as in Kafka's
// IncrementalAlterConfigs (SET 0, DELETE 1, APPEND 2, SUBTRACT 3).
type ConfigOpType int8

const (
	OpSet      ConfigOpType = 0
	OpDelete   ConfigOpType = 1
	OpAppend   ConfigOpType = 2
	OpSubtract ConfigOpType = 3
)

// ConfigOp is one change to a topic's configs.
type ConfigOp struct {
	Key   string
	Op    ConfigOpType
	Value string
}

// minBatchBytes is the size of a record batch header: no batch is
// smaller, so neither a segment nor max.message.bytes may be (Kafka allows
// smaller values, which accept nothing).
const minBatchBytes = 61

type configDef struct {
	key      string
	typ      ConfigType
	readOnly bool
	doc      string
	// parse validates a value and returns its canonical text, or the
	// reason it is refused.
	parse func(v string) (string, error)
	// apply sets a canonical value onto cfg (nil: informational only).
	apply func(cfg *logstore.Config, v string)
	// show returns the value in effect for cfg (after WithDefaults).
	show func(cfg logstore.Config) string
	// brokerSet reports whether the broker default was set explicitly.
	brokerSet func(d logstore.Config) bool
}

// configDefs lists every supported topic config, sorted by key.
var configDefs = []configDef{
	{
		key: "cleanup.policy", typ: TypeList,
		doc:   `How old segments are discarded. Only "delete" (by retention.ms / retention.bytes); log compaction is not supported.`,
		parse: oneOf("delete", "log compaction is not supported by sluice; the only cleanup.policy is \"delete\""),
		show:  func(logstore.Config) string { return "delete" },
	},
	{
		key: "compression.type", typ: TypeString,
		doc:   `Sluice stores batches as the producer compressed them and never recompresses: only "producer".`,
		parse: oneOf("producer", "sluice keeps batches as the producer compressed them; the only compression.type is \"producer\""),
		show:  func(logstore.Config) string { return "producer" },
	},
	{
		key: "flush.ms", typ: TypeLong,
		doc:   `With sluice.flush.policy=interval, how often appended data is fsynced, in milliseconds.`,
		parse: longRange(0, math.MaxInt64),
		apply: func(c *logstore.Config, v string) {
			// logstore reads 0 as "default"; 1 ms is as close to Kafka's
			// 0 (flush at once) as a timer gets.
			c.FlushInterval = msDuration(max(mustLong(v), 1))
		},
		show:      func(c logstore.Config) string { return strconv.FormatInt(c.FlushInterval.Milliseconds(), 10) },
		brokerSet: func(d logstore.Config) bool { return d.FlushInterval != 0 },
	},
	{
		key: "index.interval.bytes", typ: TypeInt,
		doc:   `Bytes of log between entries of the offset and time indexes (0 indexes every batch).`,
		parse: longRange(0, math.MaxInt32),
		apply: func(c *logstore.Config, v string) {
			// logstore reads 0 as "default"; 1 byte indexes every batch,
			// which is what Kafka's 0 means.
			c.IndexIntervalBytes = int32(max(mustLong(v), 1))
		},
		show:      func(c logstore.Config) string { return strconv.FormatInt(int64(c.IndexIntervalBytes), 10) },
		brokerSet: func(d logstore.Config) bool { return d.IndexIntervalBytes != 0 },
	},
	{
		key: "max.message.bytes", typ: TypeInt,
		doc:       `The largest record batch (after compression) the topic accepts.`,
		parse:     longRange(minBatchBytes, math.MaxInt32),
		apply:     func(c *logstore.Config, v string) { c.MaxBatchBytes = int32(mustLong(v)) },
		show:      func(c logstore.Config) string { return strconv.FormatInt(int64(c.MaxBatchBytes), 10) },
		brokerSet: func(d logstore.Config) bool { return d.MaxBatchBytes != 0 },
	},
	{
		key: "message.timestamp.type", typ: TypeString,
		doc:   `Record timestamps are the producer's (CreateTime); LogAppendTime is not supported.`,
		parse: oneOf("CreateTime", "only CreateTime is supported"),
		show:  func(logstore.Config) string { return "CreateTime" },
	},
	{
		key: "min.insync.replicas", typ: TypeInt, readOnly: true,
		doc:   `Sluice is a single node: always 1.`,
		parse: oneOf("1", "sluice is a single node; min.insync.replicas can only be 1"),
		show:  func(logstore.Config) string { return "1" },
	},
	{
		key: "retention.bytes", typ: TypeLong,
		doc:   `Oldest whole segments are deleted while a partition is larger than this; -1 for no limit.`,
		parse: longRange(-1, math.MaxInt64),
		apply: func(c *logstore.Config, v string) {
			// logstore reads 0 as "default"; a 1-byte limit keeps only
			// the active segment, which is what Kafka's 0 means.
			n := mustLong(v)
			if n == 0 {
				n = 1
			}
			c.RetentionBytes = n
		},
		show:      func(c logstore.Config) string { return strconv.FormatInt(c.RetentionBytes, 10) },
		brokerSet: func(d logstore.Config) bool { return d.RetentionBytes != 0 },
	},
	{
		key: "retention.ms", typ: TypeLong,
		doc:   `Whole segments whose newest record is older than this many milliseconds are deleted; -1 keeps forever.`,
		parse: longRange(-1, math.MaxInt64),
		apply: func(c *logstore.Config, v string) {
			n := mustLong(v)
			if n == 0 { // logstore's 0 is "default"; 1 ms is Kafka's 0.
				n = 1
			}
			c.RetentionMs = n
		},
		show:      func(c logstore.Config) string { return strconv.FormatInt(c.RetentionMs, 10) },
		brokerSet: func(d logstore.Config) bool { return d.RetentionMs != 0 },
	},
	{
		key: "segment.bytes", typ: TypeInt,
		doc:       `A segment file rolls when the next batch would take it past this size.`,
		parse:     longRange(minBatchBytes, math.MaxInt32),
		apply:     func(c *logstore.Config, v string) { c.SegmentBytes = mustLong(v) },
		show:      func(c logstore.Config) string { return strconv.FormatInt(c.SegmentBytes, 10) },
		brokerSet: func(d logstore.Config) bool { return d.SegmentBytes != 0 },
	},
	{
		key: "segment.ms", typ: TypeLong,
		doc:       `A segment rolls on the first append after it is this many milliseconds old.`,
		parse:     longRange(1, math.MaxInt64),
		apply:     func(c *logstore.Config, v string) { c.SegmentMs = mustLong(v) },
		show:      func(c logstore.Config) string { return strconv.FormatInt(c.SegmentMs, 10) },
		brokerSet: func(d logstore.Config) bool { return d.SegmentMs != 0 },
	},
	{
		key: "sluice.flush.policy", typ: TypeString,
		doc: `Sluice extension: when appended data is fsynced. "always": a produce is answered after the fsync ` +
			`covering it (group commit); "interval": every flush.ms; "none": on segment roll and close only.`,
		parse: func(v string) (string, error) {
			switch p := logstore.FlushPolicy(v); p {
			case logstore.FlushAlways, logstore.FlushInterval, logstore.FlushNone:
				return v, nil
			}
			return "", fmt.Errorf("%q is not one of always, interval, none", v)
		},
		apply:     func(c *logstore.Config, v string) { c.Flush = logstore.FlushPolicy(v) },
		show:      func(c logstore.Config) string { return string(c.Flush) },
		brokerSet: func(d logstore.Config) bool { return d.Flush != "" },
	},
}

func findDef(key string) *configDef {
	i, ok := slices.BinarySearchFunc(configDefs, key, func(d configDef, k string) int { return strings.Compare(d.key, k) })
	if !ok {
		return nil
	}
	return &configDefs[i]
}

// SupportedConfigs returns the keys of every supported topic config, sorted.
func SupportedConfigs() []string {
	keys := make([]string, len(configDefs))
	for i, d := range configDefs {
		keys[i] = d.key
	}
	return keys
}

func oneOf(want, reason string) func(string) (string, error) {
	return func(v string) (string, error) {
		if v == want {
			return v, nil
		}
		return "", fmt.Errorf("%q refused: %s", v, reason)
	}
}

func longRange(lo, hi int64) func(string) (string, error) {
	return func(v string) (string, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", v)
		}
		if n < lo || n > hi {
			return "", fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
		}
		return strconv.FormatInt(n, 10), nil
	}
}

// mustLong parses a value already canonicalized by longRange.
func mustLong(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// msDuration converts milliseconds to a Duration, saturating instead of
// overflowing (Kafka's "never" is Long.MAX_VALUE ms).
func msDuration(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// ValidateConfigs checks topic-level overrides and returns them in
// canonical form. Errors are *ConfigError naming the key.
func ValidateConfigs(configs map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(configs))
	// Sorted so that the first error reported does not depend on map order.
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		d := findDef(k)
		if d == nil {
			return nil, &ConfigError{Key: k, Reason: "unknown topic config (supported: " + strings.Join(SupportedConfigs(), ", ") + ")"}
		}
		v, err := d.parse(strings.TrimSpace(configs[k]))
		if err != nil {
			return nil, &ConfigError{Key: k, Reason: err.Error()}
		}
		out[k] = v
	}
	return out, nil
}

// logConfig returns the logstore.Config for a topic: broker defaults with
// validated overrides on top. Zero fields stay zero (logstore's defaults).
func logConfig(defaults logstore.Config, overrides map[string]string) logstore.Config {
	cfg := defaults
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		if d := findDef(k); d != nil && d.apply != nil {
			d.apply(&cfg, overrides[k])
		}
	}
	return cfg
}

// ApplyConfigs returns base with topic configs applied, as a topic's logs
// get them. configs must have passed ValidateConfigs (canonical values);
// informational keys (cleanup.policy …) change nothing.
func ApplyConfigs(base logstore.Config, configs map[string]string) logstore.Config {
	return logConfig(base, configs)
}

// describe lists every supported config with its effective value.
func describe(defaults logstore.Config, overrides map[string]string) []ConfigEntry {
	eff := logConfig(defaults, overrides).WithDefaults()
	out := make([]ConfigEntry, 0, len(configDefs))
	for _, d := range configDefs {
		e := ConfigEntry{Key: d.key, Value: d.show(eff), ReadOnly: d.readOnly, Type: d.typ, Doc: d.doc}
		switch v, ok := overrides[d.key]; {
		case ok:
			e.Source = SourceTopic
			if d.apply == nil {
				e.Value = v
			}
		case d.brokerSet != nil && d.brokerSet(defaults):
			e.Source = SourceBroker
		default:
			e.Source = SourceDefault
		}
		out = append(out, e)
	}
	return out
}

// applyOps computes new overrides from current ones. replaceAll starts
// from nothing (legacy AlterConfigs: keys not named return to default).
func applyOps(current map[string]string, ops []ConfigOp, replaceAll bool, defaults logstore.Config) (map[string]string, error) {
	next := make(map[string]string, len(current))
	if !replaceAll {
		maps.Copy(next, current)
	}
	for _, op := range ops {
		d := findDef(op.Key)
		if d == nil {
			return nil, &ConfigError{Key: op.Key, Reason: "unknown topic config (supported: " + strings.Join(SupportedConfigs(), ", ") + ")"}
		}
		switch op.Op {
		case OpSet:
			next[op.Key] = op.Value
		case OpDelete:
			delete(next, op.Key)
		case OpAppend, OpSubtract:
			if d.typ != TypeList {
				return nil, &ConfigError{Key: op.Key, Reason: "APPEND and SUBTRACT apply only to list configs"}
			}
			cur, ok := next[op.Key]
			if !ok {
				cur = d.show(logConfig(defaults, next).WithDefaults())
			}
			next[op.Key] = editList(cur, op.Value, op.Op == OpAppend)
		default:
			return nil, &ConfigError{Key: op.Key, Reason: fmt.Sprintf("unknown operation %d", op.Op)}
		}
	}
	return ValidateConfigs(next)
}

// editList appends or removes the comma-separated items of v in list cur.
func editList(cur, v string, add bool) string {
	var items []string
	for _, s := range strings.Split(cur, ",") {
		if s = strings.TrimSpace(s); s != "" {
			items = append(items, s)
		}
	}
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		i := slices.Index(items, s)
		switch {
		case add && i < 0:
			items = append(items, s)
		case !add && i >= 0:
			items = slices.Delete(items, i, i+1)
		}
	}
	return strings.Join(items, ",")
}
