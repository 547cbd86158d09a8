package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// queueSize bounds the notifications waiting for one webhook; beyond it
// the oldest waiting one is dropped (and counted), since a newer state
// supersedes it.
const queueSize = 256

// sender posts notifications to one webhook, in order, one at a time.
type sender struct {
	e    *Engine
	hook Webhook
	ch   chan Notification
}

func newSender(e *Engine, h Webhook) *sender {
	return &sender{e: e, hook: h, ch: make(chan Notification, queueSize)}
}

// enqueue never blocks the evaluation loop.
func (s *sender) enqueue(n Notification) {
	for {
		select {
		case s.ch <- n:
			return
		default:
		}
		select {
		case old := <-s.ch:
			s.e.notes.WithLabelValues("dropped").Inc()
			s.e.log.Warn("alert: webhook queue full; dropping the oldest notification", "url", s.hook.URL, "rule", old.Rule, "status", old.Status)
		default:
		}
	}
}

func (s *sender) run() {
	defer s.e.wg.Done()
	ctx := s.e.ctx // cancelled by Close: abandons a POST in progress and its retries
	for {
		select {
		case <-s.e.stop:
			for range len(s.ch) {
				<-s.ch
				s.e.notes.WithLabelValues("dropped").Inc()
			}
			return
		case n := <-s.ch:
			s.deliver(ctx, n)
		}
	}
}

// deliver posts n, retrying with exponential backoff (and jitter) on
// network errors, 5xx and 429 answers.
func (s *sender) deliver(ctx context.Context, n Notification) {
	body, err := json.Marshal(n)
	if err != nil { // cannot happen for this struct; never panic on it
		s.e.log.Error("alert: encode notification", "err", err)
		return
	}
	backoff := s.e.cfg.Backoff
	for attempt := 0; ; attempt++ {
		retry, err := s.post(ctx, body)
		if err == nil {
			s.e.notes.WithLabelValues("sent").Inc()
			return
		}
		if !retry || attempt >= s.e.cfg.Retries || ctx.Err() != nil {
			result := "failed"
			if ctx.Err() != nil {
				result = "dropped"
			}
			s.e.notes.WithLabelValues(result).Inc()
			s.e.log.Error("alert: webhook notification failed", "url", s.hook.URL, "rule", n.Rule, "status", n.Status, "attempts", attempt+1, "err", err)
			return
		}
		s.e.log.Warn("alert: webhook notification failed; retrying", "url", s.hook.URL, "rule", n.Rule, "attempt", attempt+1, "backoff", backoff, "err", err)
		wait := backoff + time.Duration(rand.Int64N(int64(backoff)/5+1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, DefaultMaxBackoff)
	}
}

// post makes one attempt; retry says whether a failure is worth retrying.
func (s *sender) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.hook.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-alert/1")
	for k, v := range s.hook.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.e.cfg.Client.Do(req)
	if err != nil {
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return true, fmt.Errorf("alert: webhook answered %s", resp.Status)
	default:
		return false, fmt.Errorf("alert: webhook answered %s", resp.Status)
	}
}
