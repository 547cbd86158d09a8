package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/internal/group"
	"github.com/sluice-mq/sluice/internal/topic"
)

// Config configures a Broker. The zero value is usable: every zero field
// takes the default documented on it.
type Config struct {
	// DataDir holds everything the broker stores: LOCK, meta/ (catalog) and
	// topics/<topic>-<partition>/ (partition logs). Created if missing.
	// Default "./sluice-data".
	DataDir string

	// KafkaAddr is the host:port of the Kafka listener. "-" disables it;
	// port 0 picks a free port (see Broker.Addrs). Default "127.0.0.1:9092".
	KafkaAddr string
	// SQSAddr is the host:port of the SQS listener (AWS JSON 1.0 and
	// Query protocols, internal/sqs). "-" disables it; port 0 picks a free
	// port. Default "127.0.0.1:9324".
	SQSAddr string
	// HTTPAddr is the host:port of the HTTP listener: /healthz, /metrics,
	// the admin API (docs/admin-api.md) and the dashboard. "-" disables
	// it. Default "127.0.0.1:9080" (loopback; set http.auth.* before
	// exposing it).
	HTTPAddr string

	// Settings are broker settings by their Kafka names, as in Kafka's
	// server.properties (see ReadPropertiesFile). The package documentation
	// lists the accepted names; an unknown name is an error, so that a typo
	// does not silently keep a default. Default: none (Kafka's defaults).
	Settings map[string]string

	// Logger receives the broker's reports. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultDataDir   = "./sluice-data"
	DefaultKafkaAddr = "127.0.0.1:9092"
	DefaultSQSAddr   = "127.0.0.1:9324"
	DefaultHTTPAddr  = "127.0.0.1:9080"
	// Disabled as an address turns a listener off.
	Disabled = "-"
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("broker: invalid configuration")

// SettingError names a refused broker setting (or Config field) and why.
type SettingError struct {
	Name   string // the setting, e.g. "num.partitions", or "Config.KafkaAddr"
	Value  string
	Reason string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("broker: setting %s=%q: %s", e.Name, e.Value, e.Reason)
}

// Unwrap returns ErrInvalidConfig.
func (e *SettingError) Unwrap() error { return ErrInvalidConfig }

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.KafkaAddr == "" {
		c.KafkaAddr = DefaultKafkaAddr
	}
	if c.SQSAddr == "" {
		c.SQSAddr = DefaultSQSAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// settings is the result of validating Config.Settings.
type settings struct {
	topics            topic.Defaults
	autoCreateTopics  bool
	defaultPartitions int32
	maxRequestBytes   int32
	groups            group.Config // group.* and offsets.* settings (config_groups.go)
	ops               opsConfig    // http.* and alert.* settings (config_ops.go)
}

// settingKind says what Sluice does with a setting.
type settingKind int

const (
	applied settingKind = iota // changes Sluice's behaviour
	fixed                      // single-node value; any other value is refused
	ignored                    // accepted (and checked) but has no effect in Sluice
	refused                    // a Kafka setting that has no place here; the reason says what to do
)

type settingDef struct {
	kind settingKind
	// for applied and ignored: parse checks the value; for fixed: the only
	// accepted value; for refused: the reason.
	parse func(v string) error
	value string
}

var (
	isBool      = func(v string) error { _, err := parseBool(v); return err }
	isInt       = intRange(0, 1<<31-1)
	isIntOrNeg1 = intRange(-1, 1<<31-1)
)

// settingDefs lists every broker setting Sluice accepts, by Kafka name.
// Applied ones are handled in resolveSettings; topicKeys maps the log.*
// ones onto topic configs, which validate and apply them.
var settingDefs = map[string]settingDef{
	"auto.create.topics.enable":       {kind: applied, parse: isBool},
	"num.partitions":                  {kind: applied, parse: intRange(1, topic.MaxPartitions)},
	"socket.request.max.bytes":        {kind: applied, parse: intRange(1024, 1<<31-1)},
	"log.retention.check.interval.ms": {kind: applied, parse: intRange(1, 1<<62)},
	"log.retention.hours":             {kind: applied, parse: isIntOrNeg1},
	"log.retention.minutes":           {kind: applied, parse: isIntOrNeg1},
	"log.roll.hours":                  {kind: applied, parse: intRange(1, 1<<31-1)},
	// The rest of the applied log.* settings are in topicKeys.
	// Consumer groups: see groupSettings.
	"group.initial.rebalance.delay.ms":    {kind: applied, parse: isInt},
	"group.min.session.timeout.ms":        {kind: applied, parse: intRange(1, 1<<31-1)},
	"group.max.session.timeout.ms":        {kind: applied, parse: intRange(1, 1<<31-1)},
	"group.max.size":                      {kind: applied, parse: intRange(1, 1<<31-1)},
	"offsets.retention.minutes":           {kind: applied, parse: intRange(1, 1<<31-1)},
	"offsets.retention.check.interval.ms": {kind: applied, parse: intRange(1, 1<<31-1)},
	"offset.metadata.max.bytes":           {kind: applied, parse: intRange(1, 1<<31-1)},

	"broker.id":                                {kind: fixed, value: "0"},
	"node.id":                                  {kind: fixed, value: "0"},
	"default.replication.factor":               {kind: fixed, value: "1"},
	"min.insync.replicas":                      {kind: fixed, value: "1"},
	"offsets.topic.replication.factor":         {kind: fixed, value: "1"},
	"transaction.state.log.replication.factor": {kind: fixed, value: "1"},
	"transaction.state.log.min.isr":            {kind: fixed, value: "1"},

	// Tuning knobs of Kafka's JVM and network layer with no counterpart.
	"num.network.threads":               {kind: ignored, parse: intRange(1, 1<<31-1)},
	"num.io.threads":                    {kind: ignored, parse: intRange(1, 1<<31-1)},
	"num.recovery.threads.per.data.dir": {kind: ignored, parse: intRange(1, 1<<31-1)},
	"socket.send.buffer.bytes":          {kind: ignored, parse: isIntOrNeg1},
	"socket.receive.buffer.bytes":       {kind: ignored, parse: isIntOrNeg1},
	"offsets.topic.num.partitions":      {kind: ignored, parse: intRange(1, 1<<31-1)},

	"log.dir":              {kind: refused, value: "set the data directory instead (sluice serve --data-dir, broker.Config.DataDir)"},
	"log.dirs":             {kind: refused, value: "set the data directory instead (sluice serve --data-dir, broker.Config.DataDir)"},
	"listeners":            {kind: refused, value: "set the address instead (sluice serve --kafka-addr, broker.Config.KafkaAddr)"},
	"advertised.listeners": {kind: refused, value: "clients are told the address they connected to; set --kafka-addr"},
	"zookeeper.connect":    {kind: refused, value: "sluice is a single node and needs no ZooKeeper; remove the setting"},
	"process.roles":        {kind: refused, value: "sluice is a single node and needs no KRaft roles; remove the setting"},
}

// topicKeys maps broker log.* settings onto the topic configs whose
// broker-level default they are (Kafka's pairs).
var topicKeys = map[string]string{
	"log.retention.ms":           "retention.ms",
	"log.retention.bytes":        "retention.bytes",
	"log.segment.bytes":          "segment.bytes",
	"log.roll.ms":                "segment.ms",
	"message.max.bytes":          "max.message.bytes",
	"log.flush.interval.ms":      "flush.ms",
	"log.index.interval.bytes":   "index.interval.bytes",
	"log.cleanup.policy":         "cleanup.policy",
	"log.message.timestamp.type": "message.timestamp.type",
	"compression.type":           "compression.type",
	// Sluice's extension: always | interval | none.
	"log.flush.policy": "sluice.flush.policy",
}

// SettingNames returns every accepted broker setting, sorted.
func SettingNames() []string {
	names := slices.Collect(maps.Keys(settingDefs))
	for k := range topicKeys {
		names = append(names, k)
	}
	names = append(names, opsSettingNames...)
	slices.Sort(names)
	return slices.DeleteFunc(names, func(n string) bool { return settingDefs[n].kind == refused })
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("not true or false")
}

func intRange(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("out of range [%d, %d]", lo, hi)
		}
		return nil
	}
}

