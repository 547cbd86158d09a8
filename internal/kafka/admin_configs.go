package kafka

// Config descriptions shared by DescribeConfigs (32), CreateTopics (19, v5+
// returns the new topic's configs) and the config-altering APIs (33, 44).
//
// The topic registry (internal/topic) owns topic configs: which keys exist,
// how values are validated, their effective values and where they come
// from. This file adds what only the protocol needs:
//
//   - the broker settings that back each topic config (Kafka's "synonyms":
//     retention.ms falls back to log.retention.ms, max.message.bytes to
//     message.max.bytes …), with their values read from the registry's
//     broker defaults (topic.Defaults.Log) and logstore's built-in defaults;
//   - the BROKER resource "<node id>": this broker's effective settings,
//     all read-only (Sluice has no dynamic broker configs).

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/logstore"
	"github.com/sluice-mq/sluice/internal/topic"
)

// logSetting is a broker setting that provides a topic config's default.
type logSetting struct {
	topicKey, brokerKey string
	typ                 kmsg.ConfigType
	doc                 string
	// value reads the setting from a logstore.Config after WithDefaults;
	// set reports whether the broker set it explicitly (a non-zero field
	// of topic.Defaults.Log). Both nil: the setting has one possible value,
	// fixed, which Sluice does not let anyone change.
	value func(c logstore.Config) string
	set   func(c logstore.Config) bool
	fixed string
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// logSettings is sorted by topic key. Keys not listed here have no broker
// synonym.
var logSettings = []logSetting{
	{topicKey: "cleanup.policy", brokerKey: "log.cleanup.policy", typ: kmsg.ConfigTypeList,
		doc: "The default cleanup policy for segments beyond the retention window; Sluice supports only delete.", fixed: "delete"},
	{topicKey: "compression.type", brokerKey: "compression.type", typ: kmsg.ConfigTypeString,
		doc: "Batches are stored as the producer compressed them (producer).", fixed: "producer"},
	{topicKey: "flush.ms", brokerKey: "log.flush.interval.ms", typ: kmsg.ConfigTypeLong,
		doc:   "With log.flush.policy=interval, how often appended data is fsynced, in milliseconds.",
		value: func(c logstore.Config) string { return itoa64(c.FlushInterval.Milliseconds()) },
		set:   func(c logstore.Config) bool { return c.FlushInterval != 0 }},
	{topicKey: "index.interval.bytes", brokerKey: "log.index.interval.bytes", typ: kmsg.ConfigTypeInt,
		doc:   "Bytes of log between entries of the offset and time indexes.",
		value: func(c logstore.Config) string { return itoa64(int64(c.IndexIntervalBytes)) },
		set:   func(c logstore.Config) bool { return c.IndexIntervalBytes != 0 }},
	{topicKey: "max.message.bytes", brokerKey: "message.max.bytes", typ: kmsg.ConfigTypeInt,
		doc:   "The largest record batch the broker accepts.",
		value: func(c logstore.Config) string { return itoa64(int64(c.MaxBatchBytes)) },
		set:   func(c logstore.Config) bool { return c.MaxBatchBytes != 0 }},
	{topicKey: "message.timestamp.type", brokerKey: "log.message.timestamp.type", typ: kmsg.ConfigTypeString,
		doc: "Record timestamps are the producer's (CreateTime).", fixed: "CreateTime"},
	{topicKey: "min.insync.replicas", brokerKey: "min.insync.replicas", typ: kmsg.ConfigTypeInt,
		doc: "Sluice is a single node: always 1.", fixed: "1"},
	{topicKey: "retention.bytes", brokerKey: "log.retention.bytes", typ: kmsg.ConfigTypeLong,
		doc:   "Oldest whole segments are deleted while a partition is larger than this; -1 for no limit.",
		value: func(c logstore.Config) string { return itoa64(c.RetentionBytes) },
		set:   func(c logstore.Config) bool { return c.RetentionBytes != 0 }},
	{topicKey: "retention.ms", brokerKey: "log.retention.ms", typ: kmsg.ConfigTypeLong,
		doc:   "Whole segments whose newest record is older than this many milliseconds are deleted; -1 keeps forever.",
		value: func(c logstore.Config) string { return itoa64(c.RetentionMs) },
		set:   func(c logstore.Config) bool { return c.RetentionMs != 0 }},
	{topicKey: "segment.bytes", brokerKey: "log.segment.bytes", typ: kmsg.ConfigTypeInt,
		doc:   "A segment file rolls when the next batch would take it past this size.",
		value: func(c logstore.Config) string { return itoa64(c.SegmentBytes) },
		set:   func(c logstore.Config) bool { return c.SegmentBytes != 0 }},
	{topicKey: "segment.ms", brokerKey: "log.roll.ms", typ: kmsg.ConfigTypeLong,
		doc:   "A segment rolls on the first append after it is this many milliseconds old.",
		value: func(c logstore.Config) string { return itoa64(c.SegmentMs) },
		set:   func(c logstore.Config) bool { return c.SegmentMs != 0 }},
	{topicKey: "sluice.flush.policy", brokerKey: "log.flush.policy", typ: kmsg.ConfigTypeString,
		doc:   "Sluice extension: when appended data is fsynced (always, interval or none).",
		value: func(c logstore.Config) string { return string(c.Flush) },
		set:   func(c logstore.Config) bool { return c.Flush != "" }},
}

func findLogSetting(topicKey string) *logSetting {
	i, ok := slices.BinarySearchFunc(logSettings, topicKey, func(s logSetting, k string) int { return strings.Compare(s.topicKey, k) })
	if !ok {
		return nil
	}
	return &logSettings[i]
}

// brokerLevel returns the broker setting's value and whether the broker
// set it (STATIC_BROKER_CONFIG) or it is the built-in default.
func (s *logSetting) brokerLevel(defaults logstore.Config) (value string, static bool) {
	if s.value == nil {
		return s.fixed, false
	}
	return s.value(defaults.WithDefaults()), s.set(defaults)
}

// builtinDefault returns the setting's built-in (DEFAULT_CONFIG) value.
func (s *logSetting) builtinDefault() string {
	if s.value == nil {
		return s.fixed
	}
	return s.value(logstore.Config{}.WithDefaults())
}

// wantConfig reports whether key was asked for: a nil list asks for all.
func wantConfig(names []string, key string) bool {
	return names == nil || slices.Contains(names, key)
}

func kafkaSource(s topic.ConfigSource) kmsg.ConfigSource { return kmsg.ConfigSource(s.Kafka()) }

// topicConfigs describes a topic's configs for DescribeConfigs. names
// filters (nil: all); synonyms adds the chain of values a config falls back
// to, most specific first, starting with the entry itself, as Kafka does.
func topicConfigs(reg *topic.Registry, t *topic.Topic, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	defaults := reg.Defaults().Log
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, e := range t.Configs() {
		if !wantConfig(names, e.Key) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = e.Key
		if !e.Sensitive {
			c.Value = kmsg.StringPtr(e.Value)
		}
		c.ReadOnly = e.ReadOnly
		c.IsSensitive = e.Sensitive
		c.Source = kafkaSource(e.Source)
		c.IsDefault = e.Source == topic.SourceDefault // v0 only
		c.ConfigType = kmsg.ConfigType(e.Type)
		if docs {
			c.Documentation = kmsg.StringPtr(e.Doc)
		}
		if synonyms {
			c.ConfigSynonyms = topicSynonyms(e, defaults)
		}
		out = append(out, c)
	}
	return out
}

func synonym(name, value string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, kmsg.StringPtr(value), src
	return s
}

func topicSynonyms(e topic.ConfigEntry, defaults logstore.Config) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	if e.Source == topic.SourceTopic {
		out = append(out, synonym(e.Key, e.Value, kmsg.ConfigSourceDynamicTopicConfig))
	}
	s := findLogSetting(e.Key)
	if s == nil {
		if e.Source != topic.SourceTopic {
			out = append(out, synonym(e.Key, e.Value, kafkaSource(e.Source)))
		}
		return out
	}
	if v, static := s.brokerLevel(defaults); static {
		out = append(out, synonym(s.brokerKey, v, kmsg.ConfigSourceStaticBrokerConfig))
	}
	return append(out, synonym(s.brokerKey, s.builtinDefault(), kmsg.ConfigSourceDefaultConfig))
}

