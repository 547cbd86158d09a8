package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-mq/sluice/internal/alert"
	"github.com/sluice-mq/sluice/internal/queue"
)

// DiagnosticsAttribute is the message attribute in which the SDK records
// why a message was dead-lettered (sluice.DiagnosticsAttribute; JSON).
const DiagnosticsAttribute = "sluice-diagnostics"

// Peek limits (docs/admin-api.md).
const (
	maxBodyShown     = 4096
	defaultPageLimit = 50
	maxPageLimit     = 500
	defaultScanLimit = 2000
	maxScanLimit     = 10000
)

type queueJSON struct {
	Name              string   `json:"name"`
	FIFO              bool     `json:"fifo"`
	ARN               string   `json:"arn"`
	Visible           int64    `json:"visible"`
	InFlight          int64    `json:"in_flight"`
	Delayed           int64    `json:"delayed"`
	OldestAgeS        int64    `json:"oldest_age_s"`
	SentTotal         int64    `json:"sent_total"`
	ReceivedTotal     int64    `json:"received_total"`
	DeletedTotal      int64    `json:"deleted_total"`
	DeadLetteredTotal int64    `json:"dead_lettered_total"`
	SendRate          float64  `json:"send_rate"`
	ReceiveRate       float64  `json:"receive_rate"`
	DeleteRate        float64  `json:"delete_rate"`
	DLQ               *string  `json:"dlq"`
	MaxReceiveCount   *int     `json:"max_receive_count"`
	IsDLQ             bool     `json:"is_dlq"`
	DLQSources        []string `json:"dlq_sources"`
}

type queueDetailJSON struct {
	queueJSON
	Attributes map[string]string `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// summarizeQueue reads one queue's counters; sources maps a DLQ's name to
// the queues that dead-letter into it.
func (s *Server) summarizeQueue(q *queue.Queue, sources map[string][]string, now time.Time) queueJSON {
	st := q.Stats()
	name := q.Name()
	qj := queueJSON{
		Name: name, FIFO: q.IsFIFO(), ARN: s.cfg.Queues.ARN(name),
		Visible: st.Visible, InFlight: st.InFlight, Delayed: st.Delayed, OldestAgeS: st.OldestAgeSeconds,
		SentTotal: st.Sent, ReceivedTotal: st.Received, DeletedTotal: st.Deleted, DeadLetteredTotal: st.DeadLettered,
		DLQSources: []string{},
	}
	if dlq, mrc, ok := alert.DeadLetterTarget(q); ok {
		qj.DLQ, qj.MaxReceiveCount = &dlq, &mrc
	}
	if src := sources[name]; len(src) > 0 {
		qj.IsDLQ, qj.DLQSources = true, src
	}
	qj.SendRate = s.hist.rate(counterKey("queue", name, "sent"), float64(st.Sent), now)
	qj.ReceiveRate = s.hist.rate(counterKey("queue", name, "received"), float64(st.Received), now)
	qj.DeleteRate = s.hist.rate(counterKey("queue", name, "deleted"), float64(st.Deleted), now)
	return qj
}

// dlqSources maps each dead-letter queue to the queues (sorted) whose
// RedrivePolicy names it.
func dlqSources(qs []*queue.Queue) map[string][]string {
	out := map[string][]string{}
	for _, q := range qs {
		if dlq, _, ok := alert.DeadLetterTarget(q); ok {
			out[dlq] = append(out[dlq], q.Name())
		}
	}
	return out
}

func (s *Server) queueSummaries(now time.Time) []queueJSON {
	out := []queueJSON{}
	if s.cfg.Queues == nil {
		return out
	}
	qs := s.cfg.Queues.List("")
	sources := dlqSources(qs)
	for _, q := range qs {
		out = append(out, s.summarizeQueue(q, sources, now))
	}
	return out
}

func (s *Server) apiQueues(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.queueSummaries(s.cfg.Now()))
}

// getQueue returns the queue named in the path, or a 404 error.
func (s *Server) getQueue(r *http.Request) (*queue.Queue, error) {
	name := r.PathValue("name")
	var q *queue.Queue
	if s.cfg.Queues != nil {
		q = s.cfg.Queues.Get(name)
	}
	if q == nil {
		return nil, errNotFound("queue %q does not exist", name)
	}
	return q, nil
}

func (s *Server) apiQueue(w http.ResponseWriter, r *http.Request) {
	q, err := s.getQueue(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	attrs, err := q.Attributes([]string{"All"})
	if err != nil {
		s.fail(w, err)
		return
	}
	tags := q.Tags()
	if tags == nil {
		tags = map[string]string{}
	}
	d := queueDetailJSON{
		queueJSON:  s.summarizeQueue(q, dlqSources(s.cfg.Queues.List("")), s.cfg.Now()),
		Attributes: attrs, Tags: tags,
	}
	writeJSON(w, http.StatusOK, d)
}

// ---- peek ----

type attrJSON struct {
	Type  string `json:"type"`
	Value string `json:"value"` // Binary: base64
}

// diagnosticsJSON mirrors the SDK's Diagnostics (sluice.Diagnostics).
type diagnosticsJSON struct {
	Source        string    `json:"source"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error"`
	FirstAttempt  time.Time `json:"first_attempt"`
	LastAttempt   time.Time `json:"last_attempt"`
	WorkerID      string    `json:"worker_id"`
	WorkerVersion string    `json:"worker_version"`
	Partition     *int32    `json:"partition"`
	Offset        *int64    `json:"offset"`
}

