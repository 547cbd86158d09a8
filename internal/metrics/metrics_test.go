package metrics

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// batch returns a v2 record-batch header claiming records records and
// padded to size bytes (countBatches reads only the framing).
func batch(records int32, size int, magic byte) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b[8:12], uint32(size-12))
	b[16] = magic
	binary.BigEndian.PutUint32(b[57:61], uint32(records))
	return b
}

func TestCountBatches(t *testing.T) {
	two := append(batch(3, 100, 2), batch(5, 80, 2)...)
	for _, tc := range []struct {
		name          string
		in            []byte
		records, size int64
	}{
		{"empty", nil, 0, 0},
		{"one", batch(7, 70, 2), 7, 70},
		{"two", two, 8, 180},
		{"partial tail", append(two, batch(9, 90, 2)[:50]...), 8, 180},
		{"truncated length", two[:150], 3, 100},
		{"old magic", batch(4, 70, 1), 0, 70},
		{"bad length", func() []byte { b := batch(4, 70, 2); binary.BigEndian.PutUint32(b[8:12], 1); return b }(), 0, 0},
	} {
		r, n := countBatches(tc.in)
		if r != tc.records || n != tc.size {
			t.Errorf("%s: got %d records %d bytes, want %d %d", tc.name, r, n, tc.records, tc.size)
		}
	}
}

func read(t *testing.T, c prometheus.Collector, name string, labels map[string]string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	c.Collect(ch)
	close(ch)
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		if m.Desc().String() == "" || !containsName(m.Desc().String(), name) {
			continue
		}
		match := true
		for k, v := range labels {
			found := false
			for _, lp := range d.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case d.Counter != nil:
			return d.Counter.GetValue()
		case d.Gauge != nil:
			return d.Gauge.GetValue()
		case d.Histogram != nil:
			return float64(d.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("%s %v not collected", name, labels)
	return 0
}

func containsName(desc, name string) bool {
	return strings.Contains(desc, `fqName: "`+name+`"`)
}

func TestKafkaObserver(t *testing.T) {
	k := NewKafka(nil)
	req := kmsg.NewPtrProduceRequest()
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: "a", Partitions: []kmsg.ProduceRequestTopicPartition{
		{Partition: 0, Records: batch(4, 100, 2)},
		{Partition: 1, Records: batch(6, 90, 2)},
	}}}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Topics = []kmsg.ProduceResponseTopic{{Topic: "a", Partitions: []kmsg.ProduceResponseTopicPartition{
		{Partition: 0}, {Partition: 1, ErrorCode: 3}, // partition 1 was refused
	}}}
	k.Request(0, 3*time.Millisecond, req, resp)
	k.Request(0, 3*time.Millisecond, req, nil) // acks=0: all counted
	fetch := kmsg.NewPtrFetchResponse()
	fetch.Topics = []kmsg.FetchResponseTopic{{Topic: "a", Partitions: []kmsg.FetchResponseTopicPartition{{RecordBatches: batch(2, 75, 2)}}}}
	k.Request(1, time.Millisecond, kmsg.NewPtrFetchRequest(), fetch)
	if got := k.Traffic("a"); got != (Traffic{ProducedRecords: 4 + 10, ProducedBytes: 100 + 190, FetchedRecords: 2, FetchedBytes: 75}) {
		t.Fatalf("traffic = %+v", got)
	}
	if got := read(t, k, "sluice_kafka_requests_total", map[string]string{"api": "Produce"}); got != 2 {
		t.Fatalf("Produce requests = %v", got)
	}
	if got := read(t, k, "sluice_kafka_request_duration_seconds", map[string]string{"api": "Fetch"}); got != 1 {
		t.Fatalf("Fetch latencies = %v", got)
	}
	k.ConnOpened()
	k.ConnOpened()
	k.ConnClosed()
	if got := read(t, k, "sluice_open_connections", map[string]string{"listener": "kafka"}); got != 1 {
		t.Fatalf("connections = %v", got)
	}
	k.Request(-1, 0, nil, nil) // out of range: ignored, no panic
	k.Request(999, 0, nil, nil)
	k.forget(func(string) bool { return false })
	if got := k.Traffic("a"); got != (Traffic{}) {
		t.Fatalf("after forget: %+v", got)
	}
}

func TestSQSObserver(t *testing.T) {
	s := NewSQS()
	s.Request("SendMessage", time.Millisecond, false)
	s.Request("SendMessage", time.Millisecond, true)
	s.Request("ReceiveMessage", time.Second, false)
	if got := read(t, s, "sluice_sqs_requests_total", map[string]string{"action": "SendMessage"}); got != 2 {
		t.Fatalf("requests = %v", got)
	}
	if got := read(t, s, "sluice_sqs_request_errors_total", map[string]string{"action": "SendMessage"}); got != 1 {
		t.Fatalf("errors = %v", got)
	}
	if _, err := NewRegistry(NewState(nil, nil, nil, nil), s, NewKafka(nil)); err != nil {
		t.Fatalf("registry: %v", err)
	}
}

// The per-request instrumentation must not allocate once a key or action
// has been seen.
func TestObserversDoNotAllocate(t *testing.T) {
	k := NewKafka(nil)
	s := NewSQS()
	req := kmsg.NewPtrMetadataRequest()
	k.Request(3, time.Millisecond, req, nil)
	s.Request("SendMessage", time.Millisecond, false)
	if n := testing.AllocsPerRun(1000, func() { k.Request(3, time.Millisecond, req, nil) }); n != 0 {
		t.Errorf("Kafka.Request allocates %v", n)
	}
	if n := testing.AllocsPerRun(1000, func() { s.Request("SendMessage", time.Millisecond, false) }); n != 0 {
		t.Errorf("SQS.Request allocates %v", n)
	}
	preq := kmsg.NewPtrProduceRequest()
	preq.Topics = []kmsg.ProduceRequestTopic{{Topic: "a", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: batch(4, 100, 2)}}}}
	presp := preq.ResponseKind().(*kmsg.ProduceResponse)
	presp.Topics = []kmsg.ProduceResponseTopic{{Topic: "a", Partitions: []kmsg.ProduceResponseTopicPartition{{}}}}
	k.Request(0, time.Millisecond, preq, presp)
	if n := testing.AllocsPerRun(1000, func() { k.Request(0, time.Millisecond, preq, presp) }); n != 0 {
		t.Errorf("Kafka.Request(Produce) allocates %v", n)
	}
}

func BenchmarkKafkaProduceObserve(b *testing.B) {
	k := NewKafka(nil)
	preq := kmsg.NewPtrProduceRequest()
	preq.Topics = []kmsg.ProduceRequestTopic{{Topic: "a", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: batch(100, 16384, 2)}}}}
	presp := preq.ResponseKind().(*kmsg.ProduceResponse)
	presp.Topics = []kmsg.ProduceResponseTopic{{Topic: "a", Partitions: []kmsg.ProduceResponseTopicPartition{{}}}}
	b.ReportAllocs()
	for b.Loop() {
		k.Request(0, time.Millisecond, preq, presp)
	}
}

func BenchmarkSQSObserve(b *testing.B) {
	s := NewSQS()
	b.ReportAllocs()
	for b.Loop() {
		s.Request("SendMessage", time.Millisecond, false)
	}
}
