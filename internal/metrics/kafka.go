package metrics

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/topic"
)

// Kafka instruments the Kafka listener: it implements kafka.Observer and
// prometheus.Collector. Create it with NewKafka; safe for concurrent use.
type Kafka struct {
	topics *topic.Registry // resolves topic ids (Produce/Fetch v13+)

	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	conns     prometheus.Gauge
	// perKey caches the children of requests and durations, resolved on a
	// key's first request, so later observations skip the label hashing.
	perKey [kmsg.MaxKey + 1]atomic.Pointer[apiChildren]

	trafficMu sync.Mutex                               // serializes writers of traffic
	traffic   atomic.Pointer[map[string]*topicTraffic] // copy on write; read without a lock
}

type apiChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// topicTraffic counts a topic's produced and fetched records and bytes.
type topicTraffic struct {
	producedRecords, producedBytes atomic.Int64
	fetchedRecords, fetchedBytes   atomic.Int64
}

// Traffic is a snapshot of one topic's counters since the broker started.
type Traffic struct {
	ProducedRecords, ProducedBytes int64
	FetchedRecords, FetchedBytes   int64
}

// NewKafka returns the Kafka instrumentation. topics resolves the topic
// ids of v13+ requests (nil: such topics are not counted per topic).
func NewKafka(topics *topic.Registry) *Kafka {
	k := &Kafka{
		topics: topics,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "kafka", Name: "requests_total",
			Help: "Kafka requests served, by API.",
		}, []string{"api"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "kafka", Name: "request_duration_seconds",
			Help:    "Time from a decoded Kafka request to its response being ready (produce: after its fsync; fetch: including the long poll), by API.",
			Buckets: requestBuckets,
		}, []string{"api"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "open_connections",
			Help:        "Client connections open now, by listener.",
			ConstLabels: prometheus.Labels{"listener": "kafka"},
		}),
	}
	empty := map[string]*topicTraffic{}
	k.traffic.Store(&empty)
	return k
}

// ConnOpened counts a new client connection.
func (k *Kafka) ConnOpened() { k.conns.Inc() }

// ConnClosed counts a closed client connection.
func (k *Kafka) ConnClosed() { k.conns.Dec() }

// Request records one served request. resp is nil for Produce with acks=0.
// It reads req and resp only; it must be called before the response's
// buffers are released.
func (k *Kafka) Request(key int16, took time.Duration, req kmsg.Request, resp kmsg.Response) {
	if key < 0 || int(key) > kmsg.MaxKey {
		return
	}
	ch := k.perKey[key].Load()
	if ch == nil {
		name := kmsg.NameForKey(key)
		ch = &apiChildren{requests: k.requests.WithLabelValues(name), duration: k.durations.WithLabelValues(name)}
		k.perKey[key].Store(ch) // a racing store stores equal children
	}
	ch.requests.Inc()
	ch.duration.Observe(took.Seconds())
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		pr, _ := resp.(*kmsg.ProduceResponse)
		k.countProduce(r, pr)
	case *kmsg.FetchRequest:
		if fr, ok := resp.(*kmsg.FetchResponse); ok {
			k.countFetch(fr)
		}
	}
}

// countProduce adds the batches of the partitions that were accepted
// (error code 0 in the response; all of them with acks=0).
func (k *Kafka) countProduce(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		var respParts []kmsg.ProduceResponseTopicPartition
		if resp != nil {
			// The handler answers topics in request order; look further
			// only if that does not hold.
			if i < len(resp.Topics) && resp.Topics[i].Topic == rt.Topic && resp.Topics[i].TopicID == rt.TopicID {
				respParts = resp.Topics[i].Partitions
			} else {
				for j := range resp.Topics {
					if resp.Topics[j].Topic == rt.Topic && resp.Topics[j].TopicID == rt.TopicID {
						respParts = resp.Topics[j].Partitions
						break
					}
				}
			}
		}
		var recs, bytes int64
		for j := range rt.Partitions {
			p := &rt.Partitions[j]
			if resp != nil && !partitionOK(respParts, j, p.Partition) {
				continue
			}
			r, b := countBatches(p.Records)
			recs += r
			bytes += b
		}
		if bytes == 0 {
			continue // nothing accepted: do not even look the topic up
		}
		if tt := k.trafficFor(rt.Topic, rt.TopicID); tt != nil {
			tt.producedRecords.Add(recs)
			tt.producedBytes.Add(bytes)
		}
	}
}