type messageJSON struct {
	ID               string              `json:"id"`
	Body             string              `json:"body"`
	Truncated        bool                `json:"truncated"`
	BodyBytes        int                 `json:"body_bytes"`
	Attributes       map[string]attrJSON `json:"attributes"`
	SentMs           int64               `json:"sent_ms"`
	AgeS             float64             `json:"age_s"`
	FirstReceiveMs   *int64              `json:"first_receive_ms"`
	ReceiveCount     int                 `json:"receive_count"`
	GroupID          *string             `json:"group_id"`
	SourceQueue      *string             `json:"source_queue"`
	Diagnostics      *diagnosticsJSON    `json:"diagnostics"`
	DiagnosticsError *string             `json:"diagnostics_error"`
}

type messagesJSON struct {
	Messages   []messageJSON `json:"messages"`
	NextCursor *string       `json:"next_cursor"`
	Scanned    int           `json:"scanned"`
}

// parseDiagnostics reads the diagnostics attribute of m: (nil, "") when
// absent, (nil, reason) when present but not valid JSON of that shape.
func parseDiagnostics(m *queue.Message) (*diagnosticsJSON, string) {
	a, ok := m.Attributes[DiagnosticsAttribute]
	if !ok {
		return nil, ""
	}
	raw := a.BinaryValue
	if a.StringValue != nil {
		raw = []byte(*a.StringValue)
	}
	var d diagnosticsJSON
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, "web: invalid " + DiagnosticsAttribute + " attribute: " + err.Error()
	}
	return &d, ""
}

// sourceQueueOf returns the queue the broker dead-lettered m from.
func sourceQueueOf(m *queue.Message) string {
	a, ok := m.SystemAttributes["DeadLetterQueueSourceArn"]
	if !ok || a.StringValue == nil {
		return ""
	}
	arn := *a.StringValue
	return arn[strings.LastIndexByte(arn, ':')+1:]
}

func (s *Server) messageJSON(m *queue.Message, now time.Time) messageJSON {
	mj := messageJSON{
		ID: m.MessageID, Body: m.Body, BodyBytes: len(m.Body), SentMs: m.SentTimestamp,
		AgeS: max(float64(now.UnixMilli()-m.SentTimestamp)/1000, 0), ReceiveCount: m.ReceiveCount,
		Attributes: make(map[string]attrJSON, len(m.Attributes)),
	}
	if len(mj.Body) > maxBodyShown {
		cut := maxBodyShown
		for cut > 0 && !utf8.RuneStart(mj.Body[cut]) {
			cut--
		}
		mj.Body, mj.Truncated = mj.Body[:cut], true
	}
	for k, a := range m.Attributes {
		aj := attrJSON{Type: a.DataType}
		if a.StringValue != nil {
			aj.Value = *a.StringValue
		} else {
			aj.Value = base64.StdEncoding.EncodeToString(a.BinaryValue)
		}
		mj.Attributes[k] = aj
	}
	if m.FirstReceiveTimestamp > 0 {
		v := m.FirstReceiveTimestamp
		mj.FirstReceiveMs = &v
	}
	if m.GroupID != "" {
		v := m.GroupID
		mj.GroupID = &v
	}
	if src := sourceQueueOf(m); src != "" {
		mj.SourceQueue = &src
	}
	d, derr := parseDiagnostics(m)
	mj.Diagnostics = d
	if derr != "" {
		mj.DiagnosticsError = &derr
	}
	return mj
}

// filter selects messages for peek and redrive.
type filter struct {
	body, errText *regexp.Regexp
	attrs         []attrMatch
	olderThan     time.Duration
	ids           map[string]bool // nil: any
	now           time.Time
}

