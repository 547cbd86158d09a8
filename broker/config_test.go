package broker

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/logstore"
)

func TestParseProperties(t *testing.T) {
	t.Parallel()
	text := "# Kafka-style file\r\n" +
		"! another comment\n" +
		"\n" +
		"   \n" +
		"broker.id=0\n" +
		"  num.partitions = 3  \n" +
		"log.retention.hours: 168\n" +
		"log.segment.bytes 1073741824\n" +
		"empty.value=\n" +
		"key\\=with\\:seps = v\n" +
		"unicode=caf\\u00e9\n" +
		"multi = a,\\\n" +
		"        b\n" +
		"dup=1\n" +
		"dup=2\n" +
		"path=C:\\\\data\n" +
		"url=http://x:9/y=z\n"
	got, err := parseProperties(text)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"broker.id":           "0",
		"num.partitions":      "3",
		"log.retention.hours": "168",
		"log.segment.bytes":   "1073741824",
		"empty.value":         "",
		"key=with:seps":       "v",
		"unicode":             "café",
		"multi":               "a,b",
		"dup":                 "2",
		"path":                `C:\data`,
		"url":                 "http://x:9/y=z",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	for _, bad := range []string{"=novalue\n", "a=\\u12\n", "a=\\uZZZZ\n"} {
		if _, err := parseProperties(bad); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseProperties(%q) = %v, want a line-numbered error", bad, err)
		}
	}
}

func TestReadPropertiesFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "server.properties")
	os.WriteFile(path, []byte("num.partitions=2\nbad line \\u00\n"), 0o644)
	if _, err := ReadPropertiesFile(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("error %v should name the file and line", err)
	}
	os.WriteFile(path, []byte("num.partitions=2\n"), 0o644)
	m, err := ReadPropertiesFile(path)
	if err != nil || m["num.partitions"] != "2" {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := ReadPropertiesFile(path + ".missing"); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestKafkaSampleProperties feeds the settings of Kafka's sample
// server.properties (minus the ones Sluice sets elsewhere) through
// validation: a user's existing file should work with few edits.
func TestKafkaSampleProperties(t *testing.T) {
	t.Parallel()
	sample := `
broker.id=0
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
group.initial.rebalance.delay.ms=0
`
	m, err := parseProperties(sample)
	if err != nil {
		t.Fatal(err)
	}
	s, err := resolveSettings(m)
	if err != nil {
		t.Fatal(err)
	}
	if s.topics.Log.RetentionMs != 168*3600*1000 || s.topics.RetentionCheckInterval != 5*time.Minute || s.maxRequestBytes != 104857600 {
		t.Fatalf("resolved %+v", s)
	}
}

func TestResolveSettings(t *testing.T) {
	t.Parallel()
	s, err := resolveSettings(nil)
	if err != nil || !s.autoCreateTopics || s.defaultPartitions != 1 || !reflect.DeepEqual(s.topics.Log, logstore.Config{}) {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	s, err = resolveSettings(map[string]string{
		"auto.create.topics.enable":       "FALSE",
		"num.partitions":                  " 4 ",
		"message.max.bytes":               "2000000",
		"log.retention.ms":                "1000",
		"log.retention.minutes":           "5", // ms wins
		"log.retention.bytes":             "-1",
		"log.roll.hours":                  "1",
		"log.flush.policy":                "interval",
		"log.flush.interval.ms":           "200",
		"log.index.interval.bytes":        "8192",
		"log.retention.check.interval.ms": "50",
		"default.replication.factor":      "1",
		"node.id":                         "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := logstore.Config{MaxBatchBytes: 2000000, RetentionMs: 1000, RetentionBytes: -1, SegmentMs: 3600000,
		Flush: logstore.FlushInterval, FlushInterval: 200 * time.Millisecond, IndexIntervalBytes: 8192}
	if s.autoCreateTopics || s.defaultPartitions != 4 || s.topics.NumPartitions != 4 || !reflect.DeepEqual(s.topics.Log, want) ||
		s.topics.RetentionCheckInterval != 50*time.Millisecond {
		t.Fatalf("resolved %+v\nwant log %+v", s, want)
	}
	if s, _ := resolveSettings(map[string]string{"log.retention.minutes": "5", "log.retention.hours": "9"}); s.topics.Log.RetentionMs != 300000 {
		t.Fatalf("minutes should win over hours: %d", s.topics.Log.RetentionMs)
	}
	if s, _ := resolveSettings(map[string]string{"log.retention.hours": "-1"}); s.topics.Log.RetentionMs != -1 {
		t.Fatalf("hours=-1 should keep forever: %d", s.topics.Log.RetentionMs)
	}
}

func TestResolveSettingsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		reason      string
	}{
		{"num.partitions", "0", "out of range"},
		{"num.partitions", "x", "not an integer"},
		{"auto.create.topics.enable", "yes", "not true or false"},
		{"log.retention.ms", "-5", "out of range"},
		{"log.segment.bytes", "10", "out of range"},
		{"log.flush.policy", "sometimes", "not one of"},
		{"log.cleanup.policy", "compact", "compaction"},
		{"socket.request.max.bytes", "10", "out of range"},
		{"default.replication.factor", "3", "single node"},
		{"min.insync.replicas", "2", "single node"},
		{"broker.id", "1", "only accepted value is 0"},
		{"log.dirs", "/tmp/kafka-logs", "--data-dir"},
		{"listeners", "PLAINTEXT://:9092", "--kafka-addr"},
		{"zookeeper.connect", "localhost:2181", "ZooKeeper"},
		{"num.partitons", "3", `did you mean "num.partitions"`},
		{"totally.unknown.thing", "3", "unknown setting"},
		{"num.io.threads", "many", "not an integer"},
	}
	for _, tt := range tests {
		_, err := resolveSettings(map[string]string{tt.name: tt.value})
		var se *SettingError
		if !errors.As(err, &se) || !errors.Is(err, ErrInvalidConfig) || se.Name != tt.name ||
			!strings.Contains(err.Error(), tt.name) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("%s=%s: %v, want SettingError naming it with %q", tt.name, tt.value, err, tt.reason)
		}
	}
}

func TestSettingNames(t *testing.T) {
	t.Parallel()
	names := SettingNames()
	for _, want := range []string{"num.partitions", "log.retention.hours", "log.flush.policy", "broker.id"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("SettingNames lacks %s", want)
		}
	}
	for _, n := range names {
		if n == "log.dirs" {
			t.Error("refused setting listed")
		}
	}
}

// FuzzParseProperties: any input parses or fails with an error, never a
// panic; every key is non-empty and trimmed.
func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{
		"a=b\n", "# c\n! d\nkey : value\n", "k v\\\n  w\n", "x=\\u00e9\\t\n", "=\n", "a=\\u12", "\\\n", "a\\", "\r\n\r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := parseProperties(text)
		if err != nil {
			return
		}
		for k := range m {
			if k == "" || k != strings.TrimSpace(k) {
				t.Fatalf("bad key %q", k)
			}
		}
	})
}
