package web

// History: the broker samples its topics, queues and groups every
// HistoryInterval and keeps the last HistoryWindow of points in memory
// (nothing is written to disk; a restart starts a new history). All series
// share one ring of timestamps; each series is a ring of float64 values of
// the same length, NaN where it had no value (it did not exist yet). So
// memory is bounded by MaxSeries × window/interval × 8 bytes, plus a
// second set of rings for the raw counters that rates are computed from.
//
// The sampler goroutine is owned by the Server: started by NewServer,
// stopped by Close.

import (
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/internal/alert"
)

// rateWindow is the span of the "last minute" rates.
const rateWindow = time.Minute

type history struct {
	interval  time.Duration
	size      int // points per series
	maxSeries int

	mu      sync.Mutex
	ts      []int64 // ring of sample times (ms); ts[i] == 0: unused slot
	head    int     // the next slot to write
	series  map[string][]float64
	counter map[string][]float64 // raw counters (rates are computed from these)
	warned  bool                 // logged that MaxSeries was reached
}

func newHistory(interval, window time.Duration, maxSeries int) *history {
	size := 1
	if interval > 0 {
		size = max(int(window/interval), 1)
	}
	return &history{
		interval: interval, size: size, maxSeries: maxSeries,
		ts: make([]int64, size), series: map[string][]float64{}, counter: map[string][]float64{},
	}
}

// counterKey names a raw counter ring.
func counterKey(kind, name, what string) string { return kind + ":" + name + ":" + what }

func (h *history) newRing() []float64 {
	r := make([]float64, h.size)
	for i := range r {
		r[i] = math.NaN()
	}
	return r
}

// record stores one sample taken at now: values of series and raw
// counters. Series and counters absent from the sample are dropped (their
// topic, queue or group is gone). It returns false when some series were
// not kept because of MaxSeries.
func (h *history) record(now time.Time, values, counters map[string]float64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot := h.head
	h.ts[slot] = now.UnixMilli()
	h.head = (h.head + 1) % h.size
	full := true
	store := func(rings map[string][]float64, vals map[string]float64) {
		for k := range rings {
			if _, ok := vals[k]; !ok {
				delete(rings, k)
			}
		}
		for k, v := range vals {
			r := rings[k]
			if r == nil {
				if len(h.series)+len(h.counter) >= h.maxSeries {
					full = false
					continue
				}
				r = h.newRing()
				rings[k] = r
			}
			r[slot] = v
		}
	}
	store(h.series, values)
	store(h.counter, counters)
	return full
}

// rate returns the per-second rate of the counter named key over about
// the last minute: from the oldest sample within rateWindow to cur, its
// current value. 0 without an earlier sample.
func (h *history) rate(key string, cur float64, now time.Time) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.counter[key]
	if r == nil {
		return 0
	}
	nowMs := now.UnixMilli()
	fromMs := nowMs - rateWindow.Milliseconds()
	bestTs, bestV := int64(0), 0.0
	for i, ts := range h.ts {
		if ts == 0 || ts < fromMs || ts >= nowMs || math.IsNaN(r[i]) {
			continue
		}
		if bestTs == 0 || ts < bestTs {
			bestTs, bestV = ts, r[i]
		}
	}
	if bestTs == 0 || cur < bestV { // no sample, or the counter restarted
		return 0
	}
	return (cur - bestV) / (float64(nowMs-bestTs) / 1000)
}

// previousLocked returns a counter's value at the latest sample and its time.
func (h *history) previousLocked(key string) (float64, int64, bool) {
	r := h.counter[key]
	if r == nil {
		return 0, 0, false
	}
	last := (h.head - 1 + h.size) % h.size
	if h.ts[last] == 0 || math.IsNaN(r[last]) {
		return 0, 0, false
	}
	return r[last], h.ts[last], true
}

// pointsLocked returns a series' points after sinceMs, oldest first.
func (h *history) pointsLocked(r []float64, sinceMs int64) [][2]float64 {
	out := [][2]float64{}
	for i := range h.size {
		slot := (h.head + i) % h.size
		ts := h.ts[slot]
		if ts == 0 || ts <= sinceMs || math.IsNaN(r[slot]) {
			continue
		}
		out = append(out, [2]float64{float64(ts), r[slot]})
	}
	return out
}