func atoi(v string) int64 { n, _ := strconv.ParseInt(v, 10, 64); return n }

// resolveSettings validates Config.Settings and maps them onto the
// components' configs. Errors are *SettingError naming the setting; the
// first in name order is reported.
func resolveSettings(in map[string]string) (settings, error) {
	s := settings{autoCreateTopics: true, defaultPartitions: 1}
	vals := make(map[string]string, len(in))
	for k, v := range in {
		vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	overrides := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		v := vals[name]
		if isOpsKey(name) {
			continue // parseOpsSettings
		}
		if tk, ok := topicKeys[name]; ok {
			overrides[tk] = v
			if _, err := topic.ValidateConfigs(map[string]string{tk: v}); err != nil {
				var ce *topic.ConfigError
				reason := err.Error()
				if errors.As(err, &ce) {
					reason = ce.Reason
				}
				return s, &SettingError{Name: name, Value: v, Reason: reason}
			}
			continue
		}
		def, ok := settingDefs[name]
		if !ok {
			return s, &SettingError{Name: name, Value: v, Reason: "unknown setting" + suggest(name)}
		}
		switch def.kind {
		case fixed:
			if v != def.value {
				return s, &SettingError{Name: name, Value: v, Reason: "sluice is a single node; the only accepted value is " + def.value}
			}
		case refused:
			return s, &SettingError{Name: name, Value: v, Reason: "not a sluice setting: " + def.value}
		default:
			if err := def.parse(v); err != nil {
				return s, &SettingError{Name: name, Value: v, Reason: err.Error()}
			}
		}
	}

	if v, ok := vals["auto.create.topics.enable"]; ok {
		s.autoCreateTopics, _ = parseBool(v)
	}
	if v, ok := vals["num.partitions"]; ok {
		s.defaultPartitions = int32(atoi(v))
	}
	s.topics.NumPartitions = s.defaultPartitions
	if v, ok := vals["socket.request.max.bytes"]; ok {
		s.maxRequestBytes = int32(atoi(v))
	}
	if v, ok := vals["log.retention.check.interval.ms"]; ok {
		s.topics.RetentionCheckInterval = time.Duration(atoi(v)) * time.Millisecond
	}
	// Kafka's precedence: log.retention.ms, then .minutes, then .hours;
	// a negative value means no time limit.
	if _, ok := overrides["retention.ms"]; !ok {
		for _, u := range []struct {
			name string
			ms   int64
		}{{"log.retention.minutes", 60_000}, {"log.retention.hours", 3_600_000}} {
			if v, ok := vals[u.name]; ok {
				n := atoi(v)
				if n >= 0 {
					n *= u.ms
				}
				overrides["retention.ms"] = strconv.FormatInt(n, 10)
				break
			}
		}
	}
	if v, ok := vals["log.roll.hours"]; ok {
		if _, set := overrides["segment.ms"]; !set {
			overrides["segment.ms"] = strconv.FormatInt(atoi(v)*3_600_000, 10)
		}
	}
	canon, err := topic.ValidateConfigs(overrides)
	if err != nil { // each value was checked above; only combinations remain
		return s, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	s.topics.Log = topic.ApplyConfigs(s.topics.Log, canon)
	if s.groups, err = groupSettings(vals); err != nil {
		return s, err
	}
	if s.ops, err = parseOpsSettings(vals); err != nil {
		return s, err
	}
	return s, nil
}

// suggest names a known setting that differs from name by a little, to
// catch typos such as "log.retention.hour".
func suggest(name string) string {
	best, bestD := "", 3
	for _, k := range SettingNames() {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return " (see the broker package documentation for the list)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkAddr validates a listener address field.
func checkAddr(field, addr string) error {
	if addr == Disabled {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &SettingError{Name: "Config." + field, Value: addr, Reason: "want host:port (or \"-\" to disable): " + err.Error()}
	}
	if port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return &SettingError{Name: "Config." + field, Value: addr, Reason: "the port is not a number from 0 to 65535"}
		}
	}
	return nil
}
