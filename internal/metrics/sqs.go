package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SQS instruments the SQS listener: it implements sqs.Observer and
// prometheus.Collector. Create it with NewSQS; safe for concurrent use.
type SQS struct {
	requests  *prometheus.CounterVec
	errors    *prometheus.CounterVec
	durations *prometheus.HistogramVec
	conns     prometheus.Gauge

	mu        sync.Mutex                                 // serializes writers of perAction
	perAction atomic.Pointer[map[string]*actionChildren] // copy on write; read without a lock
}

type actionChildren struct {
	requests, errors prometheus.Counter
	duration         prometheus.Observer
}

// NewSQS returns the SQS instrumentation.
func NewSQS() *SQS {
	s := &SQS{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "sqs", Name: "requests_total",
			Help: "SQS requests served, by action.",
		}, []string{"action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "sqs", Name: "request_errors_total",
			Help: "SQS requests answered with an error, by action.",
		}, []string{"action"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "sqs", Name: "request_duration_seconds",
			Help:    "Time to serve an SQS request (receive: including the long poll), by action.",
			Buckets: requestBuckets,
		}, []string{"action"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "open_connections",
			Help:        "Client connections open now, by listener.",
			ConstLabels: prometheus.Labels{"listener": "sqs"},
		}),
	}
	empty := map[string]*actionChildren{}
	s.perAction.Store(&empty)
	return s
}

// ConnOpened counts a new client connection.
func (s *SQS) ConnOpened() { s.conns.Inc() }

// ConnClosed counts a closed client connection.
func (s *SQS) ConnClosed() { s.conns.Dec() }

// Request records one served request. action must come from a bounded
// set (the server's action table), as it becomes a label value.
func (s *SQS) Request(action string, took time.Duration, failed bool) {
	ch := (*s.perAction.Load())[action]
	if ch == nil {
		ch = s.resolve(action)
	}
	ch.requests.Inc()
	if failed {
		ch.errors.Inc()
	}
	ch.duration.Observe(took.Seconds())
}

func (s *SQS) resolve(action string) *actionChildren {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := *s.perAction.Load()
	if ch := cur[action]; ch != nil {
		return ch
	}
	ch := &actionChildren{
		requests: s.requests.WithLabelValues(action),
		errors:   s.errors.WithLabelValues(action),
		duration: s.durations.WithLabelValues(action),
	}
	next := make(map[string]*actionChildren, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[action] = ch
	s.perAction.Store(&next)
	return ch
}

// Describe implements prometheus.Collector.
func (s *SQS) Describe(ch chan<- *prometheus.Desc) {
	s.requests.Describe(ch)
	s.errors.Describe(ch)
	s.durations.Describe(ch)
	s.conns.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *SQS) Collect(ch chan<- prometheus.Metric) {
	s.requests.Collect(ch)
	s.errors.Collect(ch)
	s.durations.Collect(ch)
	s.conns.Collect(ch)
}