type attrMatch struct {
	key, value string
	any        bool // only presence
}

func (f *filter) match(m *queue.Message) bool {
	if f.ids != nil && !f.ids[m.MessageID] {
		return false
	}
	if f.olderThan > 0 && f.now.UnixMilli()-m.SentTimestamp < f.olderThan.Milliseconds() {
		return false
	}
	if f.body != nil && !f.body.MatchString(m.Body) {
		return false
	}
	for _, am := range f.attrs {
		a, ok := m.Attributes[am.key]
		if !ok {
			return false
		}
		if !am.any && (a.StringValue == nil || *a.StringValue != am.value) {
			return false
		}
	}
	if f.errText != nil {
		d, _ := parseDiagnostics(m)
		if d == nil || !f.errText.MatchString(d.LastError) {
			return false
		}
	}
	return true
}

// newFilter validates the filter parameters (shared by peek and redrive).
func newFilter(body string, attrs []string, errText string, olderThanS float64, ids []string, now time.Time) (*filter, error) {
	f := &filter{now: now}
	var err error
	if body != "" {
		if f.body, err = regexp.Compile(body); err != nil {
			return nil, errBadRequest("match_body: %v", err)
		}
	}
	if errText != "" {
		if f.errText, err = regexp.Compile(errText); err != nil {
			return nil, errBadRequest("match_error: %v", err)
		}
	}
	for _, a := range attrs {
		if a == "" {
			continue
		}
		k, v, hasValue := strings.Cut(a, "=")
		if k == "" {
			return nil, errBadRequest("match_attr %q: want key=value or key", a)
		}
		f.attrs = append(f.attrs, attrMatch{key: k, value: v, any: !hasValue})
	}
	if olderThanS < 0 {
		return nil, errBadRequest("older_than_s must be >= 0")
	}
	f.olderThan = time.Duration(olderThanS * float64(time.Second))
	if ids != nil {
		f.ids = make(map[string]bool, len(ids))
		for _, id := range ids {
			f.ids[id] = true
		}
	}
	return f, nil
}

func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, errBadRequest("%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

func (s *Server) apiMessages(w http.ResponseWriter, r *http.Request) {
	q, err := s.getQueue(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	v := r.URL.Query()
	limit, err := intParam(v, "limit", defaultPageLimit, 1, maxPageLimit)
	if err != nil {
		s.fail(w, err)
		return
	}
	scanLimit, err := intParam(v, "scan_limit", defaultScanLimit, 1, maxScanLimit)
	if err != nil {
		s.fail(w, err)
		return
	}
	olderThan := 0.0
	if o := v.Get("older_than_s"); o != "" {
		if olderThan, err = strconv.ParseFloat(o, 64); err != nil {
			s.fail(w, errBadRequest("older_than_s must be a number"))
			return
		}
	}
	now := s.cfg.Now()
	f, err := newFilter(v.Get("match_body"), v["match_attr"], v.Get("match_error"), olderThan, nil, now)
	if err != nil {
		s.fail(w, err)
		return
	}
	cursor := v.Get("cursor")
	if cursor != "" {
		if n, err := strconv.ParseInt(cursor, 10, 64); err != nil || n < 0 {
			s.fail(w, errBadRequest("invalid cursor %q", cursor))
			return
		}
	}
	out := messagesJSON{Messages: []messageJSON{}}
	// Pages are sized to what is still needed, so that every returned
	// message is one the next cursor lies beyond (the queue's cursor
	// marks page ends only); the scan budget bounds the work.
	for out.Scanned < scanLimit {
		need := min(limit-len(out.Messages), scanLimit-out.Scanned)
		page, next, err := q.Peek(cursor, need)
		if err != nil {
			s.fail(w, err)
			return
		}
		out.Scanned += len(page)
		for i := range page {
			if f.match(&page[i]) {
				out.Messages = append(out.Messages, s.messageJSON(&page[i], now))
			}
		}
		cursor = next
		if next == "" || len(out.Messages) >= limit {
			break
		}
	}
	if cursor != "" {
		out.NextCursor = &cursor
	}
	writeJSON(w, http.StatusOK, out)
}

// ---- purge ----

func (s *Server) apiPurge(w http.ResponseWriter, r *http.Request) {
	q, err := s.getQueue(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if err := q.Purge(); err != nil {
		s.fail(w, err)
		return
	}
	s.cfg.Logger.Info("web: queue purged through the admin API", "queue", q.Name(), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]bool{"purged": true})
}