func partitionOK(parts []kmsg.ProduceResponseTopicPartition, j int, partition int32) bool {
	if j < len(parts) && parts[j].Partition == partition {
		return parts[j].ErrorCode == 0
	}
	for i := range parts {
		if parts[i].Partition == partition {
			return parts[i].ErrorCode == 0
		}
	}
	return false
}

func (k *Kafka) countFetch(resp *kmsg.FetchResponse) {
	for i := range resp.Topics {
		t := &resp.Topics[i]
		var tt *topicTraffic
		for j := range t.Partitions {
			b := t.Partitions[j].RecordBatches
			if len(b) == 0 {
				continue
			}
			if tt == nil {
				if tt = k.trafficFor(t.Topic, t.TopicID); tt == nil {
					break
				}
			}
			recs, bytes := countBatches(b)
			tt.fetchedRecords.Add(recs)
			tt.fetchedBytes.Add(bytes)
		}
	}
}

// countBatches walks Kafka v2 record batches (base offset int64, length
// int32, …, record count int32 at byte 57) and returns the records and
// bytes of the whole batches in b; a trailing partial batch (a fetch cut
// at max bytes) is not counted.
func countBatches(b []byte) (records, bytes int64) {
	for len(b) >= 61 {
		n := int64(int32(binary.BigEndian.Uint32(b[8:12]))) + 12
		if n < 61 || n > int64(len(b)) {
			break
		}
		if b[16] == 2 { // magic: only v2 batches carry a record count there
			records += int64(binary.BigEndian.Uint32(b[57:61]))
		}
		bytes += n
		b = b[n:]
	}
	return records, bytes
}

// trafficFor returns the counters of the topic named name (or, when name
// is empty, identified by id), creating them on first use.
func (k *Kafka) trafficFor(name string, id [16]byte) *topicTraffic {
	if name == "" {
		if id == ([16]byte{}) || k.topics == nil {
			return nil
		}
		t := k.topics.GetByID(id)
		if t == nil {
			return nil
		}
		name = t.Name()
	}
	if tt := (*k.traffic.Load())[name]; tt != nil {
		return tt
	}
	// Only topics that exist get counters, so that requests naming made-up
	// topics cannot grow the map.
	if k.topics != nil && k.topics.Get(name) == nil {
		return nil
	}
	k.trafficMu.Lock()
	defer k.trafficMu.Unlock()
	cur := *k.traffic.Load()
	if tt := cur[name]; tt != nil {
		return tt
	}
	next := make(map[string]*topicTraffic, len(cur)+1)
	for n, v := range cur {
		next[n] = v
	}
	tt := &topicTraffic{}
	next[name] = tt
	k.traffic.Store(&next)
	return tt
}

// Traffic returns the counters of a topic (zeros if it saw no traffic).
func (k *Kafka) Traffic(topicName string) Traffic {
	tt := (*k.traffic.Load())[topicName]
	if tt == nil {
		return Traffic{}
	}
	return Traffic{
		ProducedRecords: tt.producedRecords.Load(), ProducedBytes: tt.producedBytes.Load(),
		FetchedRecords: tt.fetchedRecords.Load(), FetchedBytes: tt.fetchedBytes.Load(),
	}
}

// forget drops the counters of topics for which keep returns false (the
// State collector calls it with the live topics, so deleted topics stop
// being exported and their memory is freed).
func (k *Kafka) forget(keep func(string) bool) {
	cur := *k.traffic.Load()
	stale := false
	for n := range cur {
		if !keep(n) {
			stale = true
			break
		}
	}
	if !stale {
		return
	}
	k.trafficMu.Lock()
	defer k.trafficMu.Unlock()
	cur = *k.traffic.Load()
	next := make(map[string]*topicTraffic, len(cur))
	for n, v := range cur {
		if keep(n) {
			next[n] = v
		}
	}
	k.traffic.Store(&next)
}

// Describe implements prometheus.Collector.
func (k *Kafka) Describe(ch chan<- *prometheus.Desc) {
	k.requests.Describe(ch)
	k.durations.Describe(ch)
	k.conns.Describe(ch)
}

// Collect implements prometheus.Collector. (Per-topic traffic is exported
// by State, next to the topic's other metrics.)
func (k *Kafka) Collect(ch chan<- prometheus.Metric) {
	k.requests.Collect(ch)
	k.durations.Collect(ch)
	k.conns.Collect(ch)
}