// createdTopicConfigs describes a topic's configs for CreateTopics v5+.
func createdTopicConfigs(t *topic.Topic) []kmsg.CreateTopicsResponseTopicConfig {
	entries := t.Configs()
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = e.Key
		if !e.Sensitive {
			c.Value = kmsg.StringPtr(e.Value)
		}
		c.ReadOnly = e.ReadOnly
		c.IsSensitive = e.Sensitive
		c.Source = e.Source.Kafka()
		out = append(out, c)
	}
	return out
}

// brokerSetting is one entry of the BROKER resource.
type brokerSetting struct {
	key, value string
	// def is Kafka's (or Sluice's) built-in default; "" when there is
	// none (node.id must be configured). A value that differs from its
	// default was set by the operator: STATIC_BROKER_CONFIG.
	def    string
	static bool
	typ    kmsg.ConfigType
	doc    string
}

func (s brokerSetting) source() kmsg.ConfigSource {
	if s.static {
		return kmsg.ConfigSourceStaticBrokerConfig
	}
	return kmsg.ConfigSourceDefaultConfig
}

// plainSetting is a broker setting whose source is told by comparing its
// value with the default.
func plainSetting(key, value, def string, typ kmsg.ConfigType, doc string) brokerSetting {
	return brokerSetting{key: key, value: value, def: def, static: value != def, typ: typ, doc: doc}
}

