package web

// POST /api/queues/{name}/redrive: the operator's redrive, on top of
// queue.Manager.Redrive (append to the destination, then delete from the
// source, in batches): filters, selected ids, a dry run, a rate limit, and
// "back to where it came from" for messages the SDK dead-lettered (their
// diagnostics name the source) as well as those the broker moved.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/internal/queue"
)

// stringList takes a JSON string or a list of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = many
	return nil
}

type redriveRequest struct {
	To         string     `json:"to"`
	IDs        []string   `json:"ids"`
	MatchBody  string     `json:"match_body"`
	MatchAttr  stringList `json:"match_attr"`
	MatchError string     `json:"match_error"`
	OlderThanS float64    `json:"older_than_s"`
	DryRun     bool       `json:"dry_run"`
	Rate       float64    `json:"rate"`
	Max        int        `json:"max"`
}

type redriveResponse struct {
	Matched int  `json:"matched"`
	Moved   int  `json:"moved"`
	Skipped int  `json:"skipped"`
	DryRun  bool `json:"dry_run"`
}

func (s *Server) apiRedrive(w http.ResponseWriter, r *http.Request) {
	q, err := s.getQueue(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	var req redriveRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		s.fail(w, errBadRequest("read body: %v", err))
		return
	}
	if len(body) > maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "web: request body over 1 MiB")
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.fail(w, errBadRequest("body: %v", err))
			return
		}
	}
	if req.Rate < 0 || req.Max < 0 {
		s.fail(w, errBadRequest("rate and max must be >= 0"))
		return
	}
	f, err := newFilter(req.MatchBody, req.MatchAttr, req.MatchError, req.OlderThanS, req.IDs, s.cfg.Now())
	if err != nil {
		s.fail(w, err)
		return
	}
	if req.To != "" {
		dst := s.cfg.Queues.Get(req.To)
		if dst == nil {
			s.fail(w, errNotFound("destination queue %q does not exist", req.To))
			return
		}
		if dst == q || dst.IsFIFO() != q.IsFIFO() {
			s.fail(w, errBadRequest("the destination must be another queue of the same type (FIFO or standard)"))
			return
		}
	}
	// The request's context ends when the client goes away or the server
	// closes (BaseContext).
	res, err := s.redrive(r.Context(), q, req, f)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.fail(w, err)
		return
	}
	s.cfg.Logger.Info("web: redrive through the admin API", "queue", q.Name(), "to", req.To, "matched", res.Matched, "moved", res.Moved, "dry_run", res.DryRun, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, res)
}

// destinationOf returns where a message goes back to when no destination
// is given: the queue the broker dead-lettered it from, else the source
// its diagnostics name, else the only queue dead-lettering into src.
func (s *Server) destinationOf(src *queue.Queue, m *queue.Message, onlySource string) string {
	if name := sourceQueueOf(m); name != "" && s.validDest(src, name) {
		return name
	}
	if d, _ := parseDiagnostics(m); d != nil && d.Source != "" {
		name := strings.TrimRight(d.Source, "/")
		name = name[strings.LastIndexAny(name, "/:")+1:] // a queue URL or ARN names the queue last
		if s.validDest(src, name) {
			return name
		}
	}
	return onlySource
}

func (s *Server) validDest(src *queue.Queue, name string) bool {
	d := s.cfg.Queues.Get(name)
	return d != nil && d != src && d.IsFIFO() == src.IsFIFO()
}

// redrive runs a redrive or a dry run.
func (s *Server) redrive(ctx context.Context, q *queue.Queue, req redriveRequest, f *filter) (redriveResponse, error) {
	res := redriveResponse{DryRun: req.DryRun}
	onlySource := ""
	if req.To == "" {
		if srcs := s.cfg.Queues.DeadLetterSources(q.Name()); len(srcs) == 1 && s.validDest(q, srcs[0].Name()) {
			onlySource = srcs[0].Name()
		}
	}
	dest := func(m *queue.Message) string {
		if req.To != "" {
			return req.To
		}
		return s.destinationOf(q, m, onlySource)
	}
	// First pass (the whole of a dry run): count the matches and, when
	// each message goes back to its own source, find the destinations.
	var dests []string
	seen := map[string]bool{}
	if req.DryRun || req.To == "" {
		cursor := ""
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			page, next, err := q.Peek(cursor, 500)
			if err != nil {
				return res, err
			}
			for i := range page {
				if !f.match(&page[i]) {
					continue
				}
				res.Matched++
				d := dest(&page[i])
				if d == "" {
					res.Skipped++
					continue
				}
				if !seen[d] {
					seen[d] = true
					dests = append(dests, d)
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if req.DryRun {
			res.Moved = 0
			if req.Max > 0 {
				res.Matched = min(res.Matched, req.Max)
			}
			return res, nil
		}
	} else {
		dests = []string{req.To}
	}
	lim := newLimiter(req.Rate)
	counting := req.To != "" // with To, the move passes do the counting
	for _, d := range dests {
		remaining := 0
		if req.Max > 0 {
			remaining = req.Max - res.Moved
			if remaining <= 0 {
				break
			}
		}
		sel := func(m *queue.Message) bool {
			if !f.match(m) || (req.To == "" && dest(m) != d) {
				return false
			}
			if counting {
				res.Matched++
			}
			return lim.wait(ctx) == nil
		}
		n, err := s.cfg.Queues.Redrive(ctx, q.Name(), d, sel, remaining)
		res.Moved += n
		if err != nil {
			res.Skipped = max(res.Matched-res.Moved, 0)
			return res, err
		}
	}
	res.Skipped = max(res.Matched-res.Moved, 0)
	return res, nil
}

// limiter spaces out moves to at most rate per second (0: no limit).
type limiter struct {
	every time.Duration
	next  time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{every: time.Duration(float64(time.Second) / rate)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l.every == 0 {
		return ctx.Err()
	}
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	d := l.next.Sub(now)
	l.next = l.next.Add(l.every)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
