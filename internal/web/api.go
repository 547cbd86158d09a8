package web

// The admin API: docs/admin-api.md is its contract. This file holds the
// routing, the JSON helpers, /api/overview and /api/alerts; topics and
// groups are in api_topics.go, queues in api_queues.go, history in
// history.go.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sluice-mq/sluice/internal/alert"
	"github.com/sluice-mq/sluice/internal/metrics"
	"github.com/sluice-mq/sluice/internal/queue"
)

// maxBodyBytes bounds a POST body.
const maxBodyBytes = 1 << 20

func (s *Server) routes(mux *http.ServeMux) {
	route := func(method, pattern string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+pattern, h)
		// The same path with another method: a JSON 405, not net/http's
		// plain-text one.
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("web: %s %s is not allowed; use %s", r.Method, r.URL.Path, method))
		})
	}
	route("GET", "/api/overview", s.apiOverview)
	route("GET", "/api/topics", s.apiTopics)
	route("GET", "/api/topics/{name}", s.apiTopic)
	route("GET", "/api/groups", s.apiGroups)
	route("GET", "/api/groups/{group...}", s.apiGroup)
	route("GET", "/api/queues", s.apiQueues)
	route("GET", "/api/queues/{name}", s.apiQueue)
	route("GET", "/api/queues/{name}/messages", s.apiMessages)
	route("POST", "/api/queues/{name}/redrive", s.apiRedrive)
	route("POST", "/api/queues/{name}/purge", s.apiPurge)
	route("GET", "/api/history", s.apiHistory)
	route("GET", "/api/alerts", s.apiAlerts)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "web: no such endpoint "+r.URL.Path)
	})
}

// apiError is an error with its HTTP status and API code.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func errNotFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("web: "+format, args...)}
}

func errBadRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("web: "+format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {code, message}})
}

// fail answers err: an *apiError as it says, queue engine errors by their
// SQS code, anything else as 500 (or 503 while closing).
func (s *Server) fail(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.code, ae.message)
		return
	}
	switch queue.CodeOf(err) {
	case queue.CodeQueueDoesNotExist:
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	case queue.CodeInvalidParameterValue, queue.CodeInvalidAttributeValue, queue.CodeInvalidAttributeName:
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	case queue.CodePurgeQueueInProgress:
		writeError(w, http.StatusConflict, "conflict", err.Error())
		return
	}
	if errors.Is(err, queue.ErrClosed) || s.ctx.Err() != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "web: the broker is shutting down")
		return
	}
	s.cfg.Logger.Error("web: admin API error", "err", err)
	writeError(w, http.StatusInternalServerError, "internal", err.Error())
}

// ---- overview ----

type overviewJSON struct {
	Broker     brokerJSON     `json:"broker"`
	Topics     int            `json:"topics"`
	Partitions int            `json:"partitions"`
	Queues     int            `json:"queues"`
	Groups     int            `json:"groups"`
	Totals     totalsJSON     `json:"totals"`
	Alerts     []alert.Status `json:"alerts"`
}

type brokerJSON struct {
	Version   string            `json:"version"`
	ClusterID string            `json:"cluster_id"`
	DataDir   string            `json:"data_dir"`
	StartedMs int64             `json:"started_ms"`
	UptimeS   float64           `json:"uptime_s"`
	Addrs     map[string]string `json:"addrs"`
}

type totalsJSON struct {
	ProduceRate   float64 `json:"produce_rate"`
	FetchRate     float64 `json:"fetch_rate"`
	QueueVisible  int64   `json:"queue_visible"`
	QueueInFlight int64   `json:"queue_in_flight"`
	DLQDepth      int64   `json:"dlq_depth"`
	GroupLag      int64   `json:"group_lag"`
}

func (s *Server) apiOverview(w http.ResponseWriter, r *http.Request) {
	info := s.cfg.Info()
	now := s.cfg.Now()
	o := overviewJSON{
		Broker: brokerJSON{
			Version: metrics.Version(), ClusterID: info.ClusterID, DataDir: info.DataDir,
			Addrs: map[string]string{"kafka": info.Kafka, "sqs": info.SQS, "http": info.HTTP},
		},
		Alerts: []alert.Status{},
	}
	if !info.Started.IsZero() {
		o.Broker.StartedMs = info.Started.UnixMilli()
		o.Broker.UptimeS = now.Sub(info.Started).Seconds()
	}
	for _, t := range s.topicSummaries(now) {
		o.Topics++
		o.Partitions += int(t.Partitions)
		o.Totals.ProduceRate += t.ProduceRate
		o.Totals.FetchRate += t.FetchRate
	}
	for _, q := range s.queueSummaries(now) {
		o.Queues++
		o.Totals.QueueVisible += q.Visible
		o.Totals.QueueInFlight += q.InFlight
		if q.IsDLQ {
			o.Totals.DLQDepth += q.Visible + q.InFlight + q.Delayed
		}
	}
	for _, g := range s.groupSummaries() {
		o.Groups++
		o.Totals.GroupLag += g.Lag
	}
	if s.cfg.Alerts != nil {
		if f := s.cfg.Alerts.Firing(); f != nil {
			o.Alerts = f
		}
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) apiAlerts(w http.ResponseWriter, r *http.Request) {
	out := []alert.Status{}
	if s.cfg.Alerts != nil {
		out = s.cfg.Alerts.Status()
	}
	writeJSON(w, http.StatusOK, out)
}
