// Package alert evaluates the broker's alert rules (configured as alert.*
// broker settings, see ParseSettings) and notifies webhooks.
//
// Every Config.Interval the Engine measures each rule's value — a dead-
// letter queue's depth, a queue's oldest-message age or depth, a consumer
// group's lag — and moves the rule between three states:
//
//	ok       value at or below the threshold (or the target does not exist)
//	pending  above the threshold for less than the rule's For
//	firing   above the threshold for at least For
//
// Entering firing and leaving it (resolved) are logged, counted in
// sluice_alert_firing{rule} (the Engine is a prometheus.Collector) and
// POSTed as JSON (Notification) to every webhook, with retries and
// exponential backoff on network errors, 5xx and 429 answers.
//
// Goroutines, all owned by the Engine and ended by Close: the evaluation
// loop (Start) and one sender per webhook, which drains its own bounded
// queue so that a slow or failing endpoint delays only itself.
package alert

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-mq/sluice/internal/group"
	"github.com/sluice-mq/sluice/internal/queue"
)

// State is a rule's state.
type State string

// States.
const (
	StateOK      State = "ok"
	StatePending State = "pending"
	StateFiring  State = "firing"
)

// Config configures an Engine.
type Config struct {
	Settings // rules, webhooks and their tuning (zero fields: defaults)

	// Queues and Groups are what rules measure. Either may be nil (rules
	// on it then see no target).
	Queues *queue.Manager
	Groups *group.Coordinator
	// Measure, if set, replaces the built-in measurement (tests). It
	// returns the rule's value and whether the target exists.
	Measure func(Rule) (float64, bool)
	// ClusterID goes into notifications to tell brokers apart.
	ClusterID string
	// Client posts to webhooks. Default: an http.Client with Timeout.
	Client *http.Client
	// Logger receives state changes and webhook failures. Default
	// slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Status is one rule's current state, as /api/alerts shows it.
type Status struct {
	Rule       string   `json:"rule"`
	Kind       Kind     `json:"kind"`
	Target     string   `json:"target"`
	Topic      *string  `json:"topic"`
	State      State    `json:"state"`
	Value      *float64 `json:"value"` // nil: the target does not exist (or not evaluated yet)
	Threshold  float64  `json:"threshold"`
	ForS       float64  `json:"for_s"`
	SinceMs    int64    `json:"since_ms"` // when the rule entered State
	LastEvalMs int64    `json:"last_eval_ms"`
	Message    string   `json:"message"`
}

// Notification is the JSON body POSTed to webhooks.
type Notification struct {
	Version   int     `json:"version"` // 1
	Status    string  `json:"status"`  // "firing" | "resolved"
	Rule      string  `json:"rule"`
	Kind      Kind    `json:"kind"`
	Target    string  `json:"target"`
	Topic     string  `json:"topic,omitempty"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	ForS      float64 `json:"for_s"`
	SinceMs   int64   `json:"since_ms"` // firing: when the value went above the threshold
	AtMs      int64   `json:"at_ms"`    // when this notification was made
	Message   string  `json:"message"`
	ClusterID string  `json:"cluster_id"`
}

type ruleState struct {
	rule       Rule
	state      State
	value      float64
	known      bool  // value is measured and the target exists
	sinceMs    int64 // entered state
	aboveMs    int64 // value went above the threshold (pending/firing)
	lastEvalMs int64
}

// Engine evaluates rules. Create it with New, then Start; Close stops it.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	firing  *prometheus.GaugeVec
	notes   *prometheus.CounterVec
	senders []*sender

	mu     sync.Mutex // guards rules and closed
	rules  []*ruleState
	closed bool

	stop      chan struct{}
	ctx       context.Context // cancelled by Close; webhook POSTs use it
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
}

// New returns an Engine for cfg; it evaluates nothing until Start (or
// Evaluate).
func New(cfg Config) *Engine {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Engine{
		cfg:  cfg,
		log:  cfg.Logger,
		stop: make(chan struct{}),
		firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "sluice", Name: "alert_firing",
			Help: "1 while an alert rule fires, else 0.",
		}, []string{"rule"}),
		notes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "alert_notifications_total",
			Help: "Webhook notifications by result: sent, failed (after every retry) or dropped (queue full or shutting down).",
		}, []string{"result"}),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	now := cfg.Now().UnixMilli()
	for _, r := range cfg.Rules {
		e.rules = append(e.rules, &ruleState{rule: r, state: StateOK, sinceMs: now})
		e.firing.WithLabelValues(r.Name).Set(0)
	}
	for _, r := range []string{"sent", "failed", "dropped"} {
		e.notes.WithLabelValues(r)
	}
	for _, h := range cfg.Webhooks {
		e.senders = append(e.senders, newSender(e, h))
	}
	return e
}

// Start starts the evaluation loop and the webhook senders. Idempotent.
func (e *Engine) Start() {
	e.startOnce.Do(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed {
			return
		}
		for _, s := range e.senders {
			e.wg.Add(1)
			go s.run()
		}
		if len(e.rules) == 0 {
			return
		}
		e.wg.Add(1)
		go e.loop()
	})
}

func (e *Engine) loop() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	for {
		e.Evaluate()
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
	}
}

// Close stops evaluating and sending (a notification still being retried
// is abandoned) and waits for the goroutines. Idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.stop)
	e.cancel()
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// Evaluate measures every rule once and acts on state changes. The loop
// calls it every Interval; tests call it directly.
func (e *Engine) Evaluate() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	rules := e.rules
	e.mu.Unlock()
	for _, rs := range rules {
		v, ok := e.measure(rs.rule)
		now := e.cfg.Now().UnixMilli()
		e.mu.Lock()
		n, changed := rs.update(v, ok, now)
		e.mu.Unlock()
		if !changed {
			continue
		}
		switch n.Status {
		case "firing":
			e.firing.WithLabelValues(rs.rule.Name).Set(1)
			e.log.Warn("alert: firing", "rule", n.Rule, "kind", n.Kind, "target", n.Target, "value", n.Value, "threshold", n.Threshold, "message", n.Message)
		case "resolved":
			e.firing.WithLabelValues(rs.rule.Name).Set(0)
			e.log.Info("alert: resolved", "rule", n.Rule, "kind", n.Kind, "target", n.Target, "value", n.Value, "threshold", n.Threshold)
			if e.cfg.NoResolved {
				continue
			}
		}
		n.ClusterID = e.cfg.ClusterID
		for _, s := range e.senders {
			s.enqueue(n)
		}
	}
}

// update applies one measurement; it returns the notification to send
// when the rule started or stopped firing. Called with e.mu held.
func (rs *ruleState) update(v float64, ok bool, now int64) (Notification, bool) {
	rs.lastEvalMs = now
	rs.value, rs.known = v, ok
	above := ok && v > rs.rule.Threshold
	prev := rs.state
	switch {
	case above && prev == StateOK:
		rs.aboveMs = now
		rs.state, rs.sinceMs = StatePending, now
		if rs.rule.For <= 0 {
			rs.state = StateFiring
		}
	case above && prev == StatePending:
		if now-rs.aboveMs >= rs.rule.For.Milliseconds() {
			rs.state, rs.sinceMs = StateFiring, now
		}
	case !above && prev != StateOK:
		rs.state, rs.sinceMs = StateOK, now
	}
	if rs.state == prev || (prev == StateOK && rs.state == StatePending) || (prev == StatePending && rs.state == StateOK) {
		return Notification{}, false
	}
	status := "firing"
	if rs.state == StateOK {
		status = "resolved"
	}
	return Notification{
		Version: 1, Status: status, Rule: rs.rule.Name, Kind: rs.rule.Kind, Target: rs.rule.Target,
		Topic: rs.rule.Topic, Value: v, Threshold: rs.rule.Threshold, ForS: rs.rule.For.Seconds(),
		SinceMs: rs.aboveMs, AtMs: now, Message: rs.message(),
	}, true
}

// Status returns every rule's state, in rule-name order.
func (e *Engine) Status() []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Status, 0, len(e.rules))
	for _, rs := range e.rules {
		st := Status{
			Rule: rs.rule.Name, Kind: rs.rule.Kind, Target: rs.rule.Target, State: rs.state,
			Threshold: rs.rule.Threshold, ForS: rs.rule.For.Seconds(), SinceMs: rs.sinceMs,
			LastEvalMs: rs.lastEvalMs, Message: rs.message(),
		}
		if rs.rule.Topic != "" {
			t := rs.rule.Topic
			st.Topic = &t
		}
		if rs.known {
			v := rs.value
			st.Value = &v
		}
		out = append(out, st)
	}
	return out
}

// Firing returns the statuses of the rules that fire.
func (e *Engine) Firing() []Status {
	var out []Status
	for _, s := range e.Status() {
		if s.State == StateFiring {
			out = append(out, s)
		}
	}
	return out
}

func (rs *ruleState) message() string {
	r := rs.rule
	if rs.lastEvalMs == 0 {
		return "not evaluated yet"
	}
	if !rs.known {
		switch r.Kind {
		case KindLag:
			return fmt.Sprintf("consumer group %s has no committed offsets", r.Target)
		default:
			return fmt.Sprintf("queue %s does not exist", r.Target)
		}
	}
	v := rs.value
	switch r.Kind {
	case KindDLQDepth:
		return fmt.Sprintf("dead-letter queue of %s holds %g messages (threshold %g)", r.Target, v, r.Threshold)
	case KindOldestAge:
		return fmt.Sprintf("oldest message of queue %s is %s old (threshold %s)", r.Target,
			time.Duration(v)*time.Second, time.Duration(r.Threshold*float64(time.Second)))
	case KindLag:
		on := ""
		if r.Topic != "" {
			on = " on topic " + r.Topic
		}
		return fmt.Sprintf("consumer group %s lags %g records%s (threshold %g)", r.Target, v, on, r.Threshold)
	case KindQueueDepth:
		return fmt.Sprintf("queue %s holds %g visible messages (threshold %g)", r.Target, v, r.Threshold)
	}
	return ""
}

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	e.firing.Describe(ch)
	e.notes.Describe(ch)
}

// Collect implements prometheus.Collector.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	e.firing.Collect(ch)
	e.notes.Collect(ch)
}
