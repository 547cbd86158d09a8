package alert

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/sluice-mq/sluice/internal/queue"
)

// measure returns a rule's current value and whether its target exists.
func (e *Engine) measure(r Rule) (float64, bool) {
	if e.cfg.Measure != nil {
		return e.cfg.Measure(r)
	}
	switch r.Kind {
	case KindLag:
		if e.cfg.Groups == nil {
			return 0, false
		}
		lags, err := e.cfg.Groups.Lag(r.Target)
		if err != nil || len(lags) == 0 {
			return 0, false
		}
		var sum int64
		found := false
		for _, l := range lags {
			if r.Topic != "" && l.Topic != r.Topic {
				continue
			}
			found = true
			if l.Lag > 0 {
				sum += l.Lag
			}
		}
		return float64(sum), found
	}
	if e.cfg.Queues == nil {
		return 0, false
	}
	q := e.cfg.Queues.Get(r.Target)
	if q == nil {
		return 0, false
	}
	switch r.Kind {
	case KindQueueDepth:
		return float64(q.Stats().Visible), true
	case KindOldestAge:
		return float64(q.Stats().OldestAgeSeconds), true
	case KindDLQDepth:
		if name, _, ok := DeadLetterTarget(q); ok {
			if q = e.cfg.Queues.Get(name); q == nil {
				return 0, false
			}
		}
		st := q.Stats()
		return float64(st.Visible + st.InFlight + st.Delayed), true
	}
	return 0, false
}

// DeadLetterTarget returns the name of the queue q dead-letters into and
// its maxReceiveCount, from q's RedrivePolicy; ok is false when q has none.
func DeadLetterTarget(q *queue.Queue) (name string, maxReceiveCount int, ok bool) {
	attrs, err := q.Attributes([]string{queue.AttrRedrivePolicy})
	if err != nil {
		return "", 0, false
	}
	raw := attrs[queue.AttrRedrivePolicy]
	if raw == "" {
		return "", 0, false
	}
	var rp struct {
		Target string          `json:"deadLetterTargetArn"`
		Max    json.RawMessage `json:"maxReceiveCount"`
	}
	if json.Unmarshal([]byte(raw), &rp) != nil || rp.Target == "" {
		return "", 0, false
	}
	name = rp.Target[strings.LastIndexByte(rp.Target, ':')+1:]
	// maxReceiveCount is a number or a string holding one (SQS takes both).
	maxReceiveCount, _ = strconv.Atoi(strings.Trim(string(rp.Max), `"`))
	return name, maxReceiveCount, true
}