// brokerSettings lists this broker's effective settings, sorted by key.
// Values come from the running configuration (kafka.Config and the topic
// registry's defaults), never from a copy.
func brokerSettings(rc *requestContext) []brokerSetting {
	cfg := rc.Config
	d := rc.Topics.Defaults()
	node := strconv.Itoa(int(cfg.NodeID))
	out := []brokerSetting{
		plainSetting("auto.create.topics.enable", strconv.FormatBool(cfg.AutoCreateTopics), "true", kmsg.ConfigTypeBoolean,
			"Create a topic on first use (Metadata request, produce) with num.partitions partitions."),
		{key: "broker.id", value: node, static: true, typ: kmsg.ConfigTypeInt, doc: "This broker's id (the same as node.id)."},
		plainSetting("default.replication.factor", "1", "1", kmsg.ConfigTypeInt, "Sluice is a single node: every partition has one replica."),
		plainSetting("delete.topic.enable", "true", "true", kmsg.ConfigTypeBoolean, "Topics can be deleted with DeleteTopics."),
		plainSetting("log.retention.check.interval.ms", itoa64(d.RetentionCheckInterval.Milliseconds()), itoa64((5 * time.Minute).Milliseconds()),
			kmsg.ConfigTypeLong, "How often retention (retention.ms, retention.bytes) runs over every partition, in milliseconds."),
		{key: "node.id", value: node, static: true, typ: kmsg.ConfigTypeInt, doc: "This broker's node id; it is also the controller."},
		plainSetting("num.partitions", strconv.Itoa(int(cfg.DefaultPartitions)), "1", kmsg.ConfigTypeInt,
			"Partitions of a topic created with the broker default (-1) or auto-created."),
		plainSetting("offsets.topic.replication.factor", "1", "1", kmsg.ConfigTypeShort, "Sluice is a single node: committed offsets have one replica."),
		plainSetting("socket.request.max.bytes", strconv.Itoa(int(cfg.MaxRequestBytes)), strconv.Itoa(defaultMaxRequestBytes), kmsg.ConfigTypeInt,
			"The largest request the broker reads; a larger one closes the connection."),
	}
	for i := range logSettings {
		s := &logSettings[i]
		v, static := s.brokerLevel(d.Log)
		out = append(out, brokerSetting{key: s.brokerKey, value: v, def: s.builtinDefault(), static: static, typ: s.typ, doc: s.doc})
	}
	slices.SortFunc(out, func(a, b brokerSetting) int { return strings.Compare(a.key, b.key) })
	return out
}

// brokerConfigs describes the BROKER resource. All entries are read-only:
// broker settings are static (server.properties / broker.Config.Settings).
func brokerConfigs(rc *requestContext, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, s := range brokerSettings(rc) {
		if !wantConfig(names, s.key) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = s.key
		c.Value = kmsg.StringPtr(s.value)
		c.ReadOnly = true
		c.Source = s.source()
		c.IsDefault = !s.static
		c.ConfigType = s.typ
		if docs {
			c.Documentation = kmsg.StringPtr(s.doc)
		}
		if synonyms {
			c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(s.key, s.value, c.Source))
			if s.static && s.def != "" {
				c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(s.key, s.def, kmsg.ConfigSourceDefaultConfig))
			}
		}
		out = append(out, c)
	}
	return out
}

// alterConfigs applies ops to one resource of AlterConfigs (replaceAll) or
// IncrementalAlterConfigs. ops have been checked for nulls and duplicates.
func alterConfigs(rc *requestContext, typ kmsg.ConfigResourceType, name string, ops []topic.ConfigOp, replaceAll, validateOnly bool) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := topic.ValidateName(name); err != nil {
			return err
		}
		return rc.Topics.AlterConfigs(name, ops, replaceAll, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		if _, err := configBroker(rc, name); err != nil {
			return err
		}
		if len(ops) == 0 {
			return nil // nothing to change: there are no dynamic broker configs to reset
		}
		keys := make([]string, len(ops))
		for i, op := range ops {
			keys[i] = op.Key
		}
		return refuse(kerr.InvalidRequest, "cannot update these configs dynamically: %v; sluice broker settings are static (server.properties or broker.Config.Settings, applied on restart)", keys)
	default:
		return unsupportedResource(typ)
	}
}

// resourceKey identifies a config resource, to find duplicates in a request.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// duplicateKey returns the first key that appears twice in keys, or "".
func duplicateKey(keys []string) string {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			return k
		}
		seen[k] = true
	}
	return ""
}