// sampleLoop samples every interval until Close.
func (s *Server) sampleLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.HistoryInterval)
	defer t.Stop()
	s.sample(s.cfg.Now())
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sample(s.cfg.Now())
		}
	}
}

// sample takes one history point of every topic, queue and group.
func (s *Server) sample(now time.Time) {
	values := map[string]float64{}
	counters := map[string]float64{}
	h := s.hist
	// rate records a counter and, as series, its rate since the previous
	// sample. Called with h.mu held.
	rate := func(series, key string, cur float64) {
		counters[key] = cur
		if prev, ts, ok := h.previousLocked(key); ok && now.UnixMilli() > ts {
			values[series] = max(cur-prev, 0) / (float64(now.UnixMilli()-ts) / 1000)
		}
	}
	if s.cfg.Topics != nil {
		for _, t := range s.cfg.Topics.List() {
			name := t.Name()
			var start, end int64
			for p := range t.NumPartitions() {
				if l := t.Partition(p); l != nil {
					start += l.StartOffset()
					end += l.HighWatermark()
				}
			}
			values["topic:"+name+":records"] = float64(max(end-start, 0))
			var fetched int64
			if s.cfg.Kafka != nil {
				fetched = s.cfg.Kafka.Traffic(name).FetchedRecords
			}
			h.mu.Lock()
			rate("topic:"+name+":produce_rate", counterKey("topic", name, "end"), float64(end))
			rate("topic:"+name+":fetch_rate", counterKey("topic", name, "fetched"), float64(fetched))
			h.mu.Unlock()
		}
	}
	if s.cfg.Queues != nil {
		qs := s.cfg.Queues.List("")
		depth := map[string]float64{}
		dlqOf := map[string]string{}
		for _, q := range qs {
			name := q.Name()
			st := q.Stats()
			p := "queue:" + name + ":"
			values[p+"visible"] = float64(st.Visible)
			values[p+"in_flight"] = float64(st.InFlight)
			values[p+"delayed"] = float64(st.Delayed)
			values[p+"oldest_age_s"] = float64(st.OldestAgeSeconds)
			depth[name] = float64(st.Visible + st.InFlight + st.Delayed)
			if dlq, _, ok := alert.DeadLetterTarget(q); ok {
				dlqOf[name] = dlq
			}
			h.mu.Lock()
			rate(p+"send_rate", counterKey("queue", name, "sent"), float64(st.Sent))
			rate(p+"receive_rate", counterKey("queue", name, "received"), float64(st.Received))
			counters[counterKey("queue", name, "deleted")] = float64(st.Deleted)
			h.mu.Unlock()
		}
		for name, dlq := range dlqOf {
			if d, ok := depth[dlq]; ok {
				values["queue:"+name+":dlq_depth"] = d
			}
		}
	}
	if s.cfg.Groups != nil {
		for _, g := range s.cfg.Groups.List() {
			if lags, err := s.cfg.Groups.Lag(g.Group); err == nil {
				sum, _ := groupLag(lags)
				values["group:"+g.Group+":lag"] = float64(sum)
			}
		}
	}
	if !h.record(now, values, counters) && !h.warned {
		h.warned = true
		s.cfg.Logger.Warn("web: history series limit reached; new series are not kept", "max_series", h.maxSeries)
	}
}

type historyJSON struct {
	IntervalS float64                 `json:"interval_s"`
	NowMs     int64                   `json:"now_ms"`
	Series    map[string][][2]float64 `json:"series"`
}

func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	var since int64
	if sv := v.Get("since_ms"); sv != "" {
		n, err := strconv.ParseInt(sv, 10, 64)
		if err != nil {
			s.fail(w, errBadRequest("since_ms must be an integer"))
			return
		}
		since = n
	}
	h := s.hist
	out := historyJSON{IntervalS: max(s.cfg.HistoryInterval, 0).Seconds(), NowMs: s.cfg.Now().UnixMilli(), Series: map[string][][2]float64{}}
	names, prefixes := v["series"], v["prefix"]
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range names {
		if r := h.series[name]; r != nil {
			out.Series[name] = h.pointsLocked(r, since)
		} else {
			out.Series[name] = [][2]float64{}
		}
	}
	if len(prefixes) > 0 || len(names) == 0 {
		for _, name := range slices.Sorted(maps.Keys(h.series)) {
			if len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
				continue
			}
			out.Series[name] = h.pointsLocked(h.series[name], since)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
