package alert

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseSettings(t *testing.T) {
	s, err := ParseSettings(map[string]string{
		"num.partitions":                         "3", // not ours: ignored
		"alert.dlq.kind":                         "dlq_depth",
		"alert.dlq.target":                       "jobs",
		"alert.dlq.threshold":                    "0",
		"alert.dlq.for":                          "5m",
		"alert.old.kind":                         "oldest_age",
		"alert.old.target":                       "jobs",
		"alert.old.threshold":                    "1h",
		"alert.lag.kind":                         "lag",
		"alert.lag.target":                       "billing/orders",
		"alert.lag.threshold":                    "1000",
		"alert.lag2.kind":                        "lag",
		"alert.lag2.target":                      "team/billing",
		"alert.lag2.topic":                       "orders",
		"alert.lag2.threshold":                   "10",
		"alert.webhook.url":                      "http://127.0.0.1:1/hook",
		"alert.webhook.ops.url":                  "https://hooks.example.com/x",
		"alert.webhook.ops.header.Authorization": "Bearer t",
		"alert.webhook.retries":                  "2",
		"alert.webhook.backoff":                  "250ms",
		"alert.webhook.timeout":                  "3",
		"alert.webhook.resolved":                 "false",
		"alert.interval":                         "1s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules) != 4 {
		t.Fatalf("rules = %+v", s.Rules)
	}
	byName := map[string]Rule{}
	for _, r := range s.Rules {
		byName[r.Name] = r
	}
	if r := byName["dlq"]; r.Kind != KindDLQDepth || r.Target != "jobs" || r.Threshold != 0 || r.For != 5*time.Minute {
		t.Errorf("dlq = %+v", r)
	}
	if r := byName["old"]; r.Threshold != 3600 {
		t.Errorf("old = %+v", r)
	}
	if r := byName["lag"]; r.Target != "billing" || r.Topic != "orders" {
		t.Errorf("lag = %+v", r)
	}
	if r := byName["lag2"]; r.Target != "team/billing" || r.Topic != "orders" {
		t.Errorf("lag2 = %+v", r)
	}
	// Webhooks come in key order: alert.webhook.ops.* sorts before alert.webhook.url.
	if len(s.Webhooks) != 2 || s.Webhooks[0].Headers["Authorization"] != "Bearer t" || s.Webhooks[1].URL != "http://127.0.0.1:1/hook" {
		t.Errorf("webhooks = %+v", s.Webhooks)
	}
	if s.Retries != 2 || s.Backoff != 250*time.Millisecond || s.Timeout != 3*time.Second || !s.NoResolved || s.Interval != time.Second {
		t.Errorf("tuning = %+v", s)
	}
}

func TestParseSettingsErrors(t *testing.T) {
	base := map[string]string{"alert.a.kind": "queue_depth", "alert.a.target": "q", "alert.a.threshold": "5"}
	for _, tc := range []struct {
		key, value, wantKey string
	}{
		{"alert.a.kind", "depth", "alert.a.kind"},
		{"alert.a.threshold", "-1", "alert.a.threshold"},
		{"alert.a.threshold", "10m", "alert.a.threshold"}, // duration only for oldest_age
		{"alert.a.for", "soon", "alert.a.for"},
		{"alert.a.treshold", "5", "alert.a.treshold"},
		{"alert.a.topic", "orders", "alert.a.topic"},
		{"alert.b.kind", "lag", "alert.b.target"}, // b lacks target and threshold
		{"alert.bad name.kind", "lag", "alert.bad name.kind"},
		{"alert.webhook.url", "ftp://x", "alert.webhook.url"},
		{"alert.webhook.x.header.A", "v", "alert.webhook.x.url"},
		{"alert.webhook.retries", "many", "alert.webhook.retries"},
		{"alert.interval", "1ms", "alert.interval"},
		{"alert.nonsense", "1", "alert.nonsense"},
	} {
		vals := map[string]string{}
		for k, v := range base {
			vals[k] = v
		}
		vals[tc.key] = tc.value
		_, err := ParseSettings(vals)
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.wantKey || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s=%s: err = %v, want a KeyError for %s", tc.key, tc.value, err, tc.wantKey)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantKey) {
			t.Errorf("error %q does not name %s", err, tc.wantKey)
		}
	}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// hook is a webhook endpoint that fails the first failures POSTs with
// 500 and records the notifications it accepts.
type hook struct {
	mu       sync.Mutex
	failures int
	attempts int
	got      []Notification
	auth     string
	arrived  chan struct{}
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if h.failures > 0 {
		h.failures--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.got = append(h.got, n)
	h.auth = r.Header.Get("Authorization")
	h.arrived <- struct{}{}
}

func (h *hook) wait(t *testing.T) Notification {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification arrived")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[len(h.got)-1]
}

func TestFiresAfterForRetriesAndResolves(t *testing.T) {
	h := &hook{failures: 2, arrived: make(chan struct{}, 10)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	var value atomic.Int64
	e := New(Config{
		Settings: Settings{
			Rules:    []Rule{{Name: "dlq", Kind: KindDLQDepth, Target: "jobs-dlq", Threshold: 10, For: time.Minute}},
			Webhooks: []Webhook{{URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer x"}}},
			Interval: time.Hour, // Evaluate is driven by the test
			Backoff:  5 * time.Millisecond,
		},
		Measure:   func(Rule) (float64, bool) { return float64(value.Load()), true },
		ClusterID: "c1",
		Logger:    slog.New(slog.DiscardHandler),
		Now:       clk.Now,
	})
	e.Start()
	defer e.Close()
	state := func() Status { return e.Status()[0] }

	value.Store(5)
	e.Evaluate()
	if st := state(); st.State != StateOK || st.Value == nil || *st.Value != 5 {
		t.Fatalf("below threshold: %+v", st)
	}
	value.Store(12)
	clk.Add(time.Second)
	e.Evaluate()
	if st := state(); st.State != StatePending {
		t.Fatalf("above, before for: %+v", st)
	}
	clk.Add(59 * time.Second)
	e.Evaluate()
	if st := state(); st.State != StatePending {
		t.Fatalf("above for 59s: %+v", st)
	}
	clk.Add(time.Second)
	e.Evaluate()
	if st := state(); st.State != StateFiring {
		t.Fatalf("above for 1m: %+v", st)
	}
	if got := metricValue(e.firing.WithLabelValues("dlq")); got != 1 {
		t.Fatalf("sluice_alert_firing = %v", got)
	}
	if f := e.Firing(); len(f) != 1 || f[0].Rule != "dlq" {
		t.Fatalf("Firing() = %+v", f)
	}
	n := h.wait(t)
	if n.Status != "firing" || n.Rule != "dlq" || n.Value != 12 || n.Threshold != 10 || n.ForS != 60 || n.ClusterID != "c1" || n.Version != 1 || n.Message == "" {
		t.Fatalf("firing notification = %+v", n)
	}
	h.mu.Lock()
	attempts, auth := h.attempts, h.auth
	h.mu.Unlock()
	if attempts != 3 || auth != "Bearer x" {
		t.Fatalf("attempts = %d (want 2 failures + 1), auth %q", attempts, auth)
	}
	// Still above: no second notification.
	clk.Add(time.Minute)
	e.Evaluate()
	value.Store(3)
	clk.Add(time.Second)
	e.Evaluate()
	if st := state(); st.State != StateOK {
		t.Fatalf("after drop: %+v", st)
	}
	n = h.wait(t)
	if n.Status != "resolved" || n.Value != 3 {
		t.Fatalf("resolved notification = %+v", n)
	}
	if got := metricValue(e.firing.WithLabelValues("dlq")); got != 0 {
		t.Fatalf("sluice_alert_firing after resolve = %v", got)
	}
	h.mu.Lock()
	total := len(h.got)
	h.mu.Unlock()
	if total != 2 {
		t.Fatalf("%d notifications, want firing + resolved", total)
	}
	deadline := time.Now().Add(5 * time.Second) // counted once the POST returns
	for metricValue(e.notes.WithLabelValues("sent")) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := metricValue(e.notes.WithLabelValues("sent")); got != 2 {
		t.Fatalf("sent = %v", got)
	}
}

func TestPendingThatDropsNeverNotifiesAndGivesUp(t *testing.T) {
	h := &hook{failures: 1000, arrived: make(chan struct{}, 10)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	var value atomic.Int64
	exists := atomic.Bool{}
	exists.Store(true)
	e := New(Config{
		Settings: Settings{
			Rules:    []Rule{{Name: "depth", Kind: KindQueueDepth, Target: "q", Threshold: 1, For: time.Minute}, {Name: "now", Kind: KindQueueDepth, Target: "q", Threshold: 1}},
			Webhooks: []Webhook{{URL: srv.URL}},
			Interval: time.Hour, Backoff: time.Millisecond, Retries: 2,
		},
		Measure: func(Rule) (float64, bool) { return float64(value.Load()), exists.Load() },
		Logger:  slog.New(slog.DiscardHandler),
		Now:     clk.Now,
	})
	e.Start()
	defer e.Close()
	value.Store(2)
	e.Evaluate() // "depth" pending; "now" (for 0) fires at once
	value.Store(0)
	clk.Add(10 * time.Second)
	e.Evaluate() // both back to ok
	st := e.Status()
	if st[0].State != StateOK || st[1].State != StateOK {
		t.Fatalf("states = %+v", st)
	}
	// "now" fired and resolved: two notifications, each 1 + 2 retries,
	// all failing.
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(e.notes.WithLabelValues("failed")) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	attempts := h.attempts
	h.mu.Unlock()
	if got := metricValue(e.notes.WithLabelValues("failed")); got != 2 || attempts != 6 {
		t.Fatalf("failed = %v, attempts = %d; want 2 and 6", got, attempts)
	}
	// A target that disappears is ok with no value.
	exists.Store(false)
	e.Evaluate()
	if st := e.Status()[0]; st.Value != nil || st.State != StateOK {
		t.Fatalf("missing target: %+v", st)
	}
}

// metricValue reads a gauge or counter.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}
